use super::*;
use crate::events::parse;
use crate::guard::HandoffCheck;
use crate::key::RoleName;
use crate::notice::Severity;
use crate::plan::{Action, Decision, Plan};
use crate::report::Report;
use crate::scope::AccountId;
use crate::{Timestamp, Trigger};
use serde_json::json;
use std::collections::BTreeMap;

const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SESSION_KEY: &str = "ASIA5ZXAKGI33TI7QQGW";
const HOME: &str = "111111111111";
const OTHER: &str = "222222222222";

fn me() -> SelfIdentity {
    SelfIdentity {
        key_id: Some("ASIAKEYGUARDSELF0001".into()),
        user: None,
        role: Some("keyguard-deactivate-key".into()),
        account: Some(AccountId::parse(HOME).unwrap()),
    }
}

fn cfg() -> ContainmentConfig {
    cfg_with(&[], me())
}

/// The containment's own steps: the sweep that follows them (`trail`, on by default) is
/// tested there, so it is off here unless a test turns it on.
fn cfg_with(env: &[(&str, &str)], identity: SelfIdentity) -> ContainmentConfig {
    let mut env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.entry("LOOKBACK_HOURS".into())
        .or_insert_with(|| "0".into());
    ContainmentConfig::from_env(&|k: &str| env.get(k).cloned(), identity).unwrap()
}

/// The plan for a trigger, a hand-off counted as authenticated.
fn plan_with(t: &Trigger, cfg: &ContainmentConfig, facts: &Facts) -> Plan {
    match target(t, cfg, "ev-1", Some(&HandoffCheck::Verified)) {
        Ok(target) => {
            let all = vec![facts.clone(); target.credentials.len()];
            decide(&target, cfg, &all, now())
        }
        Err(plan) => *plan,
    }
}

fn trigger(v: serde_json::Value) -> Trigger {
    parse(v.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn cloudtrail(identity: serde_json::Value, source: &str) -> Trigger {
    trigger(json!({
        "version": "0", "id": "ev-1", "detail-type": "AWS API Call via CloudTrail", "source": source, "account": HOME,
        "detail": {"eventName": "RunInstances", "eventSource": "ec2.amazonaws.com", "userIdentity": identity}
    }))
}

fn iam_user(user: &str, key: &str) -> serde_json::Value {
    json!({"type": "IAMUser", "userName": user, "accessKeyId": key, "accountId": HOME, "arn": format!("arn:aws:iam::{HOME}:user/{user}")})
}

fn handoff(mut v: serde_json::Value) -> Trigger {
    if v.get("accountId").is_none() {
        v["accountId"] = json!(HOME);
    }
    trigger(v)
}

fn active(user: &str) -> Facts {
    Facts {
        owner: Some(UserName::parse(user).unwrap()),
        exists: true,
        key_status: Some(KeyStatus::Active),
        tags: BTreeMap::new(),
        ..Facts::default()
    }
}

/// What gather reads with the default guard and no session revocation.
fn no_sessions() -> super::Reads<'static> {
    static CFG: std::sync::LazyLock<ContainmentConfig> = std::sync::LazyLock::new(cfg);
    super::Reads {
        sessions_policy: None,
        guard: &CFG.guard,
    }
}

fn plan_for(t: &Trigger, facts: &Facts) -> Plan {
    plan_with(t, &cfg(), facts)
}

fn now() -> Timestamp {
    crate::parse_time("2026-11-23T12:00:00Z").unwrap()
}

fn status(plan: &Plan) -> u16 {
    Report::new(plan.clone(), false, Vec::new()).status_code
}

/// The first step's action of a plan that contains a user's key: exactly that step, then
/// the revocation of that user's sessions issued before now, nothing else.
fn contained_action(plan: &Plan) -> &Action {
    assert_eq!(plan.steps.len(), 2, "{plan:#?}");
    let user = plan.steps[0].action.user().expect("a user's key");
    assert_eq!(
        plan.steps[1].action,
        Action::RevokeSessions {
            principal: Principal::User(user.clone()),
            issued_before: now(),
            policy_name: "keyguard-revoke-older-sessions".into(),
            key_id: plan.steps[0].action.key_id().cloned(),
        },
        "{plan:#?}"
    );
    &plan.steps[0].action
}

fn only_action(plan: &Plan) -> &Action {
    assert_eq!(plan.steps.len(), 1, "{plan:#?}");
    &plan.steps[0].action
}

#[test]
fn active_long_term_key_deactivates_exactly_that_key() {
    let plan = plan_for(&cloudtrail(iam_user("bob", KEY), "aws.ec2"), &active("bob"));
    assert_eq!(plan.decision, Decision::Act);
    assert_eq!(
        contained_action(&plan),
        &Action::DeactivateKey {
            user: UserName::parse("bob").unwrap(),
            key_id: AccessKeyId::parse(KEY).unwrap()
        }
    );
    assert_eq!(
        plan.steps[0].idempotency_key,
        format!("deactivate-key:deactivate_key:{HOME}:{KEY}:ev-1")
    );
}

#[test]
fn decisions_by_facts() {
    let t = cloudtrail(iam_user("bob", KEY), "aws.ec2");
    let mut tagged = active("bob");
    tagged.tags.insert("keyguard:exempt".into(), "TRUE".into());
    let mut other_tag = active("bob");
    other_tag
        .tags
        .insert("keyguard:exempt".into(), "false".into());
    let cases: Vec<(&str, Facts, u16, usize)> = vec![
        // Containing: the key, then the user's older sessions.
        ("active", active("bob"), 200, 2),
        // The sessions still, so a retry after a failed revocation makes it.
        (
            "inactive",
            Facts {
                key_status: Some(KeyStatus::Inactive),
                ..active("bob")
            },
            200,
            1,
        ),
        (
            "not the user's key",
            Facts {
                key_status: None,
                ..active("bob")
            },
            404,
            1,
        ),
        (
            "no such user",
            Facts {
                exists: false,
                key_status: None,
                ..active("bob")
            },
            404,
            1,
        ),
        ("no owner", Facts::default(), 404, 1),
        (
            "expired is not inactive",
            Facts {
                key_status: Some(KeyStatus::Expired),
                ..active("bob")
            },
            200,
            2,
        ),
        ("exempt by tag, any case", tagged, 403, 1),
        ("tag present but false", other_tag, 200, 2),
    ];
    for (name, facts, code, steps) in cases {
        let plan = plan_for(&t, &facts);
        assert_eq!(status(&plan), code, "{name}: {plan:#?}");
        assert_eq!(plan.steps.len(), steps, "{name}");
        if code == 403 || code == 404 {
            assert!(
                matches!(only_action(&plan), Action::Notify { .. }),
                "{name}: a refusal or a key nobody holds only notifies, never silently"
            );
        }
    }
    let inactive = plan_for(
        &t,
        &Facts {
            key_status: Some(KeyStatus::Inactive),
            ..active("bob")
        },
    );
    assert_eq!(inactive.decision, Decision::AlreadyContained);
}

#[test]
fn exempt_users_and_self_are_never_written() {
    let cfg = cfg_with(
        &[("EXEMPT_USERS", "breakglass, ops-admin")],
        SelfIdentity {
            user: Some("keyguard-bot".into()),
            ..me()
        },
    );
    // Names compare regardless of case, as IAM's do.
    for user in [
        "breakglass",
        "BreakGlass",
        "ops-admin",
        "keyguard-bot",
        "KEYGUARD-BOT",
    ] {
        let t = cloudtrail(iam_user(user, KEY), "aws.ec2");
        let plan = plan_with(&t, &cfg, &active(user));
        assert!(matches!(plan.decision, Decision::Refused { .. }), "{user}");
        assert!(
            plan.steps
                .iter()
                .all(|s| matches!(s.action, Action::Notify { .. })),
            "{user}"
        );
    }
    // keyguard's own key, whoever the event says owns it.
    let t = handoff(json!({"accessKeyId": "ASIAKEYGUARDSELF0001", "roleName": "someone-else"}));
    let plan = plan_for(
        &t,
        &Facts {
            exists: true,
            ..Facts::default()
        },
    );
    assert!(
        matches!(plan.decision, Decision::Refused { .. }),
        "{plan:#?}"
    );
}

#[test]
fn temporary_keys_revoke_their_principals_sessions() {
    let role_identity = json!({
        "type": "AssumedRole", "accessKeyId": SESSION_KEY,
        "arn": format!("arn:aws:sts::{HOME}:assumed-role/app-role/i-123"),
        "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "app-role", "accountId": HOME}}
    });
    let exists = Facts {
        exists: true,
        ..Facts::default()
    };
    let plan = plan_for(&cloudtrail(role_identity, "aws.ec2"), &exists);
    assert_eq!(
        only_action(&plan),
        &Action::RevokeSessions {
            principal: Principal::Role(RoleName::parse("app-role").unwrap()),
            issued_before: now(),
            policy_name: "keyguard-revoke-older-sessions".into(),
            key_id: Some(AccessKeyId::parse(SESSION_KEY).unwrap()),
        }
    );
    assert_eq!(
        plan.steps[0].idempotency_key,
        format!("deactivate-key:revoke_sessions:{HOME}:role/app-role:ev-1")
    );
    // Without a session issuer the role comes from the ARN.
    let arn_only = json!({"type": "AssumedRole", "accessKeyId": SESSION_KEY, "accountId": HOME, "arn": "arn:aws:sts::1:assumed-role/from-arn/s"});
    let plan = plan_for(&cloudtrail(arn_only, "aws.ec2"), &exists);
    assert!(
        matches!(only_action(&plan), Action::RevokeSessions { principal: Principal::Role(r), .. } if r.as_str() == "from-arn")
    );
    // An IAM user's GetSessionToken key: the user's sessions.
    let plan = plan_for(
        &cloudtrail(iam_user("carol", SESSION_KEY), "aws.ec2"),
        &exists,
    );
    assert!(
        matches!(only_action(&plan), Action::RevokeSessions { principal: Principal::User(u), .. } if u.as_str() == "carol")
    );
    assert_eq!(
        only_action(&plan).iam_permissions(),
        &["iam:GetUserPolicy", "iam:PutUserPolicy"]
    );
    // Missing role; keyguard's own role; an exempt role.
    let plan = plan_for(
        &handoff(json!({"accessKeyId": SESSION_KEY, "roleName": "gone"})),
        &Facts::default(),
    );
    assert_eq!(status(&plan), 404);
    let plan = plan_for(
        &handoff(json!({"accessKeyId": SESSION_KEY, "roleName": "keyguard-deactivate-key"})),
        &exists,
    );
    assert_eq!(status(&plan), 403);
    let cfg = cfg_with(&[("EXEMPT_ROLES", "OrganizationAccountAccessRole")], me());
    let t =
        handoff(json!({"accessKeyId": SESSION_KEY, "roleName": "organizationaccountaccessrole"}));
    let plan = plan_with(&t, &cfg, &exists);
    assert!(matches!(plan.decision, Decision::Refused { .. }));
    // A session key with nobody named.
    let plan = plan_for(&handoff(json!({"accessKeyId": SESSION_KEY})), &exists);
    assert_eq!(status(&plan), 400);
}

#[test]
fn root_and_other_identities_only_notify() {
    let root = json!({"type": "Root", "accessKeyId": KEY, "accountId": HOME, "arn": "arn:aws:iam::1:root"});
    let plan = plan_for(&cloudtrail(root, "aws.ec2"), &Facts::default());
    assert!(matches!(plan.decision, Decision::NotContainable { .. }));
    assert!(
        matches!(only_action(&plan), Action::Notify { notice } if notice.severity == Severity::Critical)
    );
    assert_eq!(status(&plan), 403);
    let fed = json!({"type": "FederatedUser", "accessKeyId": SESSION_KEY, "accountId": HOME});
    let plan = plan_for(&cloudtrail(fed, "aws.ec2"), &Facts::default());
    assert!(matches!(plan.decision, Decision::NotContainable { .. }));
    assert!(matches!(only_action(&plan), Action::Notify { .. }));
}

#[test]
fn untrusted_sources_are_refused_unless_configured() {
    let t = cloudtrail(iam_user("bob", KEY), "custom.guardduty.simulation");
    let plan = plan_for(&t, &active("bob"));
    assert!(
        matches!(&plan.decision, Decision::Refused { why } if why.contains("custom.guardduty.simulation"))
    );
    assert!(plan.steps.is_empty());
    let cfg = cfg_with(
        &[("TRUSTED_CUSTOM_SOURCES", "custom.guardduty.simulation")],
        me(),
    );
    assert!(target(&t, &cfg, "e", None).is_ok());
}

#[test]
fn invalid_key_ids_in_aws_records() {
    for (key, why) in [
        (None, "names no access key"),
        (Some("EXAMPLE_KEY"), "20 characters"),
        (Some("AIDAQRSTUVWXYZEXAMPL"), "AKIA"),
    ] {
        let mut identity = json!({"type": "IAMUser", "userName": "bob", "accountId": HOME});
        if let Some(k) = key {
            identity["accessKeyId"] = json!(k);
        }
        let plan = plan_for(&cloudtrail(identity, "aws.ec2"), &active("bob"));
        assert!(
            matches!(&plan.decision, Decision::Invalid { why: w } if w.contains(why)),
            "{key:?}: {plan:#?}"
        );
        assert_eq!(status(&plan), 400);
    }
}

#[test]
fn guardduty_findings() {
    let finding = |user_type: &str, key: &str, user: &str, sample: bool| {
        trigger(json!({
            "version": "0", "id": "gd-ev", "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
            "detail": {"id": "f-1", "accountId": HOME, "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 8,
                       "resource": {"resourceType": "AccessKey", "accessKeyDetails": {"accessKeyId": key, "userName": user, "userType": user_type}},
                       "service": {"additionalInfo": {"sample": sample}}}
        }))
    };
    let plan = plan_for(&finding("IAMUser", KEY, "bob", false), &active("bob"));
    assert!(matches!(
        contained_action(&plan),
        Action::DeactivateKey { .. }
    ));
    let plan = plan_for(
        &finding("AssumedRole", SESSION_KEY, "ec2-role", false),
        &Facts {
            exists: true,
            ..Facts::default()
        },
    );
    assert!(matches!(
        only_action(&plan),
        Action::RevokeSessions {
            principal: Principal::Role(_),
            ..
        }
    ));
    let plan = plan_for(&finding("Root", KEY, "root", false), &Facts::default());
    assert!(matches!(plan.decision, Decision::NotContainable { .. }));
    let plan = plan_for(&finding("IAMUser", KEY, "bob", true), &active("bob"));
    assert!(matches!(plan.decision, Decision::Ignored { .. }));
    assert!(plan.steps.is_empty());
}

#[test]
fn health_events() {
    let health = |code: &str, key: &str, user: Option<&str>| {
        let mut detail = json!({"eventTypeCode": code, "affectedEntities": [{"entityValue": key}]});
        if let Some(u) = user {
            detail["eventMetadata"] = json!({"userName": u});
        }
        trigger(
            json!({"version": "0", "id": "h-1", "detail-type": "AWS Health Event", "source": "aws.health", "account": HOME, "detail": detail}),
        )
    };
    let t = health("AWS_RISK_CREDENTIALS_EXPOSED", KEY, Some("test-1"));
    let cfg = cfg();
    let target = target(&t, &cfg, "h-1", None).unwrap();
    assert_eq!(
        target.lookups()[0],
        Lookup::UserKey {
            key_id: AccessKeyId::parse(KEY).unwrap(),
            user: Some(UserName::parse("test-1").unwrap())
        }
    );
    // Without a user name the adapter must find the owner from the key.
    let t = health("AWS_RISK_CREDENTIALS_EXPOSED", KEY, None);
    assert_eq!(
        super::target(&t, &cfg, "h-1", None).unwrap().lookups()[0],
        Lookup::UserKey {
            key_id: AccessKeyId::parse(KEY).unwrap(),
            user: None
        }
    );
    let plan = plan_for(
        &health("AWS_EC2_HEALTH_TEST_EVENT", KEY, None),
        &Facts::default(),
    );
    assert!(matches!(plan.decision, Decision::Ignored { .. }));
    let plan = plan_for(
        &health("AWS_RISK_CREDENTIALS_EXPOSED", "ACCESS_KEY_ID_HERE", None),
        &Facts::default(),
    );
    assert_eq!(status(&plan), 400);
}

#[test]
fn a_contained_user_key_ends_the_users_older_sessions_after_the_key() {
    let t = cloudtrail(iam_user("bob", KEY), "aws.ec2");
    // Off: the key alone.
    let off = cfg_with(&[("REVOKE_USER_SESSIONS", "false")], me());
    let plan = plan_with(&t, &off, &active("bob"));
    assert!(matches!(only_action(&plan), Action::DeactivateKey { .. }));
    let bad = ContainmentConfig::from_env(
        &|k: &str| (k == "REVOKE_USER_SESSIONS").then(|| "maybe".to_owned()),
        me(),
    );
    assert!(bad
        .unwrap_err()
        .to_string()
        .contains("REVOKE_USER_SESSIONS"));
    // The revocation is the user's, for this key: its permissions and ledger row say so,
    // and the policy name is the configured one.
    let named = cfg_with(&[("REVOKE_POLICY_NAME", "ir-revoke")], me());
    let plan = plan_with(&t, &named, &active("bob"));
    assert_eq!(plan.steps.len(), 2, "{plan:#?}");
    assert_eq!(
        plan.steps[1].action.iam_permissions(),
        &["iam:GetUserPolicy", "iam:PutUserPolicy"]
    );
    assert_eq!(
        plan.steps[1].idempotency_key,
        format!("deactivate-key:revoke_sessions:{HOME}:user/bob/{KEY}:ev-1")
    );
    assert_eq!(
        plan.steps[1].after.as_ref(),
        Some(&plan.steps[0].idempotency_key)
    );
    assert!(
        matches!(&plan.steps[1].action, Action::RevokeSessions { policy_name, .. } if policy_name == "ir-revoke")
    );
    // A Health event naming two keys of one user: each key, then the sessions after it,
    // so a key whose deactivation fails holds its revocation back for the retry.
    let second = "AKIAI44QH8DHBEXAMPLE";
    let two = trigger(
        json!({"version": "0", "id": "h-2", "detail-type": "AWS Health Event", "source": "aws.health", "account": HOME,
        "detail": {"eventTypeCode": "AWS_RISK_CREDENTIALS_EXPOSED", "affectedEntities": [{"entityValue": KEY}, {"entityValue": second}],
                   "eventMetadata": {"userName": "bob"}}}),
    );
    let plan = plan_for(&two, &active("bob"));
    let names: Vec<&str> = plan.steps.iter().map(|s| s.action.name()).collect();
    assert_eq!(
        names,
        [
            "deactivate_key",
            "revoke_sessions",
            "deactivate_key",
            "revoke_sessions"
        ],
        "{plan:#?}"
    );
    for pair in plan.steps.chunks(2) {
        assert_eq!(pair[1].after.as_ref(), Some(&pair[0].idempotency_key));
    }
    // A refused user's sessions are as untouched as its key.
    let exempt = cfg_with(&[("EXEMPT_USERS", "bob")], me());
    let plan = plan_with(&t, &exempt, &active("bob"));
    assert!(matches!(only_action(&plan), Action::Notify { .. }));
}

#[test]
fn an_inactive_key_last_used_before_the_cut_off_in_force_leaves_the_sessions_alone() {
    let t = cloudtrail(iam_user("bob", KEY), "aws.ec2");
    let at = |s: &str| crate::parse_time(s).unwrap();
    let inactive = |used: Option<&str>, cut: Option<&str>| Facts {
        key_status: Some(KeyStatus::Inactive),
        last_used: used.map(at),
        sessions_denied_before: cut.map(at),
        ..active("bob")
    };
    // Every session it minted is already denied: a new event about it moves nothing.
    let covered = plan_for(
        &t,
        &inactive(Some("2026-11-23T09:00:00Z"), Some("2026-11-23T10:00:00Z")),
    );
    assert_eq!(covered.decision, Decision::AlreadyContained);
    assert!(covered.steps.is_empty(), "{covered:#?}");
    // Used since the cut-off (someone re-activated it), no cut-off yet, or no use
    // recorded (the record trails a use): revoked.
    for facts in [
        inactive(Some("2026-11-23T10:00:01Z"), Some("2026-11-23T10:00:00Z")),
        // A last use on the whole minute may be one IAM rounded down: up to 59 s later.
        inactive(Some("2026-11-23T09:59:00Z"), Some("2026-11-23T09:59:30Z")),
        inactive(Some("2026-11-23T09:00:00Z"), None),
        inactive(None, Some("2026-11-23T10:00:00Z")),
    ] {
        let plan = plan_for(&t, &facts);
        assert_eq!(plan.decision, Decision::AlreadyContained);
        assert!(
            matches!(only_action(&plan), Action::RevokeSessions { .. }),
            "{facts:?}"
        );
    }
    // An Active key is deactivated and revoked whatever the cut-off says.
    let plan = plan_for(
        &t,
        &Facts {
            key_status: Some(KeyStatus::Active),
            ..inactive(Some("2026-11-23T09:00:00Z"), Some("2026-11-23T10:00:00Z"))
        },
    );
    assert!(matches!(
        contained_action(&plan),
        Action::DeactivateKey { .. }
    ));
}

#[test]
fn every_health_risk_code_has_its_decision() {
    let health = |code: &str, entity: &str| {
        trigger(
            json!({"version": "0", "id": "h-1", "detail-type": "AWS Health Event", "source": "aws.health", "account": HOME,
            "detail": {"service": "RISK", "eventTypeCode": code, "affectedEntities": [{"entityValue": entity}], "eventMetadata": {"userName": "bob"}}}),
        )
    };
    // The codes about a key contain exactly the key they name.
    for code in [
        "AWS_RISK_CREDENTIALS_EXPOSED",
        "AWS_RISK_CREDENTIALS_EXPOSURE_SUSPECTED",
        "AWS_RISK_CREDENTIALS_COMPROMISED",
        "AWS_RISK_CREDENTIALS_COMPROMISE_SUSPECTED",
        "AWS_RISK_IAM_QUARANTINE",
    ] {
        let plan = plan_for(&health(code, KEY), &active("bob"));
        assert_eq!(plan.decision, Decision::Act, "{code}");
        assert!(
            matches!(contained_action(&plan), Action::DeactivateKey { key_id, .. } if key_id.as_str() == KEY),
            "{code}"
        );
    }
    // A quarantine that names the user but no key: told, never every key of the user.
    let plan = plan_for(&health("AWS_RISK_IAM_QUARANTINE", "bob"), &active("bob"));
    assert!(
        matches!(plan.decision, Decision::NotContainable { .. }),
        "{plan:#?}"
    );
    assert!(matches!(only_action(&plan), Action::Notify { .. }));
    // Any other code naming no key is still a malformed event, not a notice.
    let plan = plan_for(
        &health("AWS_RISK_CREDENTIALS_COMPROMISED", "bob"),
        &active("bob"),
    );
    assert_eq!(status(&plan), 400, "{plan:#?}");
    // A console compromise names no key: a notice naming the account, nothing written.
    let plan = plan_for(
        &health("AWS_RISK_ACCOUNT_CONSOLE_COMPROMISE", HOME),
        &active("bob"),
    );
    assert!(
        matches!(plan.decision, Decision::NotContainable { .. }),
        "{plan:#?}"
    );
    assert!(
        matches!(only_action(&plan), Action::Notify { notice } if notice.facts["account"] == HOME),
        "{plan:#?}"
    );
    // A code keyguard does not know, even a RISK one: nothing.
    let plan = plan_for(&health("AWS_RISK_SOMETHING_NEW", KEY), &active("bob"));
    assert!(matches!(plan.decision, Decision::Ignored { .. }));
    assert!(plan.steps.is_empty());
}

#[test]
fn a_cloudtrail_record_without_a_caller_names_no_credential() {
    let t = trigger(
        json!({"version": "0", "id": "ev-1", "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2", "account": HOME,
        "detail": {"eventName": "RunInstances", "eventSource": "ec2.amazonaws.com", "eventType": "AwsServiceEvent"}}),
    );
    let plan = plan_for(&t, &active("bob"));
    assert!(
        matches!(plan.decision, Decision::Ignored { .. }),
        "{plan:#?}"
    );
    assert!(plan.steps.is_empty());
}

#[test]
fn handoff_carries_its_classifier_source() {
    let t = handoff(
        json!({"accessKeyId": KEY, "userName": "bob", "classifierSource": "createkey-detector/backdoor-key", "eventId": "ct-9"}),
    );
    let cfg = cfg();
    let target = target(&t, &cfg, "ct-9", Some(&HandoffCheck::Verified)).unwrap();
    let plan = decide(&target, &cfg, &[active("bob")], now());
    assert_eq!(
        plan.classifier_source.as_deref(),
        Some("createkey-detector/backdoor-key")
    );
    assert!(plan.steps[0]
        .reason
        .contains("createkey-detector/backdoor-key"));
}

#[test]
fn other_triggers_are_ignored() {
    let t = trigger(
        json!({"version": "0", "id": "s", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}),
    );
    assert!(matches!(
        plan_for(&t, &Facts::default()).decision,
        Decision::Ignored { .. }
    ));
    let t = trigger(
        json!({"Step": "createSecret", "SecretId": "s", "ClientRequestToken": "7f9c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"}),
    );
    assert_eq!(status(&plan_for(&t, &Facts::default())), 200);
}

#[test]
fn same_event_same_idempotency_keys() {
    let raw = json!({"accessKeyId": KEY, "userName": "bob", "accountId": HOME});
    let t = handoff(raw.clone());
    let a = crate::event_ref(&t, &raw);
    let b = crate::event_ref(&handoff(raw.clone()), &raw);
    assert_eq!(a, b);
    let other = json!({"accessKeyId": KEY, "userName": "bobby", "accountId": HOME});
    assert_ne!(a, crate::event_ref(&handoff(other.clone()), &other));
}

#[test]
fn another_accounts_credential_is_never_acted_on_here() {
    let exists = Facts {
        exists: true,
        ..Facts::default()
    };
    // A CloudTrail record whose identity is another account's.
    let mut other_user = iam_user("Admin", KEY);
    other_user["accountId"] = json!(OTHER);
    let plan = plan_for(&cloudtrail(other_user, "aws.ec2"), &active("Admin"));
    assert_eq!(plan.decision.name(), "foreign_account", "{plan:#?}");
    assert_eq!(status(&plan), 403);
    assert!(
        matches!(only_action(&plan), Action::Notify { notice } if notice.facts["account"] == OTHER)
    );
    // A role session issued in another account, delivered to ours.
    let session = json!({"type": "AssumedRole", "accessKeyId": SESSION_KEY, "accountId": HOME,
        "arn": format!("arn:aws:sts::{OTHER}:assumed-role/Admin/s"),
        "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "Admin", "accountId": OTHER}}});
    let plan = plan_for(&cloudtrail(session, "aws.sts"), &exists);
    assert_eq!(plan.decision.name(), "foreign_account");
    assert!(plan
        .steps
        .iter()
        .all(|s| matches!(s.action, Action::Notify { .. })));
    // A delegated administrator's copy of a member's finding.
    let finding = trigger(json!({
        "version": "0", "id": "gd", "detail-type": "GuardDuty Finding", "source": "aws.guardduty", "account": HOME,
        "detail": {"id": "f", "accountId": OTHER, "type": "UnauthorizedAccess:IAMUser/X", "severity": 8,
                   "resource": {"resourceType": "AccessKey", "accessKeyDetails": {"accessKeyId": SESSION_KEY, "userName": "Admin", "userType": "AssumedRole"}}}
    }));
    assert_eq!(
        plan_for(&finding, &exists).decision.name(),
        "foreign_account"
    );
    // A hand-off naming another account; and one with no account at all is invalid.
    let h = handoff(json!({"accessKeyId": KEY, "userName": "bob", "accountId": OTHER}));
    assert_eq!(
        plan_for(&h, &active("bob")).decision.name(),
        "foreign_account"
    );
    // keyguard that does not know its own account acts nowhere.
    let blind = cfg_with(
        &[],
        SelfIdentity {
            account: None,
            ..me()
        },
    );
    let plan = plan_with(
        &cloudtrail(iam_user("bob", KEY), "aws.ec2"),
        &blind,
        &active("bob"),
    );
    assert_eq!(plan.decision.name(), "foreign_account");
    // And no lookup is made for a foreign credential.
    let t = target(&h, &cfg(), "e", Some(&HandoffCheck::Verified)).unwrap();
    assert_eq!(t.lookups(), vec![Lookup::Nothing]);
}

#[test]
fn organisation_mode_acts_in_the_members_account_and_names_it_everywhere() {
    let in_org = |env: &[(&str, &str)]| {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        cfg().in_organization(
            crate::organization::Organization::from_env(&|k: &str| env.get(k).cloned()).unwrap(),
        )
    };
    // Read by deactivate-key alone: the shared configuration never turns it on.
    let shared = cfg_with(&[("ORGANIZATION_MODE", "true")], me());
    let h = handoff(json!({"accessKeyId": KEY, "userName": "bob", "accountId": OTHER}));
    assert_eq!(
        plan_with(&h, &shared, &active("bob")).decision.name(),
        "foreign_account"
    );
    let org = in_org(&[("ORGANIZATION_MODE", "true")]);
    let plan = plan_with(&h, &org, &active("bob"));
    assert_eq!(plan.decision, Decision::Act, "{plan:#?}");
    let contained = plan
        .steps
        .iter()
        .find(|s| matches!(s.action, Action::DeactivateKey { .. }))
        .unwrap();
    assert_eq!(contained.scope.as_ref().unwrap().account.as_str(), OTHER);
    assert!(contained.idempotency_key.contains(OTHER), "{contained:#?}");
    // The same key id and user in keyguard's own account is another step, never this one.
    let home = handoff(json!({"accessKeyId": KEY, "userName": "bob", "accountId": HOME}));
    let at_home = plan_with(&home, &org, &active("bob"));
    let home_key = at_home
        .steps
        .iter()
        .find(|s| matches!(s.action, Action::DeactivateKey { .. }))
        .unwrap();
    assert_ne!(home_key.idempotency_key, contained.idempotency_key);
    // The organisation does not have the account: a notice, nothing else.
    let outside = Facts {
        outside: Some(format!(
            "account {OTHER} is not an account of keyguard's organisation"
        )),
        ..Facts::default()
    };
    let plan = plan_with(&h, &org, &outside);
    assert_eq!(plan.decision.name(), "foreign_account");
    assert!(plan
        .steps
        .iter()
        .all(|s| matches!(s.action, Action::Notify { .. })));
    // A member's exemption tag that keyguard never saw set is not believed; at home it is.
    let tagged = Facts {
        tags: [("keyguard:exempt".to_owned(), "true".to_owned())].into(),
        ..active("bob")
    };
    assert_eq!(plan_with(&h, &org, &tagged).decision, Decision::Act);
    assert_eq!(plan_with(&home, &org, &tagged).decision.name(), "refused");
    // Outside MEMBER_ACCOUNTS: refused before anything is read.
    let listed = cfg_with(
        &[
            ("ORGANIZATION_MODE", "true"),
            ("MEMBER_ACCOUNTS", "333333333333"),
        ],
        me(),
    );
    let t = target(&h, &listed, "e", Some(&HandoffCheck::Verified)).unwrap();
    assert_eq!(t.lookups(), vec![Lookup::Nothing]);
    assert_eq!(
        plan_with(&h, &listed, &active("bob")).decision.name(),
        "foreign_account"
    );
}

#[test]
fn only_enveloped_events_and_authenticated_hand_offs_are_believed() {
    let bare = trigger(
        json!({"eventName": "RunInstances", "eventSource": "ec2.amazonaws.com",
        "userIdentity": iam_user("bob", KEY)}),
    );
    let plan = plan_for(&bare, &active("bob"));
    assert_eq!(plan.decision.name(), "refused");
    assert!(plan.steps.is_empty());
    let bare_finding = trigger(json!({"id": "f", "schemaVersion": "2.0", "accountId": HOME,
        "type": "UnauthorizedAccess:IAMUser/X", "severity": 8,
        "resource": {"resourceType": "AccessKey", "accessKeyDetails": {"accessKeyId": KEY, "userName": "bob", "userType": "IAMUser"}}}));
    assert_eq!(
        plan_for(&bare_finding, &active("bob")).decision.name(),
        "refused"
    );
    let h = handoff(json!({"accessKeyId": KEY, "userName": "bob"}));
    for check in [
        None,
        Some(HandoffCheck::Rejected("its mac does not verify".into())),
    ] {
        let plan = *target(&h, &cfg(), "e", check.as_ref()).unwrap_err();
        assert_eq!(plan.decision.name(), "refused", "{check:?}");
        assert!(plan.steps.is_empty());
    }
    // Even an authenticated hand-off never revokes a keyguard principal.
    for role in crate::guard::DEFAULT_KEYGUARD_ROLES {
        let h = handoff(json!({"accessKeyId": SESSION_KEY, "roleName": role.to_ascii_uppercase()}));
        let plan = plan_for(
            &h,
            &Facts {
                exists: true,
                ..Facts::default()
            },
        );
        assert_eq!(plan.decision.name(), "refused", "{role}");
        assert!(plan
            .steps
            .iter()
            .all(|s| matches!(s.action, Action::Notify { .. })));
    }
}

#[test]
fn every_exposed_key_of_a_health_event_is_contained_in_any_order() {
    const SECOND: &str = "AKIAIOSFODNN7SECOND1";
    let t = trigger(
        json!({"version": "0", "id": "h-2", "detail-type": "AWS Health Event", "source": "aws.health", "account": HOME,
        "detail": {"eventTypeCode": "AWS_RISK_CREDENTIALS_EXPOSED",
                   "affectedEntities": [{"entityValue": HOME}, {"entityValue": KEY}, {"entityValue": SECOND}, {"entityValue": KEY}]}}),
    );
    let plan = plan_for(&t, &active("bob"));
    let keys: Vec<&str> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::DeactivateKey { key_id, .. } => Some(key_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(keys, [KEY, SECOND], "{plan:#?}");
    assert_ne!(plan.steps[0].idempotency_key, plan.steps[1].idempotency_key);
    assert_eq!(plan.decision, Decision::Act);
    // Its organisational view names the member account.
    let org = trigger(
        json!({"version": "0", "id": "h-3", "detail-type": "AWS Health Event", "source": "aws.health", "account": HOME,
        "detail": {"eventTypeCode": "AWS_RISK_CREDENTIALS_EXPOSED", "affectedAccount": OTHER, "affectedEntities": [{"entityValue": KEY}]}}),
    );
    assert_eq!(
        plan_for(&org, &active("bob")).decision.name(),
        "foreign_account"
    );
}

/// IAM as an eventually consistent reader: the first listing of each user hides the key.
struct Lagging {
    owner: &'static str,
    reads: std::sync::Mutex<u32>,
    paused: std::sync::Mutex<Vec<std::time::Duration>>,
}

impl IamReader for Lagging {
    async fn canary_denied(&self, _: &UserName) -> Result<bool, crate::EffectError> {
        Ok(false)
    }
    async fn key_owner(&self, key: &AccessKeyId) -> Result<Option<UserName>, crate::EffectError> {
        let seen = *self.reads.lock().unwrap() >= 2;
        Ok((key.as_str() == KEY && seen).then(|| UserName::parse(self.owner).unwrap()))
    }
    async fn user_keys(&self, user: &UserName) -> Result<Option<UserKeys>, crate::EffectError> {
        let mut reads = self.reads.lock().unwrap();
        *reads += 1;
        if !user.as_str().eq_ignore_ascii_case(self.owner) {
            return Ok(Some(UserKeys {
                user: Some(user.clone()),
                keys: vec![],
            }));
        }
        let keys = if *reads > 2 {
            vec![(KEY.to_owned(), KeyStatus::Active)]
        } else {
            vec![]
        };
        Ok(Some(UserKeys {
            user: Some(UserName::parse(self.owner).unwrap()),
            keys,
        }))
    }
    async fn tags(
        &self,
        _: &Principal,
    ) -> Result<Option<BTreeMap<String, String>>, crate::EffectError> {
        Ok(Some(BTreeMap::new()))
    }
    async fn key_last_used(
        &self,
        _: &AccessKeyId,
    ) -> Result<Option<crate::Timestamp>, crate::EffectError> {
        Ok(None)
    }
    async fn revocation_cut_off(
        &self,
        _: &Principal,
        _: &str,
    ) -> Result<Option<crate::Timestamp>, crate::EffectError> {
        Ok(None)
    }
    async fn pause(&self, wait: std::time::Duration) {
        self.paused.lock().unwrap().push(wait);
    }
}

#[test]
fn a_renamed_user_or_a_key_not_listed_yet_is_still_contained() {
    let lagging = |owner| Lagging {
        owner,
        reads: Default::default(),
        paused: Default::default(),
    };
    let recheck = cfg().recheck;
    // The hand-off names "admin", renamed to "admin-old" by the attacker; IAM lags too.
    let iam = lagging("admin-old");
    let lookup = Lookup::UserKey {
        key_id: AccessKeyId::parse(KEY).unwrap(),
        user: Some(UserName::parse("admin").unwrap()),
    };
    let facts = futures::executor::block_on(gather(&lookup, &iam, recheck, no_sessions())).unwrap();
    assert_eq!(
        facts.owner.as_ref().map(UserName::as_str),
        Some("admin-old")
    );
    assert_eq!(facts.key_status, Some(KeyStatus::Active));
    assert_eq!(
        facts.named_other.as_ref().map(UserName::as_str),
        Some("admin")
    );
    assert_eq!(
        *iam.paused.lock().unwrap(),
        vec![std::time::Duration::from_secs(3)],
        "not found is concluded only after a second read"
    );
    let plan = plan_for(
        &handoff(json!({"accessKeyId": KEY, "userName": "admin"})),
        &facts,
    );
    assert!(
        matches!(contained_action(&plan), Action::DeactivateKey { user, .. } if user.as_str() == "admin-old")
    );
    assert!(plan.steps[0].reason.contains("the event named admin"));
    // The name acted on is the one IAM returns, whatever case the event used.
    let iam = lagging("breakglass");
    let lookup = Lookup::UserKey {
        key_id: AccessKeyId::parse(KEY).unwrap(),
        user: Some(UserName::parse("BreakGlass").unwrap()),
    };
    let facts = futures::executor::block_on(gather(&lookup, &iam, recheck, no_sessions())).unwrap();
    assert_eq!(
        facts.owner.as_ref().map(UserName::as_str),
        Some("breakglass")
    );
    assert_eq!(facts.named_other, None, "the same user in another case");
    // Nobody holds it, twice: a notice, never silence.
    let nobody = Lagging {
        owner: "ghost",
        reads: std::sync::Mutex::new(0),
        paused: Default::default(),
    };
    let lookup = Lookup::UserKey {
        key_id: AccessKeyId::parse("AKIAIOSFODNN7NOBODY1").unwrap(),
        user: None,
    };
    let facts =
        futures::executor::block_on(gather(&lookup, &nobody, recheck, no_sessions())).unwrap();
    assert_eq!(facts.owner, None);
    assert_eq!(nobody.paused.lock().unwrap().len(), 1);
}

#[test]
fn a_finding_called_from_another_account_is_acted_on_only_as_sts_says() {
    // A role named Deploy used from another account: GuardDuty read our CloudTrail, so
    // the session is normally ours (an instance's credentials used from the remote
    // account), but a remote caller's own credential is named the same way. The target
    // is scoped to the finding's account and contested by the remote one.
    let raw = |remote: &str| {
        trigger(json!({
            "version": "0", "id": "gd", "detail-type": "GuardDuty Finding", "source": "aws.guardduty", "account": HOME,
            "detail": {"id": "f-remote", "accountId": HOME, "type": "UnauthorizedAccess:IAMUser/X", "severity": 8,
                       "resource": {"resourceType": "AccessKey", "accessKeyDetails": {"accessKeyId": SESSION_KEY, "userName": "Deploy", "userType": "AssumedRole"}},
                       "service": {"action": {"awsApiCallAction": {"remoteAccountDetails": {"accountId": remote, "affiliated": false}}}}}
        }))
    };
    let finding = raw(OTHER);
    let t = target(&finding, &cfg(), "ev", None).unwrap();
    let credential = &t.credentials[0];
    assert_eq!(credential.scope.as_ref().unwrap().account.as_str(), HOME);
    assert_eq!(credential.contested.as_ref().unwrap().as_str(), OTHER);
    assert_eq!(credential.foreign, None);
    let (home, other) = (
        AccountId::parse(HOME).unwrap(),
        AccountId::parse(OTHER).unwrap(),
    );
    let told = |owner: Option<&AccountId>| Facts {
        exists: true,
        key_account: owner.cloned(),
        ..Facts::default()
    };
    // STS says ours: read and contained here, as any session of ours.
    let plan = plan_for(&finding, &told(Some(&home)));
    let revoke = plan
        .steps
        .iter()
        .find(|s| matches!(&s.action, Action::RevokeSessions { .. }))
        .unwrap_or_else(|| panic!("{plan:#?}"));
    assert_eq!(revoke.scope.as_ref().unwrap().account, home);
    // STS says the remote account's: our Deploy role is someone else. It moves there,
    // and there keyguard (not in organisation mode) may not act.
    let plan = plan_for(&finding, &told(Some(&other)));
    assert_eq!(plan.decision.name(), "foreign_account", "{plan:#?}");
    let Decision::ForeignAccount { why } = &plan.decision else {
        unreachable!()
    };
    assert!(
        why.contains(&format!("belongs to account {OTHER}")),
        "{why}"
    );
    // In organisation mode it is contained in the remote account, as that account's.
    let org = cfg().in_organization(
        crate::organization::Organization::from_env(&|k: &str| {
            (k == "ORGANIZATION_MODE").then(|| "true".to_owned())
        })
        .unwrap(),
    );
    let plan = plan_with(&finding, &org, &told(Some(&other)));
    let revoke = plan
        .steps
        .iter()
        .find(|s| matches!(&s.action, Action::RevokeSessions { .. }))
        .unwrap_or_else(|| panic!("{plan:#?}"));
    assert_eq!(revoke.scope.as_ref().unwrap().account, other);
    // STS names a third account, or was never asked: acted on in neither.
    let third = AccountId::parse("333333333333").unwrap();
    for owner in [Some(&third), None] {
        for cfg in [cfg(), org.clone()] {
            let plan = plan_with(&finding, &cfg, &told(owner));
            assert_eq!(plan.decision.name(), "foreign_account", "{plan:#?}");
            assert!(plan
                .steps
                .iter()
                .all(|s| matches!(s.action, Action::Notify { .. })));
        }
    }
    // A remote account that is the finding's own contests nothing.
    let t = target(&raw(HOME), &cfg(), "ev", None).unwrap();
    assert_eq!(t.credentials[0].contested, None);
    // A malformed one is refused as such, not read past.
    let Err(early) = target(&raw("12345"), &cfg(), "ev", None) else {
        panic!("a malformed remote account was accepted")
    };
    assert_eq!(early.decision.name(), "invalid", "{early:#?}");
}

#[test]
fn a_canary_named_by_an_event_is_never_contained_while_it_can_do_nothing() {
    let t = cloudtrail(iam_user("keyguard-canary-ci", KEY), "aws.ec2");
    let mut canary = active("keyguard-canary-ci");
    canary.tags.insert("keyguard:canary".into(), "true".into());
    canary.canary = true;
    let plan = plan_for(&t, &canary);
    assert_eq!(status(&plan), 403, "{plan:#?}");
    let Action::Notify { notice } = only_action(&plan) else {
        panic!("{plan:#?}")
    };
    assert_eq!(notice.severity, crate::notice::Severity::Critical);
    assert!(notice.subject.contains("canary"), "{}", notice.subject);
    // The detector handing over a canary's key because it was just made: the check is
    // the news, at low severity.
    let issued = handoff(json!({"accessKeyId": KEY, "userName": "keyguard-canary-ci",
                                "classifierSource": "createkey-detector/canary-key-issued"}));
    let plan = plan_for(&issued, &canary);
    let Action::Notify { notice } = only_action(&plan) else {
        panic!("{plan:#?}")
    };
    assert_eq!(notice.severity, crate::notice::Severity::Low, "{notice:?}");
    // Its name and tag without the deny (or without the tag): it can act, so it is
    // contained like any other user.
    let lookalike = Facts {
        canary: false,
        ..canary
    };
    assert_eq!(plan_for(&t, &lookalike).decision, Decision::Act);
    assert_eq!(
        plan_for(&t, &active("keyguard-canary-ci")).decision,
        Decision::Act
    );
}

/// IAM as one user holding KEY: its tags, maybe keyguard's canary deny. It counts the
/// reads of who set an exemption tag.
struct OneUser {
    name: &'static str,
    tags: BTreeMap<String, String>,
    denied: bool,
    exemption_reads: std::sync::atomic::AtomicUsize,
}

impl OneUser {
    fn new(name: &'static str, tags: &[(&str, &str)], denied: bool) -> Self {
        Self {
            name,
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            denied,
            exemption_reads: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl IamReader for OneUser {
    async fn key_owner(&self, _: &AccessKeyId) -> Result<Option<UserName>, crate::EffectError> {
        Ok(Some(UserName::parse(self.name).unwrap()))
    }
    async fn user_keys(&self, user: &UserName) -> Result<Option<UserKeys>, crate::EffectError> {
        Ok(Some(UserKeys {
            user: Some(user.clone()),
            keys: vec![(KEY.to_owned(), KeyStatus::Active)],
        }))
    }
    async fn tags(
        &self,
        _: &Principal,
    ) -> Result<Option<BTreeMap<String, String>>, crate::EffectError> {
        Ok(Some(self.tags.clone()))
    }
    async fn key_last_used(
        &self,
        _: &AccessKeyId,
    ) -> Result<Option<Timestamp>, crate::EffectError> {
        Ok(None)
    }
    async fn revocation_cut_off(
        &self,
        _: &Principal,
        _: &str,
    ) -> Result<Option<Timestamp>, crate::EffectError> {
        Ok(None)
    }
    async fn canary_denied(&self, _: &UserName) -> Result<bool, crate::EffectError> {
        assert!(
            self.tags.contains_key("keyguard:canary"),
            "the deny is read only for a user with a canary's tag"
        );
        Ok(self.denied)
    }
    async fn exemption_set(
        &self,
        _: &Principal,
    ) -> Result<Option<crate::exemption::Provenance>, crate::EffectError> {
        self.exemption_reads
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(None)
    }
    async fn pause(&self, _: std::time::Duration) {}
}

#[test]
fn gather_reads_a_canarys_deny_and_only_a_harmless_one_is_protected() {
    let lookup = Lookup::UserKey {
        key_id: AccessKeyId::parse(KEY).unwrap(),
        user: Some(UserName::parse("keyguard-canary-ci").unwrap()),
    };
    for (tagged, denied, protected) in [
        (true, true, true),
        (true, false, false),
        (false, false, false),
    ] {
        let tags: &[(&str, &str)] = if tagged {
            &[("keyguard:canary", "true")]
        } else {
            &[]
        };
        let iam = OneUser::new("keyguard-canary-ci", tags, denied);
        let facts = futures::executor::block_on(gather(
            &lookup,
            &iam,
            Recheck {
                delay: std::time::Duration::ZERO,
            },
            no_sessions(),
        ))
        .unwrap();
        assert_eq!(facts.canary, protected, "tagged {tagged}, denied {denied}");
    }
}

#[test]
fn a_key_that_tagged_its_own_user_exempt_is_contained_and_any_other_tag_is_believed() {
    let cfg = cfg_with(
        &[("EXEMPT_USERS", "breakglass")],
        SelfIdentity {
            user: Some("keyguard-bot".into()),
            ..me()
        },
    );
    let tagged = |user: &str| {
        let mut f = active(user);
        f.tags.insert("KeyGuard:Exempt".into(), "True".into());
        f
    };
    let escape = |user: &str| {
        handoff(json!({"accessKeyId": KEY, "userName": user,
                       "classifierSource": "createkey-detector/exemption-tagged", "eventId": "ct-1"}))
    };
    let plan = plan_with(&escape("ci"), &cfg, &tagged("ci"));
    let Action::DeactivateKey { key_id, .. } = contained_action(&plan) else {
        panic!("{plan:#?}")
    };
    assert_eq!(key_id.as_str(), KEY);
    assert!(
        plan.steps[0]
            .reason
            .contains("exemption tag is not believed: the key itself tagged its own user exempt"),
        "{}",
        plan.steps[0].reason
    );
    // A user without the tag: contained, the reason silent about a tag.
    let plan = plan_with(&escape("ci"), &cfg, &active("ci"));
    assert!(
        !plan.steps[0].reason.contains("not believed"),
        "{}",
        plan.steps[0].reason
    );
    // An exemption by name, and keyguard's own user, still hold.
    for user in ["BreakGlass", "keyguard-bot"] {
        let plan = plan_with(&escape(user), &cfg, &tagged(user));
        assert!(
            matches!(plan.decision, Decision::Refused { .. }),
            "{user}: {plan:#?}"
        );
    }
    // The tag is believed from any other source: another rule's hand-off, or an event.
    let other = handoff(json!({"accessKeyId": KEY, "userName": "ci",
                               "classifierSource": "createkey-detector/backdoor-key"}));
    for t in [other, cloudtrail(iam_user("ci", KEY), "aws.ec2")] {
        let plan = plan_with(&t, &cfg, &tagged("ci"));
        assert!(
            matches!(plan.decision, Decision::Refused { .. }),
            "{plan:#?}"
        );
    }
    // Only an authenticated hand-off says so: one whose MAC did not verify is refused.
    let rejected = target(
        &escape("ci"),
        &cfg,
        "ev-1",
        Some(&HandoffCheck::Rejected("bad mac".into())),
    );
    assert!(rejected.is_err());
}

#[test]
fn a_tag_keyguard_saw_set_by_the_leaked_side_is_not_believed_for_any_event() {
    let cfg = cfg();
    let set_by = |arn: &str, own: bool, long_term_key: bool| crate::exemption::Provenance {
        set_by: arn.into(),
        own,
        long_term_key,
        role_session: arn.contains(":assumed-role/"),
        call: "TagUser".into(),
        at: "2026-11-23T09:00:00Z".into(),
        event_id: "ct-7".into(),
    };
    let tagged = |p: Option<crate::exemption::Provenance>| {
        let mut f = active("ci");
        f.tags.insert("keyguard:exempt".into(), "true".into());
        f.exemption = p;
        f
    };
    let event = cloudtrail(iam_user("ci", KEY), "aws.ec2");
    for doubted in [
        set_by(&format!("arn:aws:iam::{HOME}:user/ci"), true, true),
        set_by(&format!("arn:aws:iam::{HOME}:user/other"), false, true),
    ] {
        let plan = plan_with(&event, &cfg, &tagged(Some(doubted.clone())));
        let Action::DeactivateKey { .. } = contained_action(&plan) else {
            panic!("{plan:#?}")
        };
        assert!(
            plan.steps[0]
                .reason
                .contains("exemption tag is not believed")
                && plan.steps[0].reason.contains("CloudTrail event ct-7"),
            "{}",
            plan.steps[0].reason
        );
    }
    // Set by an administrator's role, or never seen set: believed.
    let admin = set_by(
        &format!("arn:aws:sts::{HOME}:assumed-role/ops/alice"),
        false,
        false,
    );
    for facts in [tagged(Some(admin)), tagged(None)] {
        let plan = plan_with(&event, &cfg, &facts);
        assert!(
            matches!(plan.decision, Decision::Refused { .. }),
            "{plan:#?}"
        );
    }
    // A role that tagged itself: its sessions are revoked all the same.
    let session = cloudtrail(
        json!({"type": "AssumedRole", "accessKeyId": "ASIAROLESESSION00001", "accountId": HOME,
               "arn": format!("arn:aws:sts::{HOME}:assumed-role/app/s"),
               "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "app", "accountId": HOME,
                                                    "arn": format!("arn:aws:iam::{HOME}:role/app")}}}),
        "aws.ec2",
    );
    let role = Facts {
        exists: true,
        tags: [("keyguard:exempt".to_owned(), "true".to_owned())].into(),
        exemption: Some(set_by(
            &format!("arn:aws:sts::{HOME}:assumed-role/app/s"),
            true,
            false,
        )),
        ..Facts::default()
    };
    let plan = plan_with(&session, &cfg, &role);
    assert!(
        matches!(only_action(&plan), Action::RevokeSessions { .. }),
        "{plan:#?}"
    );
    assert!(
        plan.steps[0]
            .reason
            .contains("exemption tag is not believed: the principal tagged itself exempt"),
        "{}",
        plan.steps[0].reason
    );
    // The record is read for a principal tagged exempt, and only then.
    let recheck = Recheck {
        delay: std::time::Duration::ZERO,
    };
    for (tags, reads) in [(&[][..], 0), (&[("KeyGuard:Exempt", "TRUE")][..], 1)] {
        let iam = OneUser::new("ci", tags, false);
        let lookup = Lookup::UserKey {
            key_id: AccessKeyId::parse(KEY).unwrap(),
            user: Some(UserName::parse("ci").unwrap()),
        };
        futures::executor::block_on(gather(&lookup, &iam, recheck, no_sessions())).unwrap();
        let read = iam
            .exemption_reads
            .load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(read, reads, "{tags:?}");
    }
}
