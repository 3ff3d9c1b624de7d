//! OCSF for SIEMs that speak it: `keyguard replay --format ocsf` and a function's decision
//! logged with `LOG_FORMAT=ocsf` are Detection Findings (class 2004) that the OCSF schema
//! accepts, checked with the pinned validator (`tools/check_ocsf.py`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::process::Command;

/// Every OCSF line of `text` checked against the OCSF schema (`tools/check_ocsf.py`, the
/// pinned `ocsf-json-schema`): the checker's verdict and what it printed.
fn ocsf_valid(text: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(keyguard_testkit::moto::python())
        .arg(keyguard_testkit::workspace_root().join("tools/check_ocsf.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn replay_in_ocsf_writes_detection_findings_the_ocsf_schema_accepts() {
    // The attack recordings (and the corpus's CloudTrail logs, if any), every address a
    // threat, so that every rule that can fire does.
    let mut args = vec!["replay", "--format", "ocsf", "events/stratus"];
    let corpus = keyguard_testkit::corpus::dir();
    if let Some(dir) = &corpus {
        args.push(dir.to_str().unwrap());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_keyguard"))
        .args(&args)
        .env("THREAT_CIDRS", "0.0.0.0/0,::/0")
        .current_dir(keyguard_testkit::workspace_root())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events.len() >= 20, "{} findings: {text}", events.len());
    assert!(events.iter().all(|e| e["class_uid"] == 2004));
    let (valid, said) = ocsf_valid(&text);
    assert!(valid, "{said}");
    // The checker is no rubber stamp: a field OCSF does not define is refused.
    let mut wrong = events[0].clone();
    wrong["finding_info"]["keyguard_rule"] = serde_json::json!("x");
    let (valid, said) = ocsf_valid(&format!("{wrong}\n"));
    assert!(!valid, "{said}");
}

#[test]
fn a_functions_decision_logged_as_ocsf_is_one_the_schema_accepts() {
    use keyguard_core::plan::{Action, Decision, Plan, Principal, Step};
    use keyguard_core::report::{Outcome, Report, StepReport};
    let step = |action: Action, outcome: Outcome| StepReport {
        step: Step {
            replaces: None,
            idempotency_key: format!("deactivate-key:{}:ev-1", action.name()),
            reason: "the key leaked".into(),
            action,
            window: None,
            after: None,
            scope: Some(keyguard_core::Scope {
                account: keyguard_core::AccountId::parse("222222222222").unwrap(),
                region: None,
            }),
        },
        outcome,
        retried: false,
    };
    let now = keyguard_core::parse_time("2026-12-07T12:00:00Z").unwrap();
    let user = keyguard_core::UserName::parse("alice").unwrap();
    let key = keyguard_core::AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").unwrap();
    let contained = Report::new(
        Plan::for_event("deactivate-key", Decision::Act, "ev-1"),
        false,
        vec![
            step(
                Action::DeactivateKey {
                    user: user.clone(),
                    key_id: key.clone(),
                },
                Outcome::Applied { detail: None },
            ),
            step(
                Action::RevokeSessions {
                    principal: Principal::Role(keyguard_core::RoleName::parse("Deploy").unwrap()),
                    issued_before: now,
                    policy_name: "keyguard-revoke-older-sessions".into(),
                    key_id: None,
                },
                Outcome::Failed {
                    code: None,
                    message: "throttled".into(),
                },
            ),
        ],
    );
    let line = keyguard_core::ocsf::from_report(&contained, now).unwrap();
    assert_eq!(line["resources"][0]["uid"], key.as_str());
    assert_eq!(line["resources"][0]["labels"][0], "account:222222222222");
    let (valid, said) = ocsf_valid(&format!("{line}\n"));
    assert!(valid, "{said}");
    // Nothing to tell, nothing logged.
    let ignored = Report::new(
        Plan::for_event(
            "deactivate-key",
            Decision::Ignored { why: "x".into() },
            "ev-2",
        ),
        false,
        vec![],
    );
    assert_eq!(keyguard_core::ocsf::from_report(&ignored, now), None);
}

#[test]
fn a_source_that_is_a_service_not_an_address_is_still_valid_ocsf() {
    // CloudTrail names the calling service where there is no address: "AWS Internal",
    // "ec2.amazonaws.com". OCSF takes only an address as an endpoint's ip.
    let root = std::env::temp_dir().join(format!("keyguard-ocsf-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let dir = keyguard_testkit::workspace_root().join("events/stratus");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let mut log: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for record in log["Records"].as_array_mut().unwrap() {
            n += 1;
            record["sourceIPAddress"] = serde_json::json!(if n % 2 == 0 {
                "AWS Internal"
            } else {
                "ec2.amazonaws.com"
            });
        }
        std::fs::write(root.join(path.file_name().unwrap()), log.to_string()).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_keyguard"))
        .args(["replay", "--format", "ocsf", root.to_str().unwrap()])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let named: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["evidences"][0]["src_endpoint"]["svc_name"].is_string())
        .collect();
    assert!(named.len() >= 10, "{text}");
    let (valid, said) = ocsf_valid(&text);
    assert!(valid, "{said}");
}
