use super::*;
use crate::events::parse;
use crate::report::Report;
use serde_json::json;

const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SESSION_KEY: &str = "ASIA5ZXAKGI33TI7QQGW";

fn cfg() -> ContainmentConfig {
    let env = |_: &str| None;
    ContainmentConfig::from_env(
        &env,
        SelfIdentity {
            key_id: Some("ASIAKEYGUARDSELF0001".into()),
            user: None,
            role: Some("keyguard-deactivate-key".into()),
        },
    )
    .unwrap()
}

fn trigger(v: serde_json::Value) -> Trigger {
    parse(v.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn cloudtrail(identity: serde_json::Value, source: &str) -> Trigger {
    trigger(json!({
        "version": "0", "id": "ev-1", "detail-type": "AWS API Call via CloudTrail", "source": source,
        "detail": {"eventName": "RunInstances", "eventSource": "ec2.amazonaws.com", "userIdentity": identity}
    }))
}

fn iam_user(user: &str, key: &str) -> serde_json::Value {
    json!({"type": "IAMUser", "userName": user, "accessKeyId": key, "arn": format!("arn:aws:iam::1:user/{user}")})
}

fn handoff(v: serde_json::Value) -> Trigger {
    trigger(v)
}

fn active(user: &str) -> Facts {
    Facts {
        owner: Some(UserName::parse(user).unwrap()),
        exists: true,
        key_status: Some(KeyStatus::Active),
        tags: BTreeMap::new(),
    }
}

fn plan_for(t: &Trigger, facts: &Facts) -> Plan {
    let cfg = cfg();
    match target(t, &cfg, "ev-1") {
        Ok(target) => decide(&target, &cfg, facts, now()),
        Err(plan) => *plan,
    }
}

fn now() -> Timestamp {
    crate::parse_time("2026-11-23T12:00:00Z").unwrap()
}

fn status(plan: &Plan) -> u16 {
    Report::new(plan.clone(), false, Vec::new()).status_code
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
        only_action(&plan),
        &Action::DeactivateKey {
            user: UserName::parse("bob").unwrap(),
            key_id: AccessKeyId::parse(KEY).unwrap()
        }
    );
    assert_eq!(
        plan.steps[0].idempotency_key,
        format!("deactivate-key:deactivate_key:{KEY}:ev-1")
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
        ("active", active("bob"), 200, 1),
        (
            "inactive",
            Facts {
                key_status: Some(KeyStatus::Inactive),
                ..active("bob")
            },
            200,
            0,
        ),
        (
            "not the user's key",
            Facts {
                key_status: None,
                ..active("bob")
            },
            404,
            0,
        ),
        (
            "no such user",
            Facts {
                exists: false,
                key_status: None,
                ..active("bob")
            },
            404,
            0,
        ),
        ("no owner", Facts::default(), 404, 0),
        ("exempt by tag, any case", tagged, 403, 1),
        ("tag present but false", other_tag, 200, 1),
    ];
    for (name, facts, code, steps) in cases {
        let plan = plan_for(&t, &facts);
        assert_eq!(status(&plan), code, "{name}: {plan:#?}");
        assert_eq!(plan.steps.len(), steps, "{name}");
        if code == 403 {
            assert!(
                matches!(only_action(&plan), Action::Notify { .. }),
                "{name}: a refusal only notifies"
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
    let env = |k: &str| (k == "EXEMPT_USERS").then(|| "breakglass, ops-admin".to_owned());
    let cfg = ContainmentConfig::from_env(
        &env,
        SelfIdentity {
            user: Some("keyguard-bot".into()),
            ..Default::default()
        },
    )
    .unwrap();
    for user in ["breakglass", "ops-admin", "keyguard-bot"] {
        let t = cloudtrail(iam_user(user, KEY), "aws.ec2");
        let plan = decide(&target(&t, &cfg, "e").unwrap(), &cfg, &active(user), now());
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
        "arn": "arn:aws:sts::1:assumed-role/app-role/i-123",
        "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "app-role"}}
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
            policy_name: "keyguard-revoke-older-sessions".into()
        }
    );
    assert_eq!(
        plan.steps[0].idempotency_key,
        "deactivate-key:revoke_sessions:role/app-role:ev-1"
    );
    // Without a session issuer the role comes from the ARN.
    let arn_only = json!({"type": "AssumedRole", "accessKeyId": SESSION_KEY, "arn": "arn:aws:sts::1:assumed-role/from-arn/s"});
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
    assert_eq!(only_action(&plan).iam_permissions(), &["iam:PutUserPolicy"]);
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
    let env = |k: &str| (k == "EXEMPT_ROLES").then(|| "OrganizationAccountAccessRole".to_owned());
    let cfg = ContainmentConfig::from_env(&env, SelfIdentity::default()).unwrap();
    let t =
        handoff(json!({"accessKeyId": SESSION_KEY, "roleName": "OrganizationAccountAccessRole"}));
    let plan = decide(&target(&t, &cfg, "e").unwrap(), &cfg, &exists, now());
    assert!(matches!(plan.decision, Decision::Refused { .. }));
    // A session key with nobody named.
    let plan = plan_for(&handoff(json!({"accessKeyId": SESSION_KEY})), &exists);
    assert_eq!(status(&plan), 400);
}

#[test]
fn root_and_other_identities_only_notify() {
    let root = json!({"type": "Root", "accessKeyId": KEY, "arn": "arn:aws:iam::1:root"});
    let plan = plan_for(&cloudtrail(root, "aws.ec2"), &Facts::default());
    assert!(matches!(plan.decision, Decision::NotContainable { .. }));
    assert!(
        matches!(only_action(&plan), Action::Notify { notice } if notice.severity == Severity::Critical)
    );
    assert_eq!(status(&plan), 403);
    let fed = json!({"type": "FederatedUser", "accessKeyId": SESSION_KEY});
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
    let env =
        |k: &str| (k == "TRUSTED_CUSTOM_SOURCES").then(|| "custom.guardduty.simulation".to_owned());
    let cfg = ContainmentConfig::from_env(&env, SelfIdentity::default()).unwrap();
    assert!(target(&t, &cfg, "e").is_ok());
}

#[test]
fn invalid_key_ids_in_aws_records() {
    for (key, why) in [
        (None, "names no access key"),
        (Some("EXAMPLE_KEY"), "20 characters"),
        (Some("AIDAQRSTUVWXYZEXAMPL"), "AKIA"),
    ] {
        let mut identity = json!({"type": "IAMUser", "userName": "bob"});
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
            "detail": {"id": "f-1", "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 8,
                       "resource": {"resourceType": "AccessKey", "accessKeyDetails": {"accessKeyId": key, "userName": user, "userType": user_type}},
                       "service": {"additionalInfo": {"sample": sample}}}
        }))
    };
    let plan = plan_for(&finding("IAMUser", KEY, "bob", false), &active("bob"));
    assert!(matches!(only_action(&plan), Action::DeactivateKey { .. }));
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
            json!({"version": "0", "id": "h-1", "detail-type": "AWS Health Event", "source": "aws.health", "detail": detail}),
        )
    };
    let t = health("AWS_RISK_CREDENTIALS_EXPOSED", KEY, Some("test-1"));
    let cfg = cfg();
    let target = target(&t, &cfg, "h-1").unwrap();
    assert_eq!(
        target.lookup(),
        Lookup::UserKey {
            key_id: AccessKeyId::parse(KEY).unwrap(),
            user: Some(UserName::parse("test-1").unwrap())
        }
    );
    // Without a user name the adapter must find the owner from the key.
    let t = health("AWS_RISK_CREDENTIALS_EXPOSED", KEY, None);
    assert_eq!(
        super::target(&t, &cfg, "h-1").unwrap().lookup(),
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
fn handoff_carries_its_classifier_source() {
    let t = handoff(
        json!({"accessKeyId": KEY, "userName": "bob", "classifierSource": "createkey-detector/backdoor-key", "eventId": "ct-9"}),
    );
    let cfg = cfg();
    let target = target(&t, &cfg, "ct-9").unwrap();
    let plan = decide(&target, &cfg, &active("bob"), now());
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
    let raw = json!({"accessKeyId": KEY, "userName": "bob"});
    let t = handoff(raw.clone());
    let a = crate::event_ref(&t, &raw);
    let b = crate::event_ref(&handoff(raw.clone()), &raw);
    assert_eq!(a, b);
    let other = json!({"accessKeyId": KEY, "userName": "bobby"});
    assert_ne!(a, crate::event_ref(&handoff(other.clone()), &other));
}
