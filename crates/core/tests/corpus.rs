//! Every published sample in the shared corpus parses to the kind its folder in
//! `SOURCES.md` names. The files are read in place, never copied.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use keyguard_core::policy::containment::{Facts, KeyStatus, SelfIdentity};
use keyguard_core::policy::translator::{self, TranslatorConfig};
use keyguard_core::{parse, AccountId, Action, TriggerKind, UserName};
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

/// `keyguard replay` decodes a log file's records straight from their bytes; the
/// intake decodes an event through a JSON tree. Both must read every published CloudTrail
/// record the same, field for field, the decoded call included. A record in a log file
/// is bare; an enveloped sample is read as its `detail` would be logged.
#[test]
fn a_cloudtrail_record_read_from_a_log_file_is_the_record_the_intake_reads() {
    let Some(dir) = corpus::dir() else { return };
    let mut seen = 0;
    for s in corpus::samples(&dir)
        .into_iter()
        .filter(|s| s.file.starts_with("cloudtrail/"))
    {
        let value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&s.path).unwrap()).unwrap();
        let bare = value.get("detail").unwrap_or(&value);
        let bytes = serde_json::to_vec(bare).unwrap();
        let through_tree = keyguard_core::events::record(bare);
        let from_bytes = keyguard_core::events::log_record(&bytes, |_, _| true);
        assert_eq!(from_bytes, through_tree, "{}", s.file);
        assert!(from_bytes.is_ok(), "{}", s.file);
        seen += 1;
    }
    assert!(seen >= 20, "only {seen} CloudTrail samples");
}

/// Replay leaves the request and response undecoded where `reads_parameters` says no
/// rule reads them. Over every CloudTrail sample keyguard ships or reads, the lean record
/// must give the same alerts, memories and recall questions as the full one: a rule that
/// reads another call's parameters fails here until `reads_parameters` lists it.
#[test]
fn a_lean_log_record_finds_what_the_full_record_finds() {
    use keyguard_core::policy::detector::{evaluate, memory, reads_parameters, DetectorConfig};
    // Every address a threat, so the rule that reads no parameters fires too.
    let env = |k: &str| (k == "THREAT_CIDRS").then(|| "0.0.0.0/0,::/0".to_owned());
    let cfg = DetectorConfig::from_env(&env, SelfIdentity::default()).unwrap();
    let (mut seen, mut alerts) = (0, 0);
    for (path, value) in corpus::events() {
        // A sample is one record, an EventBridge envelope of one, or a whole log file
        // (the attack recordings): every record of it.
        let records: Vec<&serde_json::Value> = match (value.get("detail"), value.get("Records")) {
            (Some(d), _) if value["detail-type"] == "AWS API Call via CloudTrail" => vec![d],
            (Some(_), _) => continue,
            (None, Some(serde_json::Value::Array(all))) => all.iter().collect(),
            (None, _) => vec![&value],
        };
        for bare in records {
            let bytes = serde_json::to_vec(bare).unwrap();
            let (Ok(full), Ok(lean)) = (
                keyguard_core::events::log_record(&bytes, |_, _| true),
                keyguard_core::events::log_record(&bytes, reads_parameters),
            ) else {
                continue;
            };
            seen += 1;
            let found = evaluate(&full, &cfg);
            alerts += found.len();
            assert_eq!(evaluate(&lean, &cfg), found, "{path}");
            assert_eq!(
                memory::memos(&lean, None, &cfg.trusted_creators),
                memory::memos(&full, None, &cfg.trusted_creators),
                "{path}"
            );
            assert_eq!(memory::ask(&lean, None), memory::ask(&full, None), "{path}");
        }
    }
    assert!(seen >= 30, "only {seen} CloudTrail records");
    // The comparison means something only where rules fire.
    assert!(
        alerts >= 30,
        "only {alerts} alerts compared over {seen} records"
    );
}

/// guardduty-translator over the published findings: GuardDuty's sample findings (the
/// "no alert" rows) are never acted on; a finding that names no key is ignored, except an
/// IAM attack sequence, which opens an incident and touches no key.
#[test]
fn the_translator_never_acts_on_samples_and_opens_incidents_for_iam_attack_sequences() {
    let Some(dir) = corpus::dir() else { return };
    let env = |k: &str| {
        (k == "RESPONSE_PLAN_ARN")
            .then(|| "arn:aws:ssm-incidents::123456789012:response-plan/keyguard".to_owned())
    };
    // As if IAM said the named user exists with the key Active: the most an event can get.
    let facts = Facts {
        owner: Some(UserName::parse("someone").unwrap()),
        exists: true,
        key_status: Some(KeyStatus::Active),
        ..Facts::default()
    };
    let now = keyguard_core::parse_time("2026-11-23T12:00:00Z").unwrap();
    let mut seen = 0;
    for s in corpus::samples(&dir)
        .into_iter()
        .filter(|s| s.file.starts_with("guardduty/"))
    {
        seen += 1;
        let bytes = std::fs::read(&s.path).unwrap();
        let bare: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        // Published as the bare finding (the `detail`): alone it has no provenance and is
        // refused; as EventBridge delivers it, it is judged on its merits, by a keyguard
        // running in the finding's own account.
        let home = bare["accountId"]
            .as_str()
            .and_then(|a| AccountId::parse(a).ok());
        let me = SelfIdentity {
            account: home,
            ..SelfIdentity::default()
        };
        let cfg = TranslatorConfig::from_env(&env, me).unwrap();
        let refused = translator::target(&parse(&bytes).unwrap(), &cfg, "corpus").unwrap_err();
        assert_eq!(
            refused.decision.name(),
            "refused",
            "{}: a bare finding",
            s.file
        );
        let enveloped = serde_json::json!({
            "version": "0", "id": "corpus", "detail-type": "GuardDuty Finding",
            "source": "aws.guardduty", "account": bare["accountId"], "detail": bare,
        });
        let trigger = parse(enveloped.to_string().as_bytes()).unwrap();
        let plan = match translator::target(&trigger, &cfg, "corpus") {
            Ok(t) => translator::decide(&t, &cfg, &facts, now),
            Err(p) => *p,
        };
        let is_sample = s.test_name.contains("Sample") || s.file.contains("aws-samples");
        let acts = plan.steps.iter().any(|st| {
            matches!(
                st.action,
                Action::StartRunbook { .. } | Action::RevokeSessions { .. }
            )
        });
        if is_sample {
            assert!(
                matches!(plan.decision.name(), "plan_only" | "ignored"),
                "{}: {plan:#?}",
                s.file
            );
        } else if s.file.contains("critical_sev_findings-1") {
            assert_eq!(plan.decision.name(), "not_containable", "{}", s.file);
            assert!(plan
                .steps
                .iter()
                .any(|st| st.action.name() == "open_incident"));
        } else {
            assert_eq!(plan.decision.name(), "ignored", "{}: {plan:#?}", s.file);
        }
        assert!(!acts, "{}: no corpus finding names a real key", s.file);
    }
    assert!(seen >= 5, "only {seen} GuardDuty samples");
}

/// createkey-detector against the published panther-analysis rule tests, for the rules
/// keyguard covers: every "alert" case fires keyguard's matching rule, no "no alert" case
/// does, and no "no alert" case fires anything at medium or above except where keyguard
/// deliberately goes further (a refused CreateAccessKey is `failed-key-creation`,
/// medium: panther's backdoor rule ignores it, keyguard reports it as probing).
#[test]
fn the_detector_agrees_with_the_published_rule_tests() {
    use keyguard_core::notice::Severity;
    use keyguard_core::policy::detector::{evaluate, DetectorConfig};
    let Some(dir) = corpus::dir() else { return };
    let cfg = DetectorConfig::from_env(&|_: &str| None, SelfIdentity::default()).unwrap();
    let covered = [
        ("AWS.IAM.Backdoor.User.Keys", "backdoor-key"),
        ("AWS.CloudTrail.RootAccessKeyCreated", "root-key-created"),
        (
            "AWS.CloudTrail.IAMCompromisedKeyQuarantine",
            "quarantine-policy-attached",
        ),
        ("AWS.IAM.AttachAdminUserPolicy", "admin-policy-attached"),
        (
            "AWS.CloudTrail.LoginProfileCreatedOrModified",
            "console-backdoor",
        ),
        ("AWS.User.Login.Profile.Modified", "console-backdoor"),
        ("AWS.IAM.BackdoorRole", "role-trust-backdoor"),
    ];
    let mut checked = 0;
    for s in corpus::samples(&dir) {
        let Some((_, ours)) = covered
            .iter()
            .find(|(theirs, _)| s.test_name.starts_with(theirs))
        else {
            continue;
        };
        let trigger = parse(&std::fs::read(&s.path).unwrap()).unwrap();
        let keyguard_core::Trigger::CloudTrail { record, .. } = trigger else {
            panic!("{}: not a CloudTrail record", s.file)
        };
        let alerts = evaluate(&record, &cfg);
        let fired = alerts.iter().any(|a| a.rule == *ours);
        match s.expected.as_str() {
            "alert" => assert!(fired, "{}: {ours} should fire: {alerts:?}", s.file),
            "no alert" => {
                assert!(!fired, "{}: {ours} must not fire", s.file);
                for a in alerts.iter().filter(|a| a.severity >= Severity::Medium) {
                    assert_eq!(a.rule, "failed-key-creation", "{}: {a:?}", s.file);
                }
            }
            other => panic!("{}: unexpected expectation {other:?}", s.file),
        }
        checked += 1;
    }
    assert!(
        checked >= 19,
        "only {checked} panther cases for the covered rules"
    );
}
