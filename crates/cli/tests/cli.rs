//! The `keyguard` binary as a user runs it: JSON lines out, exit 0 or 2, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

mod common;

use common::{keyguard, plan_deactivate};

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
    // Without facts nothing can vouch for the hand-off's MAC offline, nor say which
    // account keyguard is in: a plan (refused), still exit 0.
    let (code, out, _) = keyguard(&[
        "plan",
        "--function",
        "deactivate-key",
        "events/deactivate-key/handoff.json",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["decision"],
        "refused"
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
    assert_eq!(
        types,
        [
            "deactivate_key",
            "revoke_sessions",
            "sweep_history",
            "start_runbook",
            "open_incident",
            "notify"
        ]
    );
    assert_eq!(plan["steps"][3]["window"]["until"], "2026-11-23T10:30:00Z");
    assert_eq!(
        plan["steps"][1]["action"]["issued_before"],
        "2026-11-23T10:15:00Z"
    );
    // Without RESPONSE_PLAN_ARN in the facts, the placeholder shows where it goes.
    assert!(plan["steps"][4]["action"]["incident"]["response_plan_arn"]
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
fn plan_for_secrets_rotator_follows_the_steps_and_plans_the_sweep() {
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
    // The sweep reads each key's age and last use: facts without them are named.
    let (code, _, err) = plan("events/secrets-rotator/schedule.json");
    assert_eq!(code, 2);
    assert!(
        err.contains("users.svc-backup.keys.AKIAOLDKEY0000000001: the sweep needs"),
        "{err}"
    );
    let (code, out, err) = keyguard(&[
        "plan",
        "--function",
        "secrets-rotator",
        "--facts",
        "events/secrets-rotator/sweep-facts.json",
        "--now",
        "2026-12-01T00:00:00Z",
        "events/secrets-rotator/schedule.json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let steps: Vec<(String, String)> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let a = &s["action"];
            let key = a["key_id"].as_str().or(a["notice"]["key_id"].as_str());
            (a["type"].as_str().unwrap().into(), key.unwrap().into())
        })
        .collect();
    // The key keyguard's rotation retired 61 days ago goes; the untagged user's unused
    // key is reported only; the key in use is not touched.
    let pair = |t: &str, k: &str| (t.to_owned(), k.to_owned());
    assert_eq!(
        steps,
        [
            pair("delete_key", "AKIARETIREDKEY000001"),
            pair("notify", "AKIARETIREDKEY000001"),
            pair("notify", "AKIAUNUSEDKEY0000001"),
        ]
    );
}

#[test]
fn plan_for_age_rotation_reads_the_saved_credential_report() {
    let (code, out, err) = keyguard(&[
        "plan",
        "--function",
        "age-rotation",
        "--facts",
        "events/age-rotation/facts.json",
        "--now",
        "2026-11-23T09:00:00Z",
        "events/age-rotation/schedule.json",
    ]);
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let steps: Vec<(String, String)> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let a = &s["action"];
            let who = a["key_id"]
                .as_str()
                .or(a["email"]["to"].as_str())
                .unwrap_or("");
            (a["type"].as_str().unwrap().to_owned(), who.to_owned())
        })
        .collect();
    let has = |t: &str, who: &str| steps.contains(&(t.to_owned(), who.to_owned()));
    assert!(has("deactivate_key", "AKIAAGEALICE00000001"), "{steps:?}");
    assert!(has("delete_key", "AKIAAGECAROL00000001"), "{steps:?}");
    assert!(
        has("send_email", "bob@example.com"),
        "machine: email, no action"
    );
    assert!(!steps
        .iter()
        .any(|(_, who)| who.contains("dave") || who.contains("erin")));
    assert_eq!(steps.iter().filter(|(t, _)| t == "notify").count(), 1);
}

#[test]
fn scan_only_looks_and_apply_acts_only_when_told_to() {
    let endpoint = keyguard_testkit::moto::shared().endpoint.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let table = keyguard_testkit::unique("scan-ledger");
    let (user, key) = rt.block_on(async {
        let sdk = keyguard_aws::load_config().await;
        keyguard_aws::DynamoLedger::new(&sdk, &table, 90, 300)
            .create_table()
            .await
            .unwrap();
        let iam = aws_sdk_iam::Client::new(&sdk);
        let user = keyguard_testkit::iam::user(&iam, &[("UserType", "employee")]).await;
        let (key, _) = keyguard_testkit::iam::key(&iam, &user).await;
        (user, key)
    });
    keyguard_testkit::moto::shared().backdate_key(&user, &key, "2026-01-01T00:00:00Z");
    let scan = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_keyguard"))
            .arg("scan")
            .args(args)
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("LEDGER_TABLE", &table)
            .env("SENDER_EMAIL", "keyguard@example.com")
            .env("REPORT_WAIT_SECONDS", "10")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let status = || {
        rt.block_on(async {
            let sdk = keyguard_aws::load_config().await;
            keyguard_testkit::iam::statuses(&aws_sdk_iam::Client::new(&sdk), &user).await
        })[&key]
            .clone()
    };
    // Looking is the default (and --dry-run, for old scripts, is the same).
    for args in [&[][..], &["--dry-run"][..]] {
        let (code, stdout, stderr) = scan(args);
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        let line = stdout
            .lines()
            .find(|l| l.contains(&key))
            .unwrap_or_else(|| panic!("{stdout}"));
        assert!(
            line.contains("overdue") && line.contains("deactivate_key planned"),
            "{line}"
        );
        assert!(stdout.contains("planned (dry run"));
        assert_eq!(status(), "Active");
    }
    // For a script: the run's report as JSON.
    let (code, stdout, stderr) = scan(&["--output", "json"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let report: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert!(
        report["steps"].as_array().unwrap().iter().any(|s| {
            s["action"]["type"] == "deactivate_key"
                && s["action"]["key_id"] == key.as_str()
                && s["outcome"] == "planned"
        }),
        "{report:#}"
    );
    // --apply asks; with no terminal to ask on it refuses, naming --yes.
    let (code, stdout, stderr) = scan(&["--apply"]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");
    assert_eq!(status(), "Active");
    // --apply --yes acts.
    let (code, stdout, stderr) = scan(&["--apply", "--yes"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("deactivate_key applied"), "{stdout}");
    assert_eq!(status(), "Inactive");
    // --yes alone is not a way to act.
    let (code, _, _) = scan(&["--yes"]);
    assert_eq!(code, Some(2));
}

#[test]
fn plan_for_createkey_detector_shows_alerts_and_hand_offs() {
    let plan = |file: &str| {
        // The facts say which account keyguard is in: only a key there is handed off.
        let (code, out, err) = keyguard(&[
            "plan",
            "--function",
            "createkey-detector",
            "--facts",
            "events/deactivate-key/facts.json",
            file,
        ]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let p = plan("events/createkey-detector/backdoor-key.json");
    let steps = p["steps"].as_array().unwrap();
    // The key's creation remembered, then containment, then the alert.
    assert_eq!(steps[0]["action"]["type"], "remember");
    assert_eq!(steps[0]["action"]["memo"]["key_id"], "AKIAI44QH8DHBEXAMPLE");
    assert_eq!(steps[1]["action"]["type"], "hand_off");
    assert_eq!(
        steps[1]["action"]["key_id"], "AKIAI44QH8DHBEXAMPLE",
        "the backdoor key"
    );
    assert_eq!(steps[1]["action"]["user"], "admin");
    assert_eq!(
        steps[2]["action"]["notice"]["facts"]["rule"],
        "backdoor-key"
    );
    let p = plan("events/createkey-detector/gpu-instances.json");
    let steps = p["steps"].as_array().unwrap();
    assert_eq!(steps[1]["action"]["notice"]["severity"], "high");
    assert_eq!(
        steps[0]["action"]["key_id"], "AKIAIOSFODNN7EXAMPLE",
        "the leaked key that launched them"
    );
}

#[test]
fn replay_finds_exactly_the_planted_events_in_a_large_gzipped_log() {
    let dir = std::env::temp_dir().join(format!("keyguard-replay-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("2026/11/23")).unwrap();
    let leaked = serde_json::json!({"type": "IAMUser", "arn": "arn:aws:iam::1:user/ci", "userName": "ci", "accessKeyId": "AKIAIOSFODNN7EXAMPLE"});
    let mut planted = Vec::new();
    keyguard_testkit::cloudtrail::write_gz_log(&dir.join("2026/11/23/log.json.gz"), 100_000, |i| {
        match i {
            12_345 | 50_000 | 99_999 => {
                planted.push(format!("planted-{i}"));
                serde_json::json!({"eventName": "CreateAccessKey", "eventSource": "iam.amazonaws.com", "eventID": format!("planted-{i}"),
                "userIdentity": leaked, "requestParameters": {"userName": "admin"},
                "responseElements": {"accessKey": {"accessKeyId": "AKIAI44QH8DHBEXAMPLE", "userName": "admin", "status": "Active"}}})
            }
            77_777 => {
                planted.push(format!("planted-{i}"));
                serde_json::json!({"eventName": "RunInstances", "eventSource": "ec2.amazonaws.com", "eventID": format!("planted-{i}"),
                "userIdentity": leaked, "requestParameters": {"instanceType": "g5.48xlarge", "minCount": 1, "maxCount": 1}})
            }
            _ => keyguard_testkit::cloudtrail::routine(i),
        }
    });
    // A plain file beside it, with an event from a threat address.
    std::fs::write(
        dir.join("plain.json"),
        serde_json::json!({"Records": [{"eventName": "ListBuckets", "eventSource": "s3.amazonaws.com", "eventID": "planted-ip",
            "userIdentity": leaked, "sourceIPAddress": "203.0.113.9"}]}).to_string(),
    )
    .unwrap();
    planted.push("planted-ip".into());
    // A digest file, as CloudTrail writes beside the logs: not a log, skipped.
    let digests = dir.join("AWSLogs/123456789012/CloudTrail-Digest");
    std::fs::create_dir_all(&digests).unwrap();
    std::fs::write(
        digests.join("digest.json"),
        r#"{"awsAccountId": "123456789012", "logFiles": []}"#,
    )
    .unwrap();

    let out = replay_with_threats(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let mut found = event_ids(&out.stdout);
    found.sort();
    planted.sort();
    assert_eq!(found, planted);
    assert!(stderr.contains("100001 record(s)"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `keyguard plan` asks each function's own first question: a schedule from a source
/// nobody trusted is refused, as age-rotation and secrets-rotator refuse it (403), not
/// planned as a full scan; an event that is not the function's is ignored, as there.
#[test]
fn plan_refuses_an_untrusted_schedule_as_the_functions_do() {
    let forged = temp(
        "forged-schedule.json",
        br#"{"version": "0", "id": "f1", "detail-type": "Scheduled Event", "source": "custom.cron",
             "account": "123456789012", "time": "2026-11-23T09:00:00Z", "region": "us-east-1",
             "resources": [], "detail": {}}"#,
    );
    for (function, facts) in [
        ("age-rotation", "events/age-rotation/facts.json"),
        ("secrets-rotator", "events/secrets-rotator/facts.json"),
    ] {
        let (code, out, err) =
            keyguard(&["plan", "--function", function, "--facts", facts, &forged]);
        assert_eq!(code, 0, "{function}: {err}");
        let plan: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(plan["decision"], "refused", "{function}: {plan:#}");
        assert!(
            plan["steps"].as_array().unwrap().is_empty(),
            "{function}: {plan:#}"
        );
    }
    let (code, out, err) = keyguard(&[
        "plan",
        "--function",
        "age-rotation",
        "--facts",
        "events/age-rotation/facts.json",
        "events/guardduty-translator/iam-user.json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["decision"],
        "ignored"
    );
}

/// `keyguard replay` over a recording of each Stratus Red Team technique a leaked
/// long-term key is used for (`events/stratus/`, one CloudTrail log file each) finds it
/// with the technique's own rule, and nothing is found in a technique's reads.
#[test]
fn every_stratus_technique_is_found_by_its_rule() {
    let techniques: &[(&str, &[&str])] = &[
        ("aws.persistence.iam-backdoor-user", &["backdoor-key"]),
        (
            "aws.persistence.iam-create-admin-user",
            &[
                "admin-policy-attached",
                "backdoor-key",
                "user-created-with-key",
            ],
        ),
        (
            "aws.persistence.iam-create-user-login-profile",
            &["console-backdoor"],
        ),
        (
            "aws.persistence.iam-update-user-login-profile",
            &["console-backdoor"],
        ),
        (
            "aws.persistence.iam-backdoor-role",
            &["role-trust-backdoor"],
        ),
        (
            "aws.persistence.iam-create-backdoor-role",
            &["role-trust-backdoor", "admin-policy-attached"],
        ),
        (
            "aws.persistence.sts-federation-token",
            &["federation-token"],
        ),
        ("aws.defense-evasion.cloudtrail-stop", &["logging-disabled"]),
        (
            "aws.defense-evasion.cloudtrail-delete",
            &["logging-disabled"],
        ),
        (
            "aws.defense-evasion.cloudtrail-event-selectors",
            &["logging-disabled"],
        ),
    ];
    let dir = keyguard_testkit::workspace_root().join("events/stratus");
    let on_disk = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|f| f.path().extension().is_some_and(|e| e == "json"))
        .count();
    assert_eq!(on_disk, techniques.len(), "every recording is checked");
    for (technique, want) in techniques {
        let (code, out, err) = keyguard(&["replay", &format!("events/stratus/{technique}.json")]);
        assert_eq!(code, 0, "{technique}: {err}");
        let found = findings(out.as_bytes(), "rule");
        assert_eq!(found, *want, "{technique}: {out}");
    }
}

#[test]
fn replay_remembers_across_files_what_the_correlations_compare() {
    let identity = |key: &str| {
        serde_json::json!({"type": "IAMUser", "userName": "dev", "accessKeyId": key,
            "arn": "arn:aws:iam::123456789012:user/dev", "accountId": "123456789012"})
    };
    let call = |key: &str, name: &str, time: &str, ip: &str, extra: Value| {
        let mut v = serde_json::json!({"eventName": name, "eventSource": "iam.amazonaws.com",
            "eventID": format!("{name}-{time}"), "eventTime": time, "userIdentity": identity(key),
            "recipientAccountId": "123456789012", "sourceIPAddress": ip, "userAgent": "aws-cli/2"});
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    let made = call(
        "AKIADEVKEY0000000001",
        "CreateAccessKey",
        "2026-12-07T10:00:00Z",
        "198.51.100.7",
        serde_json::json!({"responseElements": {"accessKey": {"accessKeyId": "AKIADEVNEWKEY0000001", "userName": "dev"}}}),
    );
    let run = |time: &str| {
        let mut v = call(
            "AKIADEVNEWKEY0000001",
            "RunInstances",
            time,
            "203.0.113.9",
            serde_json::json!({"requestParameters": {"instanceType": "t3.micro",
                "instancesSet": {"items": [{"minCount": 4, "maxCount": 4}]}}}),
        );
        v["eventSource"] = "ec2.amazonaws.com".into();
        v
    };
    let first = temp(
        "correlation-1.json",
        serde_json::json!({"Records": [made]})
            .to_string()
            .as_bytes(),
    );
    let second = temp(
        "correlation-2.json",
        serde_json::json!({"Records": [run("2026-12-07T10:05:00Z"), run("2026-12-07T10:06:00Z"), run("2026-12-07T10:07:00Z")]})
            .to_string()
            .as_bytes(),
    );
    let (code, out, err) = keyguard(&["replay", &first, &second]);
    assert_eq!(code, 0, "{err}");
    let found: Vec<(String, String)> = out
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["rule"].as_str().unwrap().to_owned(),
                v["severity"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("key-created", "info"),
        ("new-key-used-elsewhere", "medium"),
        ("long-term-key-runs-instances", "medium"),
        ("new-key-used-elsewhere", "medium"),
        ("long-term-key-runs-instances", "medium"),
        ("new-key-used-elsewhere", "medium"),
        ("long-term-key-runs-instances", "high"),
    ]
    .iter()
    .map(|(r, s)| (r.to_string(), s.to_string()))
    .collect();
    assert_eq!(found, want, "{out}");
}

/// `keyguard replay DIR` with 203.0.113.0/24 as threat addresses.
fn replay_with_threats(dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_keyguard"))
        .args(["replay", dir.to_str().unwrap()])
        .env("THREAT_CIDRS", "203.0.113.0/24")
        .output()
        .unwrap()
}

/// One finding's event id per line of replay's output.
fn event_ids(stdout: &[u8]) -> Vec<String> {
    findings(stdout, "event_id")
}

/// One field of each finding replay printed.
fn findings(stdout: &[u8], field: &str) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()[field]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
#[cfg(unix)]
fn replay_skips_and_names_what_it_cannot_read_and_reads_the_rest() {
    use std::io::Write;
    let dir = std::env::temp_dir().join(keyguard_testkit::unique("keyguard-replay-bad"));
    std::fs::create_dir_all(&dir).unwrap();
    let finding = |id: &str| {
        serde_json::json!({"eventName": "ListBuckets", "eventSource": "s3.amazonaws.com", "eventID": id,
            "userIdentity": {"type": "IAMUser", "userName": "ci", "accessKeyId": "AKIAIOSFODNN7EXAMPLE"},
            "sourceIPAddress": "203.0.113.9"})
        .to_string()
    };
    // Two gzip members, as a log concatenated by another tool: zcat reads both.
    let members = {
        let mut all = Vec::new();
        for part in [
            format!("{{\"Records\": [{},", finding("member-1")),
            format!("{}]}}", finding("member-2")),
        ] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(part.as_bytes()).unwrap();
            all.extend(gz.finish().unwrap());
        }
        all
    };
    std::fs::write(dir.join("a-members.json.gz"), members).unwrap();
    // A record whose request (one the rules read) is nested past the parser's limit, one
    // over the cap (a 50 MB field, 50 KB compressed), and one that is no JSON, each
    // between two that are fine.
    let deep = format!(
        r#"{{"eventName": "CreateUser", "eventSource": "iam.amazonaws.com", "requestParameters": {}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    write!(
        gz,
        "{{\"Records\": [{}, {deep}, {{\"x\": \"",
        finding("before")
    )
    .unwrap();
    for _ in 0..50 {
        gz.write_all(&[b'a'; 1 << 20]).unwrap();
    }
    write!(gz, "\"}}, {{\"eventName\": nul}}, {}]}}", finding("after")).unwrap();
    std::fs::write(dir.join("b-hostile.json.gz"), gz.finish().unwrap()).unwrap();
    // A file cut short: its first record counts, the rest is named.
    std::fs::write(
        dir.join("c-truncated.json"),
        format!("{{\"Records\": [{}, {{\"eventName\": ", finding("cut")),
    )
    .unwrap();
    // A link to nothing and a FIFO anywhere in the tree are named and passed by.
    std::os::unix::fs::symlink(dir.join("gone.json"), dir.join("d-dangling.json")).unwrap();
    let fifo = dir.join("e-fifo.json");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    std::fs::write(
        dir.join("f-last.json"),
        format!("{{\"Records\": [{}]}}", finding("last")),
    )
    .unwrap();

    let out = replay_with_threats(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "some input was not read: {stderr}"
    );
    assert_eq!(
        event_ids(&out.stdout),
        ["member-1", "member-2", "before", "after", "cut", "last"],
        "{stderr}"
    );
    for named in [
        "b-hostile.json.gz: record 1: `requestParameters`: recursion limit exceeded",
        "b-hostile.json.gz: record 2: larger than 1048576 bytes",
        "b-hostile.json.gz: record 3:",
        "the rest of",
        "d-dangling.json: a link to nothing",
        "e-fifo.json: neither a file nor a directory",
    ] {
        assert!(stderr.contains(named), "{named}: {stderr}");
    }
    assert!(
        stderr.contains("3 unreadable, 3 path(s) not read whole"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Files are decoded by several workers; what is found, and in which order, must not
/// depend on how many: the output is byte for byte the one-worker output.
#[test]
fn replay_finds_the_same_in_the_same_order_whatever_the_number_of_jobs() {
    let root = std::env::temp_dir().join(keyguard_testkit::unique("keyguard-replay-jobs"));
    let created = keyguard_testkit::cloudtrail::write_realistic_tree(&root, 40, 250).unwrap();
    let run = |jobs: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_keyguard"))
            .args(["replay", "--jobs", jobs, root.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{jobs}: {out:?}");
        out.stdout
    };
    let one = run("1");
    assert_eq!(event_ids(&one).len() as u64, created);
    for jobs in ["2", "7"] {
        assert!(run(jobs) == one, "--jobs {jobs} differs from --jobs 1");
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn replay_reads_cloudtrails_files_in_the_order_they_were_written_across_regions() {
    let root = std::env::temp_dir().join(keyguard_testkit::unique("keyguard-replay-order"));
    let file = |region: &str, stamp: &str, records: Value| {
        let dir = root.join(format!(
            "AWSLogs/123456789012/CloudTrail/{region}/2026/12/07"
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let name = format!("123456789012_CloudTrail_{region}_{stamp}_Ab1Cd2.json");
        std::fs::write(
            dir.join(name),
            serde_json::json!({ "Records": records }).to_string(),
        )
        .unwrap();
    };
    let identity = |key: &str| {
        serde_json::json!({"type": "IAMUser", "userName": "dev", "accessKeyId": key,
            "arn": "arn:aws:iam::123456789012:user/dev", "accountId": "123456789012"})
    };
    // The key is made in us-east-1 (IAM is global) at 10:00 and used in eu-west-1 at
    // 10:05: by name, eu-west-1's file comes first.
    file(
        "us-east-1",
        "20261207T1000Z",
        serde_json::json!([{
        "eventName": "CreateAccessKey", "eventSource": "iam.amazonaws.com", "eventID": "made",
        "eventTime": "2026-12-07T10:00:00Z", "userIdentity": identity("AKIADEVKEY0000000001"),
        "recipientAccountId": "123456789012", "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2",
        "responseElements": {"accessKey": {"accessKeyId": "AKIADEVNEWKEY0000002", "userName": "dev"}}}]),
    );
    file(
        "eu-west-1",
        "20261207T1005Z",
        serde_json::json!([{
        "eventName": "RunInstances", "eventSource": "ec2.amazonaws.com", "eventID": "used",
        "eventTime": "2026-12-07T10:05:00Z", "userIdentity": identity("AKIADEVNEWKEY0000002"),
        "recipientAccountId": "123456789012", "sourceIPAddress": "203.0.113.9", "userAgent": "aws-cli/2",
        "awsRegion": "eu-west-1",
        "requestParameters": {"instanceType": "t3.micro", "instancesSet": {"items": [{"minCount": 1, "maxCount": 1}]}}}]),
    );
    let out = replay_with_threats(&root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let rules = findings(&out.stdout, "rule");
    assert!(
        rules.contains(&"new-key-used-elsewhere".to_owned()),
        "{rules:?}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn plan_in_organisation_mode_reads_each_credential_in_its_own_account() {
    let facts = "events/deactivate-key/facts-organization.json";
    let plan = |key: &str, account: &str| -> Value {
        let event = temp(
            &format!("org-{key}-{account}.json"),
            serde_json::json!({"accessKeyId": key, "userName": "alice", "accountId": account,
                               "eventId": "org", "issuedAt": "2026-11-23T11:00:00Z", "mac": "x"})
            .to_string()
            .as_bytes(),
        );
        let (code, out, err) = plan_deactivate(facts, &event, &[]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    // The member's alice, in the member: her key there is contained.
    let member = plan("AKIAMEMBERKEY0000001", "222222222222");
    assert_eq!(member["decision"], "act", "{member:#}");
    let step = &member["steps"][0];
    assert_eq!(step["action"]["type"], "deactivate_key");
    assert_eq!(step["scope"]["account"], "222222222222");
    // A home key named as the member's is neither account's to act on.
    let misnamed = plan("AKIAIOSFODNN7EXAMPLE", "222222222222");
    assert_eq!(misnamed["decision"], "foreign_account", "{misnamed:#}");
    assert!(misnamed["why"]
        .as_str()
        .unwrap()
        .contains("belongs to account 123456789012"));
    // An account the facts' organisation does not have.
    let stranger = plan("AKIAMEMBERKEY0000009", "999999999999");
    assert_eq!(stranger["decision"], "foreign_account");
    assert!(stranger["why"]
        .as_str()
        .unwrap()
        .contains("not an account of keyguard's organisation"));
}

#[test]
fn plan_of_a_finding_called_from_another_account_asks_whose_the_key_is() {
    const SESSION: &str = "ASIAREMOTECALLER0001";
    let finding = temp(
        "remote-caller.json",
        serde_json::json!({
            "version": "0", "id": "gd-remote", "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
            "account": "123456789012", "region": "us-east-1",
            "detail": {"id": "f-remote", "accountId": "123456789012", "region": "us-east-1",
                       "type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS", "severity": 8,
                       "resource": {"resourceType": "AccessKey", "accessKeyDetails": {"accessKeyId": SESSION, "userName": "Deploy", "userType": "AssumedRole"}},
                       "service": {"action": {"awsApiCallAction": {"remoteAccountDetails": {"accountId": "444455556666", "affiliated": false}}}}}
        })
        .to_string()
        .as_bytes(),
    );
    let plan = |key_accounts: Value| -> Value {
        let facts = temp(
            &format!("remote-facts-{}.json", key_accounts.as_object().unwrap().len()),
            serde_json::json!({"roles": {"Deploy": {}}, "key_accounts": key_accounts,
                               "me": {"role": "keyguard-deactivate-key", "account": "123456789012"}})
            .to_string()
            .as_bytes(),
        );
        let (code, out, err) = plan_deactivate(&facts, &finding, &[]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    // STS says the session is ours (our instance's credentials used from 444455556666):
    // our Deploy role's older sessions are revoked.
    let ours = plan(serde_json::json!({SESSION: "123456789012"}));
    assert_eq!(ours["decision"], "act", "{ours:#}");
    assert_eq!(ours["steps"][0]["action"]["type"], "revoke_sessions");
    // The remote account's own role of that name, or a key nobody can place: our Deploy
    // is someone else.
    for (key_accounts, says) in [
        (
            serde_json::json!({SESSION: "444455556666"}),
            "belongs to account 444455556666",
        ),
        (serde_json::json!({}), "was not told"),
    ] {
        let theirs = plan(key_accounts);
        assert_eq!(theirs["decision"], "foreign_account", "{theirs:#}");
        assert!(theirs["why"].as_str().unwrap().contains(says), "{theirs:#}");
    }
}

/// A root key reads nothing from IAM, but whose it is still decides which account's
/// notice it is: the plan asks, as the function asks STS.
#[test]
fn plan_of_a_root_finding_called_from_another_account_asks_whose_the_key_is() {
    const ROOT_KEY: &str = "AKIAROOTKEY000000001";
    let finding = temp(
        "remote-root.json",
        serde_json::json!({
            "version": "0", "id": "gd-remote-root", "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
            "account": "123456789012", "region": "us-east-1",
            "detail": {"id": "f-remote-root", "accountId": "123456789012", "region": "us-east-1",
                       "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 8,
                       "resource": {"resourceType": "AccessKey", "accessKeyDetails": {"accessKeyId": ROOT_KEY, "userType": "Root"}},
                       "service": {"action": {"awsApiCallAction": {"remoteAccountDetails": {"accountId": "444455556666", "affiliated": false}}}}}
        })
        .to_string()
        .as_bytes(),
    );
    let plan = |owner: &str| -> Value {
        let facts = temp(
            &format!("remote-root-facts-{owner}.json"),
            serde_json::json!({"key_accounts": {ROOT_KEY: owner},
                               "me": {"role": "keyguard-deactivate-key", "account": "123456789012"}})
            .to_string()
            .as_bytes(),
        );
        let (code, out, err) = plan_deactivate(&facts, &finding, &[]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    // Our root's key, used from 444455556666: told here as our root's.
    let ours = plan("123456789012");
    assert_ne!(ours["decision"], "foreign_account", "{ours:#}");
    // The remote account's root key: not ours to tell of as ours.
    let theirs = plan("444455556666");
    assert_eq!(theirs["decision"], "foreign_account", "{theirs:#}");
    assert!(
        theirs["why"]
            .as_str()
            .unwrap()
            .contains("belongs to account 444455556666"),
        "{theirs:#}"
    );
}

/// A name anyone could write (a file, an S3 key) reaches the terminal cleaned: an escape
/// sequence in it is not sent to stderr.
#[test]
#[cfg(unix)]
fn a_skipped_name_with_control_characters_reaches_the_terminal_cleaned() {
    let dir = std::env::temp_dir().join(keyguard_testkit::unique("keyguard-replay-esc"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("evil\u{1b}[2J.json"), b"{\"Records\": [not json").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keyguard"))
        .args(["replay", dir.to_str().unwrap()])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("evil"), "the file is named: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}
