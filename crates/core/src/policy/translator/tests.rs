use super::*;
use crate::events::parse;
use crate::report::Report;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SESSION_KEY: &str = "ASIA5ZXAKGI33TI7QQGW";
const PLAN_ARN: &str = "arn:aws:ssm-incidents::123456789012:response-plan/keyguard";

fn env(pairs: &[(&str, &str)]) -> impl Env {
    let m: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| m.get(k).cloned()
}

fn cfg_with(extra: &[(&str, &str)]) -> TranslatorConfig {
    // The sweep is off unless a test turns it on: most tables are about the rest.
    let mut pairs = vec![("RESPONSE_PLAN_ARN", PLAN_ARN), ("LOOKBACK_HOURS", "0")];
    pairs.extend_from_slice(extra);
    TranslatorConfig::from_env(
        &env(&pairs),
        SelfIdentity {
            key_id: None,
            user: Some("keyguard-bot".into()),
            role: Some("keyguard-guardduty-translator".into()),
            account: Some(crate::AccountId::parse("123456789012").unwrap()),
        },
    )
    .unwrap()
}

fn cfg() -> TranslatorConfig {
    cfg_with(&[])
}

fn finding(details: Value) -> Value {
    json!({
        "id": "7ac2b3f1d0e94c5a8b6f0e1d2c3b4a59",
        "accountId": "123456789012",
        "arn": "arn:aws:guardduty:us-east-1:123456789012:detector/d/finding/7ac2b3f1d0e94c5a8b6f0e1d2c3b4a59",
        "region": "us-east-1",
        "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
        "severity": 8,
        "updatedAt": "2026-11-23T11:59:00Z",
        "resource": {"resourceType": "AccessKey", "accessKeyDetails": details},
        "service": {"additionalInfo": {"sample": false},
                    "action": {"awsApiCallAction": {"remoteIpDetails": {"ipAddressV4": "198.51.100.7"}}}}
    })
}

fn event(source: &str, detail: Value) -> Trigger {
    let v = json!({"version": "0", "id": "ev-1", "detail-type": "GuardDuty Finding",
                   "source": source, "time": "2026-11-23T12:00:00Z", "detail": detail});
    parse(v.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn user_finding() -> Value {
    finding(json!({"accessKeyId": KEY, "userName": "alice", "userType": "IAMUser"}))
}

fn role_finding() -> Value {
    finding(json!({"accessKeyId": SESSION_KEY, "userName": "app-role", "userType": "AssumedRole"}))
}

fn facts(status: Option<KeyStatus>) -> Facts {
    Facts {
        owner: Some(UserName::parse("alice").unwrap()),
        exists: true,
        key_status: status,
        tags: BTreeMap::new(),
        ..Facts::default()
    }
}

fn now() -> Timestamp {
    crate::parse_time("2026-11-23T12:00:00Z").unwrap()
}

fn plan_with(cfg: &TranslatorConfig, t: &Trigger, facts: &Facts) -> Plan {
    match target(t, cfg, "ev-1") {
        Ok(target) => decide(&target, cfg, facts, now()),
        Err(plan) => *plan,
    }
}

fn plan(t: &Trigger, facts: &Facts) -> Plan {
    plan_with(&cfg(), t, facts)
}

/// A finding on an Active user's key: containment first (keyguard deactivates the key,
/// then the user's older sessions are denied, then the runbook rotates), then the
/// paperwork.
const RUNBOOK_STEPS: [&str; 5] = [
    "deactivate_key",
    "revoke_sessions",
    "start_runbook",
    "open_incident",
    "notify",
];

fn names(plan: &Plan) -> Vec<&'static str> {
    plan.steps.iter().map(|s| s.action.name()).collect()
}

fn status(plan: &Plan) -> u16 {
    Report::new(plan.clone(), false, Vec::new()).status_code
}

#[test]
fn an_iam_user_finding_starts_the_runbook_for_that_key_then_incident_and_notice() {
    let p = plan(
        &event("aws.guardduty", user_finding()),
        &facts(Some(KeyStatus::Active)),
    );
    assert_eq!(p.decision, Decision::Act);
    assert_eq!(p.function, FUNCTION);
    assert_eq!(names(&p), RUNBOOK_STEPS);
    // keyguard contains the key at once, as deactivate-key would, under the finding's id.
    let finding_id = "ev-1";
    let credential = format!("123456789012:user/alice/{KEY}");
    let deactivate = &p.steps[0];
    assert!(
        matches!(&deactivate.action, Action::DeactivateKey { user, key_id } if user.as_str() == "alice" && key_id.as_str() == KEY),
        "{p:#?}"
    );
    assert_eq!(
        deactivate.idempotency_key,
        format!("guardduty-translator:deactivate_key:{credential}:{finding_id}")
    );
    assert!(
        deactivate.window.is_none(),
        "a containment is never held back"
    );
    // The sessions the key minted end once it is Inactive, and the notice says so.
    let revoke = &p.steps[1];
    assert_eq!(
        revoke.action,
        Action::RevokeSessions {
            principal: Principal::User(UserName::parse("alice").unwrap()),
            issued_before: now(),
            policy_name: "keyguard-revoke-older-sessions".into(),
            key_id: Some(AccessKeyId::parse(KEY).unwrap()),
        }
    );
    assert_eq!(revoke.after.as_ref(), Some(&deactivate.idempotency_key));
    assert!(revoke.window.is_none());
    let Action::StartRunbook {
        document,
        user,
        key_id,
        client_token,
        ..
    } = &p.steps[2].action
    else {
        panic!("{p:#?}")
    };
    assert_eq!(document, "keyguard-RotateCompromisedKey");
    assert_eq!((user.as_str(), key_id.as_str()), ("alice", KEY));
    assert_eq!(client_token, &uuid_from(&p.steps[2].idempotency_key));
    // The runbook holds the credential's window; the incident and notice the user's.
    let runbook = &p.steps[2];
    assert_eq!(
        runbook.window.as_ref().unwrap().key,
        format!("guardduty-translator:start_runbook:{credential}")
    );
    assert_eq!(
        runbook.idempotency_key,
        format!("guardduty-translator:start_runbook:{credential}:{finding_id}")
    );
    let Action::Notify { notice } = &p.steps[4].action else {
        panic!("{p:#?}")
    };
    assert_eq!(
        notice.facts["sessions"],
        "alice's sessions issued before the key was contained are to be denied (inline policy keyguard-revoke-older-sessions)"
    );
    for step in &p.steps[3..] {
        let w = step.window.as_ref().unwrap();
        assert!(w.key.ends_with(":123456789012:user/alice"), "{}", w.key);
        assert_eq!(w.until, now() + chrono::Duration::minutes(15));
        assert!(step
            .idempotency_key
            .ends_with(&format!(":user/alice:{finding_id}")));
    }
    let Action::OpenIncident { incident } = &p.steps[3].action else {
        panic!()
    };
    assert_eq!(
        incident.client_token,
        uuid_from(&p.steps[3].idempotency_key)
    );
    assert!(incident.client_token.len() <= super::CLIENT_TOKEN_LIMIT);
    assert_eq!(incident.impact, 2);
    assert_eq!(incident.response_plan_arn, PLAN_ARN);
    assert!(incident.title.contains("MaliciousIPCaller") && incident.title.contains("alice"));
    assert_eq!(incident.source, "keyguard.guardduty-translator");
    assert!(
        !incident.source.starts_with("aws."),
        "AWS refuses a customer source in aws.*"
    );
    assert_eq!(
        incident.timestamp,
        crate::parse_time("2026-11-23T11:59:00Z").unwrap()
    );
    assert!(incident.related[0]
        .url
        .contains("fId=7ac2b3f1d0e94c5a8b6f0e1d2c3b4a59"));
    let raw: Value = serde_json::from_str(&incident.raw_data).unwrap();
    assert_eq!(raw["type"], "UnauthorizedAccess:IAMUser/MaliciousIPCaller");
}

#[test]
fn an_inactive_key_still_gets_the_runbook_for_a_fresh_key() {
    let p = plan(
        &event("aws.guardduty", user_finding()),
        &facts(Some(KeyStatus::Inactive)),
    );
    assert_eq!(names(&p), RUNBOOK_STEPS[1..]);
    assert!(p.steps[1].reason.contains("already Inactive"));
    // Last used before the cut-off already in force: every session it minted is
    // denied, and the cut-off stays where it is.
    let at = |s: &str| crate::parse_time(s).unwrap();
    let covered = Facts {
        last_used: Some(at("2026-11-23T09:00:00Z")),
        sessions_denied_before: Some(at("2026-11-23T10:00:00Z")),
        ..facts(Some(KeyStatus::Inactive))
    };
    let p = plan(&event("aws.guardduty", user_finding()), &covered);
    assert_eq!(names(&p), RUNBOOK_STEPS[2..]);
    // Without the session revocation, the runbook alone.
    let off = cfg_with(&[("REVOKE_USER_SESSIONS", "false")]);
    let p = plan_with(
        &off,
        &event("aws.guardduty", user_finding()),
        &facts(Some(KeyStatus::Active)),
    );
    assert_eq!(
        names(&p),
        ["deactivate_key", "start_runbook", "open_incident", "notify"]
    );
    let Action::Notify { notice } = &p.steps[3].action else {
        panic!("{p:#?}")
    };
    assert!(!notice.facts.contains_key("sessions"));
}

#[test]
fn who_gets_only_an_incident() {
    let exempt_tag = Facts {
        tags: BTreeMap::from([("keyguard:exempt".to_owned(), "TRUE".to_owned())]),
        ..facts(Some(KeyStatus::Active))
    };
    let mine =
        finding(json!({"accessKeyId": KEY, "userName": "keyguard-bot", "userType": "IAMUser"}));
    let mine_facts = Facts {
        owner: Some(UserName::parse("keyguard-bot").unwrap()),
        ..facts(Some(KeyStatus::Active))
    };
    let gd = |d: Value| event("aws.guardduty", d);
    let cases: Vec<(&str, Trigger, Facts, TranslatorConfig, &str, u16)> = vec![
        (
            "exempt by tag",
            gd(user_finding()),
            exempt_tag,
            cfg(),
            "refused",
            403,
        ),
        (
            "exempt by list",
            gd(user_finding()),
            facts(Some(KeyStatus::Active)),
            cfg_with(&[("EXEMPT_USERS", "alice")]),
            "refused",
            403,
        ),
        (
            "keyguard itself",
            gd(mine),
            mine_facts,
            cfg(),
            "refused",
            403,
        ),
        (
            "no such user",
            gd(user_finding()),
            Facts::default(),
            cfg(),
            "not_found",
            404,
        ),
        (
            "no such key",
            gd(user_finding()),
            facts(None),
            cfg(),
            "not_found",
            404,
        ),
        (
            "root",
            gd(finding(json!({"accessKeyId": KEY, "userType": "Root"}))),
            Facts::default(),
            cfg(),
            "not_containable",
            403,
        ),
        (
            "federated",
            gd(finding(
                json!({"accessKeyId": SESSION_KEY, "userType": "FederatedUser"}),
            )),
            Facts::default(),
            cfg(),
            "not_containable",
            403,
        ),
    ];
    for (name, t, f, c, decision, code) in cases {
        let p = plan_with(&c, &t, &f);
        assert_eq!(p.decision.name(), decision, "{name}: {p:#?}");
        assert_eq!(status(&p), code, "{name}");
        assert_eq!(names(&p), ["open_incident", "notify"], "{name}");
    }
}

#[test]
fn root_is_a_critical_incident() {
    let p = plan(
        &event(
            "aws.guardduty",
            finding(json!({"accessKeyId": KEY, "userType": "Root"})),
        ),
        &Facts::default(),
    );
    let Action::OpenIncident { incident } = &p.steps[0].action else {
        panic!()
    };
    assert_eq!(incident.impact, 1);
    assert!(p.steps[0].window.as_ref().unwrap().key.ends_with(":root"));
    let Action::Notify { notice } = &p.steps[1].action else {
        panic!()
    };
    assert_eq!(notice.severity, Severity::Critical);
}

#[test]
fn a_session_key_revokes_the_roles_older_sessions_unwindowed() {
    let role_facts = Facts {
        exists: true,
        ..Facts::default()
    };
    let p = plan(&event("aws.guardduty", role_finding()), &role_facts);
    assert_eq!(p.decision, Decision::Act);
    assert_eq!(names(&p), ["revoke_sessions", "open_incident", "notify"]);
    assert!(matches!(
        &p.steps[0].action,
        Action::RevokeSessions { principal: Principal::Role(r), issued_before, .. }
            if r.as_str() == "app-role" && *issued_before == now()
    ));
    assert!(p.steps[0].window.is_none());
    assert!(p.steps[0].idempotency_key.starts_with(FUNCTION));
    assert!(p.steps[1]
        .window
        .as_ref()
        .unwrap()
        .key
        .ends_with(":role/app-role"));
    // An exempt role: no revocation, still the incident.
    let exempt = plan_with(
        &cfg_with(&[("EXEMPT_ROLES", "app-role")]),
        &event("aws.guardduty", role_finding()),
        &role_facts,
    );
    assert_eq!(exempt.decision.name(), "refused");
    assert_eq!(names(&exempt), ["open_incident", "notify"]);
    // keyguard's own role is never revoked.
    let own = finding(
        json!({"accessKeyId": SESSION_KEY, "userName": "keyguard-guardduty-translator", "userType": "AssumedRole"}),
    );
    let p = plan(&event("aws.guardduty", own), &role_facts);
    assert_eq!(names(&p), ["open_incident", "notify"]);
}

#[test]
fn what_is_ignored_refused_or_invalid() {
    let mut low = user_finding();
    low["severity"] = json!(6.9);
    let mut other_type = user_finding();
    other_type["type"] = json!("Recon:EC2/PortProbeUnprotectedPort");
    let mut instance = user_finding();
    instance["resource"]["resourceType"] = json!("Instance");
    let bad_key = finding(
        json!({"accessKeyId": "AKIA-not-a-key", "userName": "alice", "userType": "IAMUser"}),
    );
    let cases: Vec<(&str, Trigger, &str, u16)> = vec![
        (
            "the seed's custom source",
            event("custom.guardduty.simulation", user_finding()),
            "refused",
            403,
        ),
        (
            "below MIN_SEVERITY",
            event("aws.guardduty", low),
            "ignored",
            200,
        ),
        (
            "a type not configured",
            event("aws.guardduty", other_type),
            "ignored",
            200,
        ),
        (
            "not an access key",
            event("aws.guardduty", instance),
            "ignored",
            200,
        ),
        (
            "a malformed key id",
            event("aws.guardduty", bad_key),
            "invalid",
            400,
        ),
    ];
    for (name, t, decision, code) in cases {
        let p = plan(&t, &facts(Some(KeyStatus::Active)));
        assert_eq!(p.decision.name(), decision, "{name}: {p:#?}");
        assert_eq!(status(&p), code, "{name}");
        assert!(p.steps.is_empty(), "{name}");
        assert_eq!(p.function, FUNCTION, "{name}");
    }
}

#[test]
fn the_seed_stays_reproducible_by_configuration() {
    let seed = cfg_with(&[
        ("TRUSTED_CUSTOM_SOURCES", "custom.guardduty.simulation"),
        (
            "FINDING_TYPES",
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration",
        ),
        ("MIN_SEVERITY", "8.0"),
    ]);
    let mut f = user_finding();
    f["type"] = json!("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration");
    let p = plan_with(
        &seed,
        &event("custom.guardduty.simulation", f.clone()),
        &facts(Some(KeyStatus::Active)),
    );
    assert_eq!(p.decision, Decision::Act);
    // Exact type: the `.OutsideAWS` variant is another type unless configured with `*`.
    f["type"] = json!("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS");
    let p = plan_with(
        &seed,
        &event("custom.guardduty.simulation", f.clone()),
        &facts(Some(KeyStatus::Active)),
    );
    assert_eq!(p.decision.name(), "ignored");
    // The default families cover it.
    let p = plan(&event("aws.guardduty", f), &facts(Some(KeyStatus::Active)));
    assert_eq!(p.decision, Decision::Act);
}

#[test]
fn sample_findings_are_shown_not_applied_unless_configured() {
    let mut f = finding(
        json!({"accessKeyId": "GeneratedFindingAccessKeyId", "userName": "GeneratedFindingUserName", "userType": "IAMUser"}),
    );
    f["service"]["additionalInfo"]["sample"] = json!(true);
    let p = plan(&event("aws.guardduty", f.clone()), &Facts::default());
    assert_eq!(p.decision.name(), "plan_only");
    assert_eq!(status(&p), 202);
    assert_eq!(names(&p), ["open_incident", "notify"]);
    let p = plan_with(
        &cfg_with(&[("ACT_ON_SAMPLE_FINDINGS", "true")]),
        &event("aws.guardduty", f),
        &Facts::default(),
    );
    // Its placeholder key is not a key: acted on means validated, and it fails.
    assert_eq!(p.decision.name(), "invalid");
}

#[test]
fn impact_follows_severity_bands() {
    for (sev, root, want) in [
        (10.0, false, 1),
        (9.0, false, 1),
        (8.9, false, 2),
        (7.0, false, 2),
        (6.9, false, 3),
        (4.0, false, 3),
        (3.9, false, 4),
        (0.0, false, 4),
        (2.0, true, 1),
    ] {
        assert_eq!(impact(sev, root), want, "{sev} {root}");
    }
}

#[test]
fn incident_fields_stay_within_the_service_limits() {
    let mut f = finding(json!({"accessKeyId": KEY, "userName": "alice", "userType": "IAMUser"}));
    f["type"] = json!(format!("UnauthorizedAccess:IAMUser/{}", "é".repeat(300)));
    f["service"]["action"]["awsApiCallAction"]["api"] = json!("x".repeat(10_000));
    f["title"] = json!("t".repeat(10_000));
    let p = plan(&event("aws.guardduty", f), &facts(Some(KeyStatus::Active)));
    let Action::OpenIncident { incident } = &p.steps[3].action else {
        panic!("{p:#?}")
    };
    assert!(incident.title.len() <= TITLE_LIMIT);
    assert!(incident.raw_data.len() <= RAW_DATA_LIMIT);
    assert!(incident.source.len() <= SOURCE_LIMIT);
}

#[test]
fn configuration_errors_name_the_variable() {
    let me = SelfIdentity::default();
    let missing = TranslatorConfig::from_env(&env(&[]), me.clone()).unwrap_err();
    assert_eq!(missing.variable, "RESPONSE_PLAN_ARN");
    let not_arn =
        TranslatorConfig::from_env(&env(&[("RESPONSE_PLAN_ARN", "keyguard")]), me.clone());
    assert_eq!(not_arn.unwrap_err().variable, "RESPONSE_PLAN_ARN");
    let bad = TranslatorConfig::from_env(
        &env(&[("RESPONSE_PLAN_ARN", PLAN_ARN), ("MIN_SEVERITY", "high")]),
        me,
    );
    assert_eq!(bad.unwrap_err().variable, "MIN_SEVERITY");
}

#[test]
fn a_second_key_of_the_same_user_is_contained_while_the_incident_window_runs() {
    let second = finding(
        json!({"accessKeyId": "AKIAIOSFODNN7SECOND1", "userName": "alice", "userType": "IAMUser"}),
    );
    let mut second = second;
    second["id"] = json!("second-finding");
    let a = plan(
        &event("aws.guardduty", user_finding()),
        &facts(Some(KeyStatus::Active)),
    );
    let b = plan(
        &event("aws.guardduty", second),
        &facts(Some(KeyStatus::Active)),
    );
    let window = |p: &Plan, action: &str| {
        p.steps
            .iter()
            .find(|s| s.action.name() == action)
            .and_then(|s| s.window.clone())
            .unwrap()
            .key
    };
    assert_ne!(
        window(&a, "start_runbook"),
        window(&b, "start_runbook"),
        "per credential"
    );
    assert_eq!(
        window(&a, "open_incident"),
        window(&b, "open_incident"),
        "per principal"
    );
    assert_eq!(window(&a, "notify"), window(&b, "notify"));
}

#[test]
fn a_re_published_finding_has_the_same_step_keys_and_another_accounts_gets_an_incident_only() {
    let first = event("aws.guardduty", user_finding());
    let v = json!({"version": "0", "id": "a-new-eventbridge-id", "detail-type": "GuardDuty Finding",
                   "source": "aws.guardduty", "time": "2026-11-23T18:00:00Z", "detail": user_finding()});
    let again = parse(v.to_string().as_bytes()).unwrap();
    let keys = |t: &Trigger| -> Vec<String> {
        let raw = serde_json::to_value(t.event_id()).unwrap();
        let r = crate::event_ref(t, &raw);
        let target = target(t, &cfg(), &r).unwrap();
        decide(&target, &cfg(), &facts(Some(KeyStatus::Active)), now())
            .steps
            .into_iter()
            .map(|s| s.idempotency_key)
            .collect()
    };
    assert_eq!(
        keys(&first),
        keys(&again),
        "one finding id never acts twice"
    );
    let mut foreign = user_finding();
    foreign["accountId"] = json!("222222222222");
    let p = plan(
        &event("aws.guardduty", foreign),
        &facts(Some(KeyStatus::Active)),
    );
    assert_eq!(p.decision.name(), "foreign_account", "{p:#?}");
    assert_eq!(
        names(&p),
        ["open_incident", "notify"],
        "nothing contained in our account"
    );
    let long = "u".repeat(64);
    let named = finding(json!({"accessKeyId": KEY, "userName": long, "userType": "IAMUser"}));
    let p = plan(
        &event("aws.guardduty", named),
        &Facts {
            owner: Some(UserName::parse(&long).unwrap()),
            ..facts(Some(KeyStatus::Active))
        },
    );
    for step in &p.steps {
        if let Action::OpenIncident { incident } = &step.action {
            assert!(incident.client_token.len() <= super::CLIENT_TOKEN_LIMIT);
            assert!(incident.title.len() <= super::TITLE_LIMIT);
        }
    }
}

#[test]
fn foreign_findings_and_attack_sequences_are_windowed_per_principal_not_per_account() {
    let foreign = |user: &str, id: &str| {
        let mut f = finding(json!({"accessKeyId": KEY, "userName": user, "userType": "IAMUser"}));
        f["accountId"] = json!("222222222222");
        f["id"] = json!(id);
        event("aws.guardduty", f)
    };
    let window = |p: &Plan| p.steps[0].window.clone().unwrap().key;
    let a = plan(&foreign("alice", "f-a"), &facts(Some(KeyStatus::Active)));
    let b = plan(&foreign("bob", "f-b"), &facts(Some(KeyStatus::Active)));
    assert_eq!(a.decision.name(), "foreign_account");
    assert_ne!(
        window(&a),
        window(&b),
        "one member's finding never hides another's"
    );
    assert!(window(&a).contains(":222222222222:"), "{}", window(&a));
}

#[test]
fn iam_unreadable_means_incident_and_notice_only_and_a_failed_run() {
    for t in [
        event("aws.guardduty", user_finding()),
        event("aws.guardduty", role_finding()),
    ] {
        let target = target(&t, &cfg(), "ev-1").unwrap_or_else(|p| panic!("{p:?}"));
        let plan = decide_unreadable(&target, &cfg(), "Throttling: slow down", now());
        assert_eq!(names(&plan), ["open_incident", "notify"], "{plan:#?}");
        assert_eq!(
            status(&plan),
            500,
            "retried, so the containment still comes"
        );
        assert!(
            matches!(&plan.decision, Decision::Failed { why } if why.contains("reading IAM: Throttling")),
            "{:?}",
            plan.decision
        );
        // The same incident and notice as when IAM answers: a retry finds them done.
        let read = plan_with(&cfg(), &t, &facts(Some(KeyStatus::Active)));
        let keys = |p: &Plan, kind: &str| -> Vec<String> {
            p.steps
                .iter()
                .filter(|s| s.action.name() == kind)
                .map(|s| s.idempotency_key.clone())
                .collect()
        };
        assert_eq!(keys(&plan, "open_incident"), keys(&read, "open_incident"));
    }
}

/// Every IAM family is taken by default, and each gets its documented response: the
/// families that say someone else holds the key contain it; looking around and
/// penetration-testing tools contain from the high band up and alert below it; a Policy
/// finding never contains. Alert-only findings read nothing from IAM.
#[test]
fn each_finding_family_gets_its_documented_response() {
    let cfg = cfg_with(&[("MIN_SEVERITY", "4.0")]);
    let defaults = cfg_with(&[]).finding_types;
    for family in [
        "UnauthorizedAccess",
        "CredentialAccess",
        "DefenseEvasion",
        "Discovery",
        "Exfiltration",
        "Impact",
        "InitialAccess",
        "Persistence",
        "PenTest",
        "Policy",
        "PrivilegeEscalation",
        "Recon",
        "Stealth",
    ] {
        assert!(
            defaults.contains(&format!("{family}:IAMUser/*")),
            "{family} missing from {defaults:?}"
        );
    }
    assert!(defaults.contains(&"AttackSequence:IAM/*".to_owned()));
    let of = |finding_type: &str, severity: f64| {
        let mut f = user_finding();
        f["type"] = json!(finding_type);
        f["severity"] = json!(severity);
        let t = event("aws.guardduty", f);
        let target = target(&t, &cfg, "ev-1").unwrap_or_else(|p| panic!("{p:?}"));
        let lookup = target.lookup();
        (
            names(&decide(
                &target,
                &cfg,
                &facts(Some(KeyStatus::Active)),
                now(),
            )),
            lookup,
        )
    };
    let contained = [
        "deactivate_key",
        "revoke_sessions",
        "start_runbook",
        "open_incident",
        "notify",
    ];
    let alerted = ["open_incident", "notify"];
    for (finding_type, severity, want) in [
        (
            "UnauthorizedAccess:IAMUser/TorIPCaller",
            5.0,
            &contained[..],
        ),
        (
            "Stealth:IAMUser/CloudTrailLoggingDisabled",
            4.0,
            &contained[..],
        ),
        (
            "InitialAccess:IAMUser/AnomalousBehavior",
            5.0,
            &contained[..],
        ),
        (
            "DefenseEvasion:IAMUser/AnomalousBehavior",
            5.0,
            &contained[..],
        ),
        ("Discovery:IAMUser/AnomalousBehavior", 5.0, &alerted[..]),
        ("Discovery:IAMUser/AnomalousBehavior", 7.0, &contained[..]),
        ("Recon:IAMUser/MaliciousIPCaller", 6.9, &alerted[..]),
        ("Recon:IAMUser/MaliciousIPCaller", 8.0, &contained[..]),
        ("PenTest:IAMUser/KaliLinux", 5.0, &alerted[..]),
        ("PenTest:IAMUser/KaliLinux", 7.5, &contained[..]),
        ("Policy:IAMUser/RootCredentialUsage", 9.0, &alerted[..]),
    ] {
        let (steps, lookup) = of(finding_type, severity);
        assert_eq!(steps, want, "{finding_type} at {severity}");
        if want == alerted {
            assert_eq!(
                lookup,
                Lookup::Nothing,
                "{finding_type}: an alert reads nothing"
            );
        }
    }
    assert_eq!(response("Policy:IAMUser/RootCredentialUsage", 10.0), Response::AlertOnly(
        "a Policy finding reports a practice, not a key in someone else's hands: never contained"
    ));
    // Below MIN_SEVERITY nothing is done, whatever the family.
    let mut low = user_finding();
    low["type"] = json!("Discovery:IAMUser/AnomalousBehavior");
    low["severity"] = json!(5.0);
    assert!(target(&event("aws.guardduty", low), &cfg_with(&[]), "ev-1").is_err());
}

#[test]
fn the_key_a_finding_names_is_swept_once_contained() {
    let swept = cfg_with(&[("LOOKBACK_HOURS", "72")]);
    let p = plan_with(
        &swept,
        &event("aws.guardduty", user_finding()),
        &facts(Some(KeyStatus::Active)),
    );
    assert_eq!(
        names(&p),
        [
            "deactivate_key",
            "revoke_sessions",
            "sweep_history",
            "start_runbook",
            "open_incident",
            "notify"
        ]
    );
    let sweep = &p.steps[2];
    assert_eq!(
        sweep.after.as_deref(),
        Some(p.steps[0].idempotency_key.as_str()),
        "read once the key is contained"
    );
    assert!(sweep
        .idempotency_key
        .starts_with("guardduty-translator:sweep_history:"));
    // Already Inactive: swept all the same (a retry after a failed read must read again).
    let p = plan_with(
        &swept,
        &event("aws.guardduty", user_finding()),
        &facts(Some(KeyStatus::Inactive)),
    );
    assert!(names(&p).contains(&"sweep_history"), "{p:#?}");
    // Off, as the other tables run: no sweep.
    let p = plan(
        &event("aws.guardduty", user_finding()),
        &facts(Some(KeyStatus::Active)),
    );
    assert!(!names(&p).contains(&"sweep_history"));
}

#[test]
fn a_finding_called_from_another_account_is_the_findings_account_until_sts_says_otherwise() {
    let mut raw = role_finding();
    raw["service"]["action"]["awsApiCallAction"]["remoteAccountDetails"] =
        json!({"accountId": "444455556666", "affiliated": false});
    let t = event("aws.guardduty", raw);
    let target = target(&t, &cfg(), "ev-1").unwrap();
    assert_eq!(target.foreign, None);
    let credential = target.credential();
    assert_eq!(credential.scope.unwrap().account.as_str(), "123456789012");
    assert_eq!(credential.contested.unwrap().as_str(), "444455556666");
    // STS gives the key to the remote account (or was never asked): incident and notice
    // only, named as that account's, nothing contained.
    let theirs = Facts {
        key_account: Some(crate::AccountId::parse("444455556666").unwrap()),
        ..facts(None)
    };
    let p = plan(&t, &theirs);
    assert_eq!(p.decision.name(), "foreign_account", "{p:#?}");
    assert!(
        p.steps
            .iter()
            .all(|s| s.idempotency_key.contains("444455556666")
                || !matches!(s.action, Action::OpenIncident { .. })),
        "{p:#?}"
    );
    assert!(p.steps.iter().all(|s| matches!(
        s.action,
        Action::OpenIncident { .. } | Action::Notify { .. }
    )));
    let p = plan(&t, &facts(None));
    assert!(
        p.steps.iter().all(|s| matches!(
            s.action,
            Action::OpenIncident { .. } | Action::Notify { .. }
        )),
        "{p:#?}"
    );
    assert_eq!(p.decision.name(), "foreign_account", "never asked: {p:#?}");
    // STS says ours: the role's older sessions are revoked here.
    let ours = Facts {
        key_account: Some(crate::AccountId::parse("123456789012").unwrap()),
        ..facts(None)
    };
    let p = plan(&t, &ours);
    assert!(
        p.steps
            .iter()
            .any(|s| matches!(s.action, Action::RevokeSessions { .. })),
        "{p:#?}"
    );
}

#[test]
fn a_root_or_alerting_finding_called_from_another_account_is_windowed_where_sts_says() {
    const REMOTE: &str = "444455556666";
    let called_from = |mut raw: Value| {
        raw["service"]["action"]["awsApiCallAction"]["remoteAccountDetails"] =
            json!({"accountId": REMOTE, "affiliated": false});
        raw
    };
    let mut alerting = called_from(user_finding());
    alerting["type"] = json!("Discovery:IAMUser/AnomalousBehavior");
    alerting["severity"] = json!(5.0);
    let root = called_from(finding(json!({"accessKeyId": KEY, "userType": "Root"})));
    let org = cfg_with(&[("ORGANIZATION_MODE", "true"), ("MIN_SEVERITY", "4.0")]);
    let told = |account: &str| Facts {
        key_account: Some(crate::AccountId::parse(account).unwrap()),
        ..Facts::default()
    };
    // The incident's window and idempotency keys name the account it is counted in.
    let incident_in = |p: &Plan| -> Vec<String> {
        p.steps
            .iter()
            .filter(|s| matches!(s.action, Action::OpenIncident { .. }))
            .map(|s| s.window.as_ref().map(|w| w.key.clone()).unwrap_or_default())
            .collect()
    };
    for (what, raw, decision) in [
        ("alerting", alerting, "act"),
        ("root", root, "not_containable"),
    ] {
        let t = event("aws.guardduty", raw);
        let target = target(&t, &org, "ev-1").unwrap();
        assert_eq!(target.lookup(), Lookup::Nothing, "{what}: nothing is read");
        assert_eq!(
            target
                .credential()
                .key_to_ask(&target.lookup())
                .map(|k| k.to_string()),
            Some(KEY.to_owned()),
            "{what}: but STS is asked whose the key is"
        );
        let here = decide(&target, &org, &told("123456789012"), now());
        assert_eq!(here.decision.name(), decision, "{what}: {here:#?}");
        let there = decide(&target, &org, &told(REMOTE), now());
        assert_eq!(there.decision.name(), decision, "{what}: {there:#?}");
        let (here, there) = (incident_in(&here), incident_in(&there));
        assert_eq!(here.len(), 1, "{what}");
        assert!(
            here[0].contains("123456789012") && !here[0].contains(REMOTE),
            "{what}: {here:?}"
        );
        assert!(
            there[0].contains(REMOTE),
            "{what}: the remote caller's own key: {there:?}"
        );
        // A third account's key, or STS not told: an incident only, in neither.
        for facts in [told("777777777777"), Facts::default()] {
            let p = decide(&target, &org, &facts, now());
            assert_eq!(p.decision.name(), "foreign_account", "{what}: {p:#?}");
        }
    }
    // A credential refused before anything is read asks nothing either.
    let mut foreign = called_from(user_finding());
    foreign["accountId"] = json!("222222222222");
    let t = event("aws.guardduty", foreign);
    let target = target(&t, &cfg(), "ev-1").unwrap();
    assert!(target.foreign.is_some());
    assert_eq!(target.credential().key_to_ask(&target.lookup()), None);
}

#[test]
fn a_members_runbook_starts_in_the_member_as_its_runbook_role_there() {
    const MEMBER: &str = "222222222222";
    let mut raw = user_finding();
    raw["accountId"] = json!(MEMBER);
    let t = event("aws.guardduty", raw);
    let runbook_of = |cfg: &TranslatorConfig| {
        let p = plan_with(cfg, &t, &facts(Some(KeyStatus::Active)));
        assert_eq!(p.decision.name(), "act", "{p:#?}");
        let step = p
            .steps
            .iter()
            .find(|s| s.action.name() == "start_runbook")
            .unwrap_or_else(|| panic!("{p:#?}"))
            .clone();
        let Action::StartRunbook {
            assume_role_arn, ..
        } = &step.action
        else {
            unreachable!()
        };
        (
            step.scope.map(|s| s.account.to_string()),
            assume_role_arn.clone(),
        )
    };
    let org = cfg_with(&[
        ("ORGANIZATION_MODE", "true"),
        (
            "AUTOMATION_ASSUME_ROLE_ARN",
            "arn:aws:iam::123456789012:role/keyguard-runbook",
        ),
    ]);
    assert_eq!(
        runbook_of(&org),
        (
            Some(MEMBER.to_owned()),
            Some(format!(
                "arn:aws:iam::{MEMBER}:role/keyguard-member-runbook"
            ))
        ),
        "started in the member, never as the home account's role"
    );
    let named = cfg_with(&[
        ("ORGANIZATION_MODE", "true"),
        ("MEMBER_RUNBOOK_ROLE_NAME", "sec-rotate"),
    ]);
    assert_eq!(
        runbook_of(&named).1.as_deref(),
        Some("arn:aws:iam::222222222222:role/sec-rotate")
    );
    // At home, the home role as configured.
    let home = plan_with(
        &org,
        &event("aws.guardduty", user_finding()),
        &facts(Some(KeyStatus::Active)),
    );
    assert!(home.steps.iter().any(|s| matches!(&s.action,
        Action::StartRunbook { assume_role_arn: Some(r), .. } if r.ends_with(":role/keyguard-runbook"))));
    let bad = TranslatorConfig::from_env(
        &env(&[
            ("RESPONSE_PLAN_ARN", PLAN_ARN),
            ("MEMBER_RUNBOOK_ROLE_NAME", "not a role"),
        ]),
        SelfIdentity::default(),
    )
    .unwrap_err();
    assert_eq!(bad.variable, "MEMBER_RUNBOOK_ROLE_NAME");
}
