//! A CloudTrail log file (`{"Records": [...]}`) through the streaming reader `keyguard
//! replay` uses, each record then through the intake, as replay does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = keyguard_core::events::each_record(data, |record| {
        let _ = keyguard_core::parse_value(&record);
    });
});
