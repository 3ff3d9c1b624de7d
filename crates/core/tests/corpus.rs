//! Every published sample in the shared corpus parses to the kind its folder in
//! `SOURCES.md` names. The files are read in place, never copied.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use keyguard_core::{parse, TriggerKind};
use keyguard_testkit::corpus;

fn kind_for(file: &str) -> TriggerKind {
    match file.split('/').next() {
        Some("cloudtrail") => TriggerKind::Cloudtrail,
        Some("guardduty") => TriggerKind::Guardduty,
        Some("health") => TriggerKind::Health,
        Some("scheduled") => TriggerKind::Scheduled,
        Some("secretsmanager") => TriggerKind::SecretsRotation,
        other => panic!("SOURCES.md names a folder keyguard does not know: {other:?}"),
    }
}

#[test]
fn every_sample_parses_to_its_kind() {
    let Some(dir) = corpus::dir() else { return };
    let samples = corpus::samples(&dir);
    let listed: Vec<String> = {
        let mut v: Vec<String> = samples.iter().map(|s| s.file.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(
        listed,
        corpus::files(&dir),
        "SOURCES.md and the corpus folder disagree"
    );
    assert!(samples.len() >= 30, "only {} samples listed", samples.len());
    for s in &samples {
        let bytes = std::fs::read(&s.path).unwrap_or_else(|e| panic!("{}: {e}", s.file));
        match parse(&bytes) {
            Ok(t) => assert_eq!(t.kind(), kind_for(&s.file), "{}", s.file),
            Err(e) => panic!("{} does not parse: {e}", s.file),
        }
    }
}
