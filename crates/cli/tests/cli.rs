//! The `keyguard` binary as a user runs it: JSON lines out, exit 0 or 2, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn keyguard(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyguard"))
        .args(args)
        .current_dir(keyguard_testkit::workspace_root())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp(name: &str, content: &[u8]) -> String {
    let p: PathBuf =
        std::env::temp_dir().join(format!("keyguard-cli-{}-{name}", std::process::id()));
    std::fs::write(&p, content).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn parse_prints_one_line_per_file_and_exit_2_on_any_error() {
    let (code, out, _) = keyguard(&[
        "parse",
        "events/deactivate-key/handoff.json",
        "events/deactivate-key/health-exposed-key.json",
    ]);
    assert_eq!(code, 0);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["kind"], "handoff");
    assert_eq!(lines[1]["kind"], "health");
    let bad = temp("bad.json", br#"{"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "id": "x", "detail": []}"#);
    let truncated = temp("trunc.json", b"{\"eventName\": ");
    let (code, out, _) = keyguard(&[
        "parse",
        "events/deactivate-key/handoff.json",
        &bad,
        &truncated,
        "/no/such/file.json",
    ]);
    assert_eq!(code, 2);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["kind"], "handoff");
    assert!(
        lines[1]["error"].as_str().unwrap().contains("`detail`"),
        "{}",
        lines[1]
    );
    assert!(lines[2]["error"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    assert!(lines[3]["error"].is_string());
}

#[test]
fn plan_uses_the_facts_file_and_never_panics() {
    let (code, out, _) = keyguard(&[
        "plan",
        "--function",
        "deactivate-key",
        "--facts",
        "events/deactivate-key/facts.json",
        "--now",
        "2026-11-23T12:00:00Z",
        "events/deactivate-key/handoff.json",
    ]);
    assert_eq!(code, 0);
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["decision"], "act");
    assert_eq!(plan["steps"][0]["action"]["type"], "deactivate_key");
    assert_eq!(plan["steps"][0]["action"]["key_id"], "AKIAIOSFODNN7EXAMPLE");
    // Without facts nobody owns the key: a plan (not found), still exit 0.
    let (code, out, _) = keyguard(&[
        "plan",
        "--function",
        "deactivate-key",
        "events/deactivate-key/handoff.json",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["decision"],
        "not_found"
    );
    // Invalid input and a bad facts file: exit 2 with the reason on stderr.
    let short_key = temp("short.json", br#"{"accessKeyId": "AKIAIOSFODNN7EXAMPL"}"#);
    let (code, _, err) = keyguard(&["plan", "--function", "deactivate-key", &short_key]);
    assert_eq!(code, 2);
    assert!(err.contains("accessKeyId"), "{err}");
    let bad_facts = temp(
        "facts.json",
        br#"{"users": {"bob": {"keys": {"AKIAIOSFODNN7EXAMPLE": "Enabled"}}}}"#,
    );
    let (code, _, err) = keyguard(&[
        "plan",
        "--function",
        "deactivate-key",
        "--facts",
        &bad_facts,
        "events/deactivate-key/handoff.json",
    ]);
    assert_eq!(code, 2, "{err}");
    for garbage in [&b"\xff\xfe\x00"[..], b"[[[[[[[[", b"null"] {
        let f = temp("garbage.json", garbage);
        let (code, _, _) = keyguard(&["plan", "--function", "deactivate-key", &f]);
        assert_eq!(code, 2);
    }
}

#[test]
fn plan_for_guardduty_translator_shows_runbook_incident_and_window() {
    let (code, out, err) = keyguard(&[
        "plan",
        "--function",
        "guardduty-translator",
        "--facts",
        "events/deactivate-key/facts.json",
        "--now",
        "2026-11-23T10:15:00Z",
        "events/guardduty-translator/iam-user.json",
    ]);
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["decision"], "act");
    let types: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["start_runbook", "open_incident", "notify"]);
    assert_eq!(plan["steps"][0]["window"]["until"], "2026-11-23T10:30:00Z");
    // Without RESPONSE_PLAN_ARN in the facts, the placeholder shows where it goes.
    assert!(plan["steps"][1]["action"]["incident"]["response_plan_arn"]
        .as_str()
        .unwrap()
        .ends_with("response-plan/unset"));

    let (code, out, _) = keyguard(&[
        "plan",
        "--function",
        "guardduty-translator",
        "events/guardduty-translator/seed-custom-source.json",
    ]);
    assert_eq!(code, 0);
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["decision"], "refused");
}

#[test]
fn plan_for_secrets_rotator_follows_the_steps_and_refuses_the_sweep() {
    let plan = |file: &str| {
        keyguard(&[
            "plan",
            "--function",
            "secrets-rotator",
            "--facts",
            "events/secrets-rotator/facts.json",
            file,
        ])
    };
    let (code, out, err) = plan("events/secrets-rotator/create-secret.json");
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let types: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"]["type"].as_str().unwrap())
        .collect();
    // The user's Inactive second key makes room for the new one.
    assert_eq!(types, ["delete_key", "notify", "create_pending_key"]);
    // Nothing pending for the token yet: the later steps fail cleanly.
    let (code, out, _) = plan("events/secrets-rotator/finish-secret.json");
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["decision"],
        "failed"
    );
    let (code, _, err) = plan("events/secrets-rotator/schedule.json");
    assert_eq!(code, 2);
    assert!(err.contains("not planned offline"), "{err}");
}
