//! The intake on hostile bytes and events (the table every function's tests share): a
//! typed error of bounded size, never a panic, never the input echoed back whole.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use keyguard_testkit::hostile;

/// An error names what is wrong; it does not carry a 200 KiB value into the logs.
const MAX_ERROR: usize = 2048;

#[test]
fn hostile_bytes_are_typed_errors() {
    for (case, bytes) in hostile::bytes() {
        let err = keyguard_core::parse(&bytes).expect_err(case);
        let text = err.to_string();
        assert!(text.len() <= MAX_ERROR, "{case}: {} bytes", text.len());
        // The same bytes as a CloudTrail log file: an error, never a panic.
        assert!(
            keyguard_core::events::each_record(
                &bytes[..],
                keyguard_core::events::DEFAULT_MAX_RECORD_BYTES,
                |_| {}
            )
            .is_err(),
            "{case}"
        );
    }
}

#[test]
fn hostile_events_are_read_or_refused_with_a_short_error() {
    for (case, event) in hostile::events() {
        let bytes = serde_json::to_vec(&event).unwrap();
        if let Ok(trigger) = keyguard_core::parse(&bytes) {
            let event_ref = keyguard_core::event_ref(&trigger, &event);
            assert!(
                event_ref.len() <= 200,
                "{case}: an event ref of {} bytes",
                event_ref.len()
            );
        }
        if let Err(err) = keyguard_core::parse(&bytes) {
            let text = err.to_string();
            assert!(
                text.len() <= MAX_ERROR,
                "{case}: {} bytes: {}",
                text.len(),
                &text[..200.min(text.len())]
            );
        }
    }
}

#[test]
fn nesting_past_the_json_limit_is_a_syntax_error() {
    let deep = serde_json::to_vec(&hostile::nested(100, serde_json::json!({}))).unwrap();
    assert!(keyguard_core::parse(&deep).is_err());
    let bytes = [vec![b'['; 200], vec![b']'; 200]].concat();
    let err = keyguard_core::parse(&bytes).unwrap_err();
    assert!(err.to_string().contains("recursion limit"), "{err}");
}
