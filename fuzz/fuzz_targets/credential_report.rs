//! IAM's credential report (CSV, from the account, decoded from base64 by the SDK) through
//! the parser age-rotation reads it with.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = keyguard_core::credential_report::parse(data);
});
