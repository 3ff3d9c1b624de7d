//! A CloudTrail log file (`{"Records": [...]}`) through the streaming reader `keyguard
//! replay` uses, each record then through the intake, as replay does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A small cap, so the fuzzer reaches the over-the-cap path too.
    let _ = keyguard_core::events::each_record(data, 4096, |item| {
        if let keyguard_core::events::LogItem::Record(record) = item {
            let _ = keyguard_core::events::log_record(
                record,
                keyguard_core::policy::detector::reads_parameters,
            );
        }
    });
});
