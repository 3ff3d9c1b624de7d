use super::*;
use crate::events::parse;
use serde_json::{json, Value};

const NEW_KEY: &str = "AKIANEWBACKDOORKEY01";
const CALLER_KEY: &str = "AKIALEAKEDCALLERKEY1";

fn cfg_with(pairs: &[(&str, &str)]) -> DetectorConfig {
    let m: std::collections::BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    DetectorConfig::from_env(&move |k: &str| m.get(k).cloned(), home()).unwrap()
}

const HOME: &str = "123456789012";

fn home() -> crate::guard::SelfIdentity {
    crate::guard::SelfIdentity {
        account: Some(crate::AccountId::parse(HOME).unwrap()),
        ..Default::default()
    }
}

fn record(v: Value) -> CloudTrailRecord {
    match parse(v.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}")) {
        Trigger::CloudTrail { record, .. } => *record,
        other => panic!("{other:?}"),
    }
}

fn user(name: &str) -> Value {
    json!({"type": "IAMUser", "userName": name, "accessKeyId": CALLER_KEY,
           "arn": format!("arn:aws:iam::123456789012:user/{name}"), "accountId": "123456789012"})
}

fn create_key(caller: Value, target: Option<&str>, error: Option<&str>) -> Value {
    json!({"eventName": "CreateAccessKey", "eventSource": "iam.amazonaws.com", "eventID": "ev-1",
           "userIdentity": caller, "sourceIPAddress": "198.51.100.7", "errorCode": error,
           "requestParameters": target.map(|t| json!({"userName": t})),
           "responseElements": if error.is_some() { Value::Null } else {
               json!({"accessKey": {"accessKeyId": NEW_KEY, "status": "Active", "userName": target.unwrap_or("self")}}) }})
}

fn rules(v: Value, cfg: &DetectorConfig) -> Vec<(&'static str, Severity)> {
    evaluate(&record(v), cfg)
        .into_iter()
        .map(|a| (a.rule, a.severity))
        .collect()
}

#[test]
fn each_rule_fires_where_it_should_and_nowhere_else() {
    let cfg = cfg_with(&[("THREAT_CIDRS", "203.0.113.0/24, 2001:db8::/32")]);
    let root = json!({"type": "Root", "arn": "arn:aws:iam::123456789012:root", "accountId": "123456789012", "accessKeyId": "ASIAROOTSESSION00001"});
    let role = json!({"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/ops/alice", "accessKeyId": "ASIAROLESESSION00001"});
    let attach = |policy: &str, event: &str, who: (&str, &str)| {
        json!({"eventName": event, "eventSource": "iam.amazonaws.com",
        "userIdentity": role, "requestParameters": {"policyArn": policy, who.0: who.1}})
    };
    let run = |caller: Value, kind: &str, n: u64| {
        json!({"eventName": "RunInstances", "eventSource": "ec2.amazonaws.com", "userIdentity": caller,
        "requestParameters": {"instanceType": kind, "minCount": n, "maxCount": n},
        "responseElements": {"instancesSet": {"items": (0..n).map(|_| json!({"instanceType": kind})).collect::<Vec<_>>()}}})
    };
    let mut from_threat = create_key(user("bob"), None, None);
    from_threat["sourceIPAddress"] = json!("203.0.113.9");
    let mut fleet = run(user("bob"), "p4d.24xlarge", 2);
    fleet["requestParameters"]["instanceType"] = json!({"value": "p4d.24xlarge"});
    let mut opaque = create_key(user("alice"), Some("bob"), None);
    opaque["responseElements"] = json!("an opaque string");
    let mut service = create_key(user("alice"), Some("bob"), None);
    service.as_object_mut().unwrap().remove("userIdentity");
    let mut from_v6 = run(user("bob"), "t3.micro", 1);
    from_v6["sourceIPAddress"] = json!("2001:db8::1");
    type Case = (&'static str, Value, Vec<(&'static str, Severity)>);
    let cases: Vec<Case> = vec![
        (
            "a user for another",
            create_key(user("alice"), Some("bob"), None),
            vec![("backdoor-key", Severity::High)],
        ),
        (
            "jack for jackson",
            create_key(user("jack"), Some("jackson"), None),
            vec![("backdoor-key", Severity::High)],
        ),
        (
            "jackson for jack",
            create_key(user("jackson"), Some("jack"), None),
            vec![("backdoor-key", Severity::High)],
        ),
        (
            "a user for themselves, named",
            create_key(user("alice"), Some("alice"), None),
            vec![("key-created", Severity::Info)],
        ),
        (
            "a user for themselves, unnamed",
            create_key(user("alice"), None, None),
            vec![("key-created", Severity::Info)],
        ),
        (
            "a role for a user",
            create_key(role.clone(), Some("bob"), None),
            vec![("backdoor-key", Severity::High)],
        ),
        (
            "refused",
            create_key(user("alice"), Some("bob"), Some("AccessDenied")),
            vec![("failed-key-creation", Severity::Medium)],
        ),
        (
            "root for itself",
            create_key(root.clone(), None, None),
            vec![("root-key-created", Severity::Critical)],
        ),
        (
            "root for a user",
            create_key(root.clone(), Some("bob"), None),
            vec![],
        ),
        (
            "quarantine",
            attach(
                "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3",
                "AttachUserPolicy",
                ("userName", "bob"),
            ),
            vec![("quarantine-policy-attached", Severity::Critical)],
        ),
        (
            "admin to a user",
            attach(
                "arn:aws:iam::aws:policy/AdministratorAccess",
                "AttachUserPolicy",
                ("userName", "bob"),
            ),
            vec![("admin-policy-attached", Severity::High)],
        ),
        (
            "admin to a role",
            attach(
                "arn:aws:iam::aws:policy/AdministratorAccess",
                "AttachRolePolicy",
                ("roleName", "app"),
            ),
            vec![("admin-policy-attached", Severity::High)],
        ),
        (
            "a look-alike policy",
            attach(
                "arn:aws:iam::123456789012:policy/NotAdministratorAccess",
                "AttachUserPolicy",
                ("userName", "bob"),
            ),
            vec![],
        ),
        (
            "read-only to a user",
            attach(
                "arn:aws:iam::aws:policy/ReadOnlyAccess",
                "AttachUserPolicy",
                ("userName", "bob"),
            ),
            vec![],
        ),
        (
            "one small instance, AKIA",
            run(user("bob"), "t3.micro", 1),
            vec![("long-term-key-runs-instances", Severity::Medium)],
        ),
        (
            "GPU instances, AKIA",
            run(user("bob"), "p4d.24xlarge", 2),
            vec![("long-term-key-runs-instances", Severity::High)],
        ),
        (
            "many instances, AKIA",
            run(user("bob"), "c5.large", 12),
            vec![("long-term-key-runs-instances", Severity::High)],
        ),
        (
            "GPU instances through EC2 Fleet",
            fleet,
            vec![("long-term-key-runs-instances", Severity::High)],
        ),
        (
            "a key for another, its response a bare string",
            opaque,
            vec![("backdoor-key", Severity::High)],
        ),
        (
            "a key for a user, no userIdentity",
            service,
            vec![("backdoor-key", Severity::High)],
        ),
        (
            "instances from a role session",
            run(role.clone(), "p4d.24xlarge", 20),
            vec![],
        ),
        (
            "from a threat address",
            from_threat,
            vec![
                ("key-created", Severity::Info),
                ("threat-ip", Severity::High),
            ],
        ),
        (
            "from a threat IPv6 address",
            from_v6,
            vec![
                ("long-term-key-runs-instances", Severity::Medium),
                ("threat-ip", Severity::High),
            ],
        ),
    ];
    for (name, event, want) in cases {
        assert_eq!(rules(event, &cfg), want, "{name}");
    }
}

#[test]
fn trusted_key_creators_are_named_by_exact_role() {
    let session = |role: &str| {
        json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::123456789012:assumed-role/{role}/s1"),
               "accessKeyId": "ASIAROLESESSION00001"})
    };
    let cfg = cfg_with(&[(
        "TRUSTED_KEY_CREATORS",
        "keyguard-secrets-rotator, ci-provisioner",
    )]);
    type Case = (&'static str, &'static str, Vec<(&'static str, Severity)>);
    let cases: Vec<Case> = vec![
        ("keyguard's rotator", "keyguard-secrets-rotator", vec![]),
        ("the pipeline", "ci-provisioner", vec![]),
        (
            "a prefix of a trusted role",
            "keyguard-secrets",
            vec![("backdoor-key", Severity::High)],
        ),
        (
            "a longer name",
            "ci-provisioner-evil",
            vec![("backdoor-key", Severity::High)],
        ),
    ];
    for (name, role, want) in cases {
        assert_eq!(
            rules(create_key(session(role), Some("dave"), None), &cfg),
            want,
            "{name}"
        );
    }
    // A user named like a trusted role is still a user.
    assert_eq!(
        rules(create_key(user("ci-provisioner"), Some("dave"), None), &cfg),
        vec![("backdoor-key", Severity::High)]
    );
    // A member's role of the same name is somebody else's (whoever may create roles
    // there); a member's own pipeline is trusted when named with its account.
    let in_member = |role: &str| {
        json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::222222222222:assumed-role/{role}/s1"),
               "accessKeyId": "ASIAROLESESSION00001"})
    };
    assert_eq!(
        rules(
            create_key(in_member("keyguard-secrets-rotator"), Some("dave"), None),
            &cfg
        ),
        vec![("backdoor-key", Severity::High)]
    );
    let member_cfg = cfg_with(&[("TRUSTED_KEY_CREATORS", "222222222222:ci-provisioner")]);
    assert_eq!(
        rules(
            create_key(in_member("ci-provisioner"), Some("dave"), None),
            &member_cfg
        ),
        vec![]
    );
    assert_eq!(
        rules(
            create_key(session("ci-provisioner"), Some("dave"), None),
            &member_cfg
        ),
        vec![("backdoor-key", Severity::High)]
    );
}

#[test]
fn a_launch_forwarded_from_another_region_is_contained_and_named_by_it() {
    let raw = include_str!("../../../../../events/createkey-detector/gpu-instances.json")
        .replace("us-east-1", "eu-west-1");
    let event = parse(raw.as_bytes()).unwrap();
    let plan = decide(&event, &cfg_with(&[]), "ev-eu");
    let handed = plan
        .steps
        .iter()
        .find(|s| matches!(s.action, Action::HandOff { .. }))
        .unwrap_or_else(|| panic!("{plan:#?}"));
    assert_eq!(
        handed
            .scope
            .as_ref()
            .and_then(|s| s.region.as_ref())
            .map(|r| r.as_str()),
        Some("eu-west-1")
    );
    let Some(Action::Notify { notice }) = plan
        .steps
        .iter()
        .map(|s| &s.action)
        .find(|a| matches!(a, Action::Notify { .. }))
    else {
        panic!("{plan:#?}")
    };
    assert_eq!(notice.facts["region"], "eu-west-1");
}

#[test]
fn a_members_key_is_handed_off_with_its_account_only_in_organisation_mode() {
    let member = "222222222222";
    let mut caller = user("alice");
    caller["accountId"] = json!(member);
    caller["arn"] = json!(format!("arn:aws:iam::{member}:user/alice"));
    let event = parse(
        json!({"version": "0", "id": "ev-m", "detail-type": "AWS API Call via CloudTrail",
               "source": "aws.iam", "account": member, "detail": create_key(caller, Some("bob"), None)})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let handed = |cfg: &DetectorConfig| -> Option<String> {
        decide(&event, cfg, "ev-m")
            .steps
            .iter()
            .find_map(|s| match &s.action {
                Action::HandOff { account, .. } => Some(account.to_string()),
                _ => None,
            })
    };
    assert_eq!(handed(&cfg_with(&[])), None, "organisation mode off");
    assert_eq!(
        handed(&cfg_with(&[("ORGANIZATION_MODE", "true")])).as_deref(),
        Some(member)
    );
    let listed = cfg_with(&[
        ("ORGANIZATION_MODE", "true"),
        ("MEMBER_ACCOUNTS", "333333333333"),
    ]);
    assert_eq!(handed(&listed), None, "outside MEMBER_ACCOUNTS");
}

#[test]
fn the_plan_alerts_and_hands_off_only_what_iam_can_contain() {
    let cfg = cfg_with(&[]);
    let trigger = |v: Value| {
        parse(
            json!({"version": "0", "id": "ev-9", "detail-type": "AWS API Call via CloudTrail",
                                         "source": "aws.iam", "detail": v})
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    };
    let plan = decide(
        &trigger(create_key(user("alice"), Some("bob"), None)),
        &cfg,
        "ev-9",
    );
    let names: Vec<&str> = plan.steps.iter().map(|s| s.action.name()).collect();
    assert_eq!(names, ["hand_off", "notify"], "containment first");
    let Action::HandOff {
        key_id,
        user: to,
        account,
        classifier_source,
        event_id,
    } = &plan.steps[0].action
    else {
        panic!()
    };
    assert_eq!(key_id.as_str(), NEW_KEY, "the new key, not the caller's");
    assert_eq!(to.as_ref().unwrap().as_str(), "bob");
    assert_eq!(classifier_source, "createkey-detector/backdoor-key");
    assert_eq!(event_id, "ev-9");
    assert_eq!(account.as_str(), HOME, "the account the key was created in");
    // Root: critical, but nothing IAM can contain.
    let root = json!({"type": "Root", "arn": "arn:aws:iam::1:root", "accessKeyId": "ASIAROOTSESSION00001"});
    let plan = decide(&trigger(create_key(root, None, None)), &cfg, "ev-9");
    assert_eq!(
        plan.steps
            .iter()
            .map(|s| s.action.name())
            .collect::<Vec<_>>(),
        ["notify"]
    );
    // Info is below the default ALERT_MIN_SEVERITY (low): nothing to do.
    let plan = decide(
        &trigger(create_key(user("alice"), None, None)),
        &cfg,
        "ev-9",
    );
    assert_eq!(plan.decision.name(), "nothing_to_do");
    // Thresholds are configuration: contain nothing below critical.
    let strict = cfg_with(&[
        ("CONTAIN_MIN_SEVERITY", "critical"),
        ("ALERT_MIN_SEVERITY", "info"),
    ]);
    let plan = decide(
        &trigger(create_key(user("alice"), Some("bob"), None)),
        &strict,
        "ev-9",
    );
    assert_eq!(
        plan.steps
            .iter()
            .map(|s| s.action.name())
            .collect::<Vec<_>>(),
        ["notify"]
    );
    // A custom source is refused.
    let spoofed = parse(json!({"version": "0", "id": "x", "detail-type": "AWS API Call via CloudTrail", "source": "custom.iam",
                               "detail": create_key(user("alice"), Some("bob"), None)}).to_string().as_bytes()).unwrap();
    assert_eq!(decide(&spoofed, &cfg, "x").decision.name(), "refused");
}

#[test]
fn alerts_go_to_each_configured_webhook_and_to_sns_only_when_asked() {
    let event = || {
        parse(
            json!({"version": "0", "id": "ev-7", "detail-type": "AWS API Call via CloudTrail",
                   "source": "aws.iam", "detail": create_key(user("alice"), Some("bob"), None)})
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    };
    let steps = |cfg: &DetectorConfig| -> Vec<(String, String)> {
        decide(&event(), cfg, "ev-7")
            .steps
            .iter()
            .map(|s| (s.action.name().to_owned(), s.idempotency_key.clone()))
            .collect()
    };
    let both = cfg_with(&[
        ("DISCORD_WEBHOOK_SECRET_ID", "keyguard/discord"),
        ("SLACK_WEBHOOK_SECRET_ID", " keyguard/slack "),
    ]);
    assert_eq!(both.webhooks[&Channel::Slack], "keyguard/slack");
    let got = steps(&both);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["hand_off", "alert", "alert"],
        "no SNS without a topic"
    );
    // One idempotency key per channel: a failed Slack post retries Slack alone.
    assert!(
        got[1].1.contains(":alert_discord:-:backdoor-key/high:ev-7"),
        "{got:?}"
    );
    assert!(
        got[2].1.contains(":alert_slack:-:backdoor-key/high:ev-7"),
        "{got:?}"
    );
    let with_topic = cfg_with(&[
        ("SLACK_WEBHOOK_SECRET_ID", "keyguard/slack"),
        ("NOTICE_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
    ]);
    let names: Vec<String> = steps(&with_topic).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["hand_off", "alert", "notify"]);
    let Action::Alert { channel, notice } = &decide(&event(), &with_topic, "ev-7").steps[1].action
    else {
        panic!()
    };
    assert_eq!(*channel, Channel::Slack);
    assert_eq!(notice.severity, Severity::High);
    assert_eq!(notice.facts["rule"], "backdoor-key");
}

#[test]
fn cidr_blocks_and_configuration_errors() {
    let block = Cidr::parse("198.51.100.0/24").unwrap();
    assert!(block.contains("198.51.100.255".parse().unwrap()));
    assert!(!block.contains("198.51.101.0".parse().unwrap()));
    assert!(
        !block.contains("::ffff:198.51.100.1".parse().unwrap()),
        "v4 blocks do not match v6 addresses"
    );
    assert!(Cidr::parse("0.0.0.0/0")
        .unwrap()
        .contains("8.8.8.8".parse().unwrap()));
    assert!(Cidr::parse("10.0.0.1")
        .unwrap()
        .contains("10.0.0.1".parse().unwrap()));
    for bad in ["10.0.0.0/33", "nope", "10.0.0.0/x"] {
        assert!(Cidr::parse(bad).is_none(), "{bad}");
    }
    let env = |k: &str| (k == "THREAT_CIDRS").then(|| "10.0.0.0/8, banana".to_owned());
    assert_eq!(
        DetectorConfig::from_env(&env, home()).unwrap_err().variable,
        "THREAT_CIDRS"
    );
    let env = |k: &str| (k == "CONTAIN_MIN_SEVERITY").then(|| "urgent".to_owned());
    assert_eq!(
        DetectorConfig::from_env(&env, home()).unwrap_err().variable,
        "CONTAIN_MIN_SEVERITY"
    );
}

#[test]
fn a_console_password_for_another_user_is_a_backdoor() {
    let cfg = cfg_with(&[]);
    let login = |event: &str,
                 caller: Value,
                 target: Option<&str>,
                 reset: Option<bool>,
                 error: Option<&str>| {
        let mut request = json!({});
        if let Some(t) = target {
            request["userName"] = json!(t);
        }
        if let Some(r) = reset {
            request["passwordResetRequired"] = json!(r);
        }
        json!({"eventName": event, "eventSource": "iam.amazonaws.com", "eventID": "ev-1",
               "userIdentity": caller, "errorCode": error, "requestParameters": request})
    };
    let sso = json!({"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin/alice", "accessKeyId": "ASIAROLESESSION00001"});
    let root = json!({"type": "Root", "arn": "arn:aws:iam::123456789012:root", "accountId": "123456789012"});
    let service = json!({"type": "AWSService", "invokedBy": "iam.amazonaws.com"});
    type Case<'a> = (&'a str, Value, Vec<(&'a str, Severity)>);
    let cases: Vec<Case> = vec![
        (
            "for another user",
            login(
                "CreateLoginProfile",
                user("ci-deployer"),
                Some("admin"),
                None,
                None,
            ),
            vec![("console-backdoor", Severity::High)],
        ),
        (
            "changed for another user",
            login(
                "UpdateLoginProfile",
                user("ci-deployer"),
                Some("admin"),
                Some(false),
                None,
            ),
            vec![("console-backdoor", Severity::High)],
        ),
        (
            "an SSO session for another user",
            login("UpdateLoginProfile", sso.clone(), Some("bob"), None, None),
            vec![("console-backdoor", Severity::High)],
        ),
        (
            "with a reset required",
            login(
                "UpdateLoginProfile",
                user("ci-deployer"),
                Some("admin"),
                Some(true),
                None,
            ),
            vec![("console-password-reset", Severity::Low)],
        ),
        (
            "its own password",
            login(
                "UpdateLoginProfile",
                user("alice"),
                Some("alice"),
                None,
                None,
            ),
            vec![],
        ),
        (
            "its own, another case",
            login(
                "UpdateLoginProfile",
                user("alice"),
                Some("ALICE"),
                None,
                None,
            ),
            vec![],
        ),
        (
            "its own, no user named",
            login("UpdateLoginProfile", user("alice"), None, None, None),
            vec![],
        ),
        (
            "an SSO session's own",
            login("UpdateLoginProfile", sso, Some("Alice"), None, None),
            vec![],
        ),
        (
            "refused",
            login(
                "CreateLoginProfile",
                user("ci-deployer"),
                Some("admin"),
                None,
                Some("AccessDenied"),
            ),
            vec![],
        ),
        (
            "root",
            login("CreateLoginProfile", root, Some("admin"), None, None),
            vec![],
        ),
        (
            "a prefix of the caller",
            login(
                "CreateLoginProfile",
                user("jack"),
                Some("jackson"),
                None,
                None,
            ),
            vec![("console-backdoor", Severity::High)],
        ),
    ];
    for (name, event, want) in cases {
        assert_eq!(rules(event, &cfg), want, "{name}");
    }
    // A service principal acting for a user: named by no ARN, so any target is another's.
    let by_service = login("CreateLoginProfile", service, Some("admin"), None, None);
    assert_eq!(
        rules(by_service, &cfg),
        [("console-backdoor", Severity::High)]
    );
    // Nothing is contained: administrators set passwords for others by design.
    let alerts = evaluate(
        &record(login(
            "CreateLoginProfile",
            user("ci-deployer"),
            Some("admin"),
            None,
            None,
        )),
        &cfg,
    );
    assert_eq!(alerts[0].contain, None);
}

#[test]
fn another_users_mfa_removed_and_a_federation_token_from_a_long_term_key() {
    let cfg = cfg_with(&[]);
    let iam = |event: &str, caller: Value, request: Value, error: Option<&str>| {
        json!({"eventName": event, "eventSource": "iam.amazonaws.com", "eventID": "ev-1",
               "userIdentity": caller, "errorCode": error, "requestParameters": request})
    };
    let serial = |name: &str| format!("arn:aws:iam::123456789012:mfa/{name}");
    let root = json!({"type": "Root", "arn": "arn:aws:iam::123456789012:root", "accountId": "123456789012"});
    type Case<'a> = (&'a str, Value, Vec<(&'a str, Severity)>);
    let cases: Vec<Case> = vec![
        (
            "another's device",
            iam(
                "DeactivateMFADevice",
                user("ci-deployer"),
                json!({"userName": "admin", "serialNumber": serial("admin")}),
                None,
            ),
            vec![("mfa-removed", Severity::High)],
        ),
        (
            "its own, another case",
            iam(
                "DeactivateMFADevice",
                user("alice"),
                json!({"userName": "Alice", "serialNumber": serial("alice")}),
                None,
            ),
            vec![],
        ),
        (
            "refused",
            iam(
                "DeactivateMFADevice",
                user("ci-deployer"),
                json!({"userName": "admin"}),
                Some("AccessDenied"),
            ),
            vec![],
        ),
        (
            "root",
            iam(
                "DeactivateMFADevice",
                root,
                json!({"userName": "admin"}),
                None,
            ),
            vec![],
        ),
        (
            "a virtual device not the caller's",
            iam(
                "DeleteVirtualMFADevice",
                user("ci-deployer"),
                json!({"serialNumber": serial("admin")}),
                None,
            ),
            vec![("mfa-removed", Severity::Medium)],
        ),
        (
            "its own virtual device",
            iam(
                "DeleteVirtualMFADevice",
                user("alice"),
                json!({"serialNumber": serial("alice")}),
                None,
            ),
            vec![],
        ),
    ];
    for (name, event, want) in cases {
        assert_eq!(rules(event, &cfg), want, "{name}");
    }

    let federation = |caller: Value, error: Option<&str>| {
        json!({"eventName": "GetFederationToken", "eventSource": "sts.amazonaws.com", "eventID": "ev-2",
               "userIdentity": caller, "errorCode": error, "requestParameters": {"name": "stratus", "durationSeconds": 129600}})
    };
    let role = json!({"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/ops/alice", "accessKeyId": "ASIAROLESESSION00001"});
    assert_eq!(
        rules(federation(user("ci-deployer"), None), &cfg),
        [("federation-token", Severity::Medium)]
    );
    assert!(rules(federation(user("ci-deployer"), Some("AccessDenied")), &cfg).is_empty());
    assert!(
        rules(federation(role, None), &cfg).is_empty(),
        "only a long-term key"
    );
    // Below the default containment line it alerts only; lowered, the key is handed off.
    let event = |v: Value| {
        parse(
            json!({"version": "0", "id": "ev-2", "detail-type": "AWS API Call via CloudTrail",
                   "source": "aws.sts", "account": HOME, "detail": v})
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    };
    let names = |plan: &Plan| {
        plan.steps
            .iter()
            .map(|s| s.action.name())
            .collect::<Vec<_>>()
    };
    let plan = decide(&event(federation(user("ci-deployer"), None)), &cfg, "ev-2");
    assert!(!names(&plan).contains(&"hand_off"), "{plan:#?}");
    let lowered = cfg_with(&[("CONTAIN_MIN_SEVERITY", "medium")]);
    let plan = decide(
        &event(federation(user("ci-deployer"), None)),
        &lowered,
        "ev-2",
    );
    assert!(
        matches!(&plan.steps[0].action, Action::HandOff { key_id, .. } if key_id.as_str() == CALLER_KEY),
        "{plan:#?}"
    );
}

#[test]
fn an_inline_admin_policy_and_awss_inline_quarantine() {
    let cfg = cfg_with(&[]);
    let put = |event: &str, who: (&str, &str), name: &str, document: Value, error: Option<&str>| {
        json!({"eventName": event, "eventSource": "iam.amazonaws.com", "eventID": "ev-1",
               "userIdentity": user("ci-deployer"), "errorCode": error,
               "requestParameters": {who.0: who.1, "policyName": name, "policyDocument": document.to_string()}})
    };
    let allow = |action: Value, resource: Value| json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]});
    type Case<'a> = (&'a str, Value, Vec<(&'a str, Severity)>);
    let cases: Vec<Case> = vec![
        (
            "* on * for a user",
            put(
                "PutUserPolicy",
                ("userName", "bob"),
                "x",
                allow(json!("*"), json!("*")),
                None,
            ),
            vec![("inline-admin-policy", Severity::High)],
        ),
        (
            "* in lists, for a role",
            put(
                "PutRolePolicy",
                ("roleName", "app"),
                "x",
                allow(json!(["s3:*", "*"]), json!(["*"])),
                None,
            ),
            vec![("inline-admin-policy", Severity::High)],
        ),
        (
            "for a group",
            put(
                "PutGroupPolicy",
                ("groupName", "devs"),
                "x",
                allow(json!("*"), json!("*")),
                None,
            ),
            vec![("inline-admin-policy", Severity::High)],
        ),
        (
            "one service",
            put(
                "PutUserPolicy",
                ("userName", "bob"),
                "x",
                allow(json!("s3:*"), json!("*")),
                None,
            ),
            vec![],
        ),
        (
            "one resource",
            put(
                "PutUserPolicy",
                ("userName", "bob"),
                "x",
                allow(json!("*"), json!("arn:aws:s3:::b")),
                None,
            ),
            vec![],
        ),
        (
            "a deny (keyguard's revocation)",
            put(
                "PutUserPolicy",
                ("userName", "bob"),
                "keyguard-revoke-older-sessions",
                json!({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}),
                None,
            ),
            vec![],
        ),
        (
            "refused",
            put(
                "PutUserPolicy",
                ("userName", "bob"),
                "x",
                allow(json!("*"), json!("*")),
                Some("AccessDenied"),
            ),
            vec![],
        ),
        (
            "AWS's inline quarantine",
            put(
                "PutUserPolicy",
                ("userName", "bob"),
                "AWSExposedCredentialPolicy_DO_NOT_REMOVE",
                json!({"Statement": [{"Effect": "Deny", "Action": ["iam:CreateAccessKey"], "Resource": "*"}]}),
                None,
            ),
            vec![("quarantine-policy-attached", Severity::Critical)],
        ),
        (
            "the same name on a role is not AWS's",
            put(
                "PutRolePolicy",
                ("roleName", "app"),
                "AWSExposedCredentialPolicy_DO_NOT_REMOVE",
                json!({"Statement": []}),
                None,
            ),
            vec![],
        ),
    ];
    for (name, event, want) in cases {
        assert_eq!(rules(event, &cfg), want, "{name}");
    }
}

#[test]
fn switching_logging_off_is_high_and_contains_a_long_term_key() {
    let cfg = cfg_with(&[]);
    let call = |source: &str, event: &str, caller: Value, request: Value, error: Option<&str>| {
        json!({"eventName": event, "eventSource": source, "eventID": "ev-1",
               "userIdentity": caller, "errorCode": error, "requestParameters": request})
    };
    let trail = "cloudtrail.amazonaws.com";
    let gd = "guardduty.amazonaws.com";
    let role = json!({"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/ops/alice", "accessKeyId": "ASIAROLESESSION00001"});
    let high = vec![("logging-disabled", Severity::High)];
    type Case<'a> = (&'a str, Value, Vec<(&'a str, Severity)>);
    let cases: Vec<Case> = vec![
        (
            "StopLogging",
            call(
                trail,
                "StopLogging",
                user("ci-deployer"),
                json!({"name": "main"}),
                None,
            ),
            high.clone(),
        ),
        (
            "DeleteTrail by a role",
            call(
                trail,
                "DeleteTrail",
                role.clone(),
                json!({"name": "main"}),
                None,
            ),
            high.clone(),
        ),
        (
            "refused",
            call(
                trail,
                "StopLogging",
                user("ci-deployer"),
                json!({"name": "main"}),
                Some("AccessDenied"),
            ),
            vec![],
        ),
        (
            "selectors without management events",
            call(
                trail,
                "PutEventSelectors",
                user("ci-deployer"),
                json!({"trailName": "main", "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": false}]}),
                None,
            ),
            high.clone(),
        ),
        (
            "no selectors at all",
            call(
                trail,
                "PutEventSelectors",
                user("ci-deployer"),
                json!({"trailName": "main", "eventSelectors": []}),
                None,
            ),
            high.clone(),
        ),
        (
            "selectors keeping management events",
            call(
                trail,
                "PutEventSelectors",
                user("ci-deployer"),
                json!({"trailName": "main", "eventSelectors": [{"includeManagementEvents": true}]}),
                None,
            ),
            vec![],
        ),
        (
            "advanced selectors of data events only",
            call(
                trail,
                "PutEventSelectors",
                user("ci-deployer"),
                json!({"trailName": "main", "advancedEventSelectors": [{"fieldSelectors": [{"field": "eventCategory", "equals": ["Data"]}]}]}),
                None,
            ),
            high.clone(),
        ),
        (
            "advanced selectors keeping management",
            call(
                trail,
                "PutEventSelectors",
                user("ci-deployer"),
                json!({"trailName": "main", "advancedEventSelectors": [{"fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}]}]}),
                None,
            ),
            vec![],
        ),
        (
            "UpdateTrail without global services",
            call(
                trail,
                "UpdateTrail",
                user("ci-deployer"),
                json!({"name": "main", "includeGlobalServiceEvents": false}),
                None,
            ),
            high.clone(),
        ),
        (
            "UpdateTrail to one region",
            call(
                trail,
                "UpdateTrail",
                role.clone(),
                json!({"name": "main", "isMultiRegionTrail": false}),
                None,
            ),
            high.clone(),
        ),
        (
            "UpdateTrail out of the organisation",
            call(
                trail,
                "UpdateTrail",
                user("ci-deployer"),
                json!({"name": "main", "isOrganizationTrail": false}),
                None,
            ),
            high.clone(),
        ),
        (
            "UpdateTrail widening",
            call(
                trail,
                "UpdateTrail",
                user("ci-deployer"),
                json!({"name": "main", "isMultiRegionTrail": true, "includeGlobalServiceEvents": true}),
                None,
            ),
            vec![],
        ),
        (
            "UpdateTrail refused",
            call(
                trail,
                "UpdateTrail",
                user("ci-deployer"),
                json!({"name": "main", "isMultiRegionTrail": false}),
                Some("AccessDenied"),
            ),
            vec![],
        ),
        (
            "DeleteDetector",
            call(
                gd,
                "DeleteDetector",
                user("ci-deployer"),
                json!({"detectorId": "d-1"}),
                None,
            ),
            high.clone(),
        ),
        (
            "UpdateDetector off",
            call(
                gd,
                "UpdateDetector",
                user("ci-deployer"),
                json!({"detectorId": "d-1", "enable": false}),
                None,
            ),
            high.clone(),
        ),
        (
            "UpdateDetector on",
            call(
                gd,
                "UpdateDetector",
                user("ci-deployer"),
                json!({"detectorId": "d-1", "enable": true}),
                None,
            ),
            vec![],
        ),
        (
            "the same name elsewhere",
            call(
                "example.amazonaws.com",
                "StopLogging",
                user("ci-deployer"),
                json!({}),
                None,
            ),
            vec![],
        ),
    ];
    for (name, event, want) in cases {
        assert_eq!(rules(event, &cfg), want, "{name}");
    }
    // A long-term key that turns logging off is contained; a role's session is not.
    let stop = |caller: Value| {
        evaluate(
            &record(call(
                trail,
                "StopLogging",
                caller,
                json!({"name": "main"}),
                None,
            )),
            &cfg,
        )
    };
    let by_key = stop(user("ci-deployer"));
    assert_eq!(
        by_key[0].contain.as_ref().map(|(k, _)| k.as_str()),
        Some(CALLER_KEY)
    );
    assert_eq!(stop(role)[0].contain, None);
}

#[test]
fn a_role_outsiders_can_assume_is_a_backdoor() {
    let cfg = cfg_with(&[]);
    let trust = |event: &str, caller: Value, statement: Value, error: Option<&str>| {
        let field = if event == "CreateRole" {
            "assumeRolePolicyDocument"
        } else {
            "policyDocument"
        };
        let doc = json!({"Version": "2012-10-17", "Statement": statement}).to_string();
        json!({"eventName": event, "eventSource": "iam.amazonaws.com", "eventID": "ev-1",
               "userIdentity": caller, "errorCode": error, "recipientAccountId": HOME,
               "requestParameters": {"roleName": "ops", field: doc}})
    };
    let aws = |who: Value| json!([{"Effect": "Allow", "Principal": {"AWS": who}, "Action": "sts:AssumeRole"}]);
    let service = json!({"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"});
    let sso = json!({"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin/ALICE", "accessKeyId": "ASIAROLESESSION00001"});
    let high = vec![("role-trust-backdoor", Severity::High)];
    type Case<'a> = (&'a str, Value, Vec<(&'a str, Severity)>);
    let cases: Vec<Case> = vec![
        (
            "another account's root",
            trust(
                "UpdateAssumeRolePolicy",
                user("ci-deployer"),
                aws(json!("arn:aws:iam::999988887777:root")),
                None,
            ),
            high.clone(),
        ),
        (
            "a bare account id among others, on a new role",
            trust(
                "CreateRole",
                user("ci-deployer"),
                aws(json!([
                    format!("arn:aws:iam::{HOME}:role/x"),
                    "999988887777"
                ])),
                None,
            ),
            high.clone(),
        ),
        (
            "anyone",
            trust(
                "CreateRole",
                sso.clone(),
                json!({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}),
                None,
            ),
            high.clone(),
        ),
        (
            "anyone behind an external id (panther fires too)",
            trust(
                "UpdateAssumeRolePolicy",
                user("ci-deployer"),
                json!([{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["sts:AssumeRole", "sts:TagSession"], "Condition": {"StringEquals": {"sts:ExternalId": "1"}}}]),
                None,
            ),
            high.clone(),
        ),
        (
            "from a service principal, still a backdoor",
            trust(
                "CreateRole",
                service.clone(),
                aws(json!("arn:aws:iam::999988887777:root")),
                None,
            ),
            high.clone(),
        ),
        (
            "the organisation only",
            trust(
                "UpdateAssumeRolePolicy",
                user("ci-deployer"),
                json!([{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}]),
                None,
            ),
            vec![],
        ),
        (
            "its own account",
            trust(
                "CreateRole",
                user("ci-deployer"),
                aws(json!(format!("arn:aws:iam::{HOME}:user/bob"))),
                None,
            ),
            vec![],
        ),
        (
            "a service",
            trust(
                "CreateRole",
                user("ci-deployer"),
                json!([{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]),
                None,
            ),
            vec![],
        ),
        (
            "a deny",
            trust(
                "UpdateAssumeRolePolicy",
                user("ci-deployer"),
                json!([{"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"}]),
                None,
            ),
            vec![],
        ),
        (
            "refused (an error event)",
            trust(
                "UpdateAssumeRolePolicy",
                user("ci-deployer"),
                aws(json!("999988887777")),
                Some("AccessDenied"),
            ),
            vec![],
        ),
        (
            "an action that is not assuming",
            trust(
                "UpdateAssumeRolePolicy",
                user("ci-deployer"),
                json!([{"Effect": "Allow", "Principal": {"AWS": "999988887777"}, "Action": "sts:TagSession"}]),
                None,
            ),
            vec![],
        ),
    ];
    for (case, event, want) in cases {
        assert_eq!(rules(event, &cfg), want, "{case}");
    }
    let alert = evaluate(
        &record(trust(
            "UpdateAssumeRolePolicy",
            user("ci-deployer"),
            aws(json!("999988887777")),
            None,
        )),
        &cfg,
    );
    assert_eq!(alert[0].summary, "arn:aws:iam::123456789012:user/ci-deployer changed the trust policy of role ops, assumable by account 999988887777 (999988887777)");
    assert!(
        alert[0].contain.is_none(),
        "the caller is not contained: writing trust policies is an administrator's job"
    );
}

fn canary(name: &str, path: &str) -> Value {
    json!({"type": "IAMUser", "userName": name, "accessKeyId": "AKIACANARYKEY0000001",
           "arn": format!("arn:aws:iam::{HOME}:user{path}{name}"), "accountId": HOME,
           "principalId": "AIDACANARY"})
}

fn on_bus(id: &str, detail: Value) -> Trigger {
    parse(
        json!({"version": "0", "id": id, "detail-type": "AWS API Call via CloudTrail",
               "source": "aws.iam", "account": HOME, "detail": detail})
        .to_string()
        .as_bytes(),
    )
    .unwrap()
}

#[test]
fn any_call_a_canary_signs_is_one_critical_alert_per_window_and_nothing_is_contained() {
    let cfg = cfg_with(&[
        ("DISCORD_WEBHOOK_SECRET_ID", "d"),
        ("NOTICE_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
    ]);
    let denied = |who: Value, id: &str, at: &str| {
        json!({"eventName": "ListUsers", "eventSource": "iam.amazonaws.com", "eventID": id,
               "eventTime": at, "awsRegion": "us-east-1", "userIdentity": who,
               "sourceIPAddress": "203.0.113.9", "userAgent": "aws-cli/2.15 Python/3.11",
               "errorCode": "AccessDenied", "errorMessage": "not authorized"})
    };
    let ci = canary("keyguard-canary-ci", "/keyguard/canary/");
    let plan = decide(
        &on_bus("e1", denied(ci.clone(), "ct-1", "2026-12-04T10:00:00Z")),
        &cfg,
        "e1",
    );
    let names: Vec<&str> = plan.steps.iter().map(|s| s.action.name()).collect();
    assert_eq!(names, ["alert", "notify"], "alerts only, never a hand-off");
    let Action::Alert { notice, .. } = &plan.steps[0].action else {
        panic!("{plan:?}")
    };
    assert_eq!(notice.severity, Severity::Critical);
    assert_eq!(
        notice.key_id.as_ref().unwrap().as_str(),
        "AKIACANARYKEY0000001"
    );
    assert_eq!(notice.user.as_ref().unwrap().as_str(), "keyguard-canary-ci");
    let text = serde_json::to_string(notice).unwrap();
    for part in [
        "iam.amazonaws.com:ListUsers",
        "AccessDenied",
        "aws-cli/2.15",
        "203.0.113.9",
        "us-east-1",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    let window = plan.steps[0]
        .window
        .clone()
        .expect("a canary's alert holds a window");
    assert_eq!(window.until.to_rfc3339(), "2026-12-04T10:15:00+00:00");
    assert!(window.key.contains(HOME) && window.key.contains("AKIACANARYKEY0000001"));
    assert!(
        !window.key.contains("e1"),
        "a window names no event: {}",
        window.key
    );
    assert_ne!(
        plan.steps[0].window.as_ref().map(|w| &w.key),
        plan.steps[1].window.as_ref().map(|w| &w.key),
        "each channel holds its own window, so Discord's alert does not silence SNS"
    );
    // A second call in another event shares the window; each step is its event's own.
    let again = decide(
        &on_bus("e2", denied(ci.clone(), "ct-2", "2026-12-04T10:05:00Z")),
        &cfg,
        "e2",
    );
    assert_eq!(again.steps[0].window.as_ref().unwrap().key, window.key);
    assert_ne!(
        again.steps[0].idempotency_key,
        plan.steps[0].idempotency_key
    );

    // Known by its exact name: anywhere in the account's paths, never in another case,
    // never another account's user, never a role session so named.
    let found = rules(
        denied(
            canary("keyguard-canary-laptop", "/"),
            "x",
            "2026-12-04T10:00:00Z",
        ),
        &cfg,
    );
    assert_eq!(found, [("canary-key-used", Severity::Critical)]);
    let mut foreign = canary("keyguard-canary-ci", "/keyguard/canary/");
    foreign["accountId"] = json!("999999999999");
    for who in [
        json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::{HOME}:assumed-role/keyguard-canary-x/s"), "accessKeyId": "ASIAROLESESSION00001"}),
        canary("alice", "/keyguard/canary/"),
        canary("Keyguard-Canary-ci", "/keyguard/canary/"),
        foreign,
    ] {
        assert!(
            rules(denied(who.clone(), "x", "2026-12-04T10:00:00Z"), &cfg).is_empty(),
            "{who}"
        );
    }

    // A canary's call that succeeded needs a permission its deny should have refused: the
    // deny is gone, and its key is handed off with whatever else the call made.
    let plan = decide(
        &on_bus("e3", create_key(ci.clone(), Some("bob"), None)),
        &cfg,
        "e3",
    );
    let found = rules(create_key(ci.clone(), Some("bob"), None), &cfg);
    assert!(
        found.contains(&("canary-key-used", Severity::Critical)),
        "{found:?}"
    );
    assert!(
        found.contains(&("backdoor-key", Severity::High)),
        "{found:?}"
    );
    let handed: Vec<&str> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::HandOff { key_id, .. } => Some(key_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(handed, ["AKIACANARYKEY0000001", NEW_KEY], "{plan:#?}");
    // One that needs no permission (GetCallerIdentity succeeds under any deny) proves
    // nothing: alerted, nothing handed off.
    let whoami = json!({"eventName": "GetCallerIdentity", "eventSource": "sts.amazonaws.com",
                        "eventID": "w", "eventTime": "2026-12-04T10:00:00Z", "userIdentity": ci.clone()});
    let plan = decide(&on_bus("e6", whoami), &cfg, "e6");
    assert!(
        plan.steps.iter().all(|s| s.action.name() != "hand_off"),
        "{plan:#?}"
    );
    assert!(!plan.steps.is_empty());
    // Without an event time or with a window of 0, every call alerts: the safe side.
    let plan = decide(&on_bus("e4", create_key(ci, Some("bob"), None)), &cfg, "e4");
    assert!(plan.steps.iter().all(|s| s.window.is_none()));
    let off = cfg_with(&[("CANARY_ALERT_MINUTES", "0")]);
    let plan = decide(
        &on_bus(
            "e5",
            denied(
                canary("keyguard-canary-ci", "/"),
                "ct",
                "2026-12-04T10:00:00Z",
            ),
        ),
        &off,
        "e5",
    );
    assert!(plan.steps.iter().all(|s| s.window.is_none()));
    let err = DetectorConfig::from_env(
        &|k: &str| (k == "CANARY_ALERT_MINUTES").then(|| "1441".to_owned()),
        home(),
    )
    .unwrap_err();
    assert_eq!(err.variable, "CANARY_ALERT_MINUTES");
}

#[test]
fn a_key_made_for_a_canary_is_handed_off_for_deactivate_key_to_check() {
    let cfg = cfg_with(&[]);
    let admin = user("alice");
    assert_eq!(
        rules(
            create_key(admin.clone(), Some("keyguard-canary-ci"), None),
            &cfg
        ),
        [("canary-key-issued", Severity::High)]
    );
    let plan = decide(
        &on_bus(
            "e",
            create_key(admin.clone(), Some("keyguard-canary-ci"), None),
        ),
        &cfg,
        "e",
    );
    let Action::HandOff {
        key_id,
        classifier_source,
        ..
    } = &plan.steps[0].action
    else {
        panic!("{plan:#?}")
    };
    assert_eq!(key_id.as_str(), NEW_KEY);
    assert_eq!(classifier_source, "createkey-detector/canary-key-issued");
    for other in ["Keyguard-Canary-CI", "keyguard-canaryci"] {
        assert_eq!(
            rules(create_key(admin.clone(), Some(other), None), &cfg),
            [("backdoor-key", Severity::High)],
            "{other} is no canary"
        );
    }
}

#[test]
fn a_canary_calls_past_authorization_hand_off_and_refusals_do_not() {
    let cfg = cfg_with(&[]);
    let ci = canary("keyguard-canary-ci", "/keyguard/canary/");
    let call = |code: Option<&str>| {
        json!({"eventName": "DescribeInstances", "eventSource": "ec2.amazonaws.com", "eventID": "x",
               "eventTime": "2026-12-04T10:00:00Z", "userIdentity": ci.clone(), "errorCode": code})
    };
    for (code, handed) in [
        (None, true),
        (Some("Client.DryRunOperation"), true),
        (Some("InvalidParameterValue"), true),
        (Some("AccessDenied"), false),
        (Some("AccessDeniedException"), false),
        (Some("Client.UnauthorizedOperation"), false),
    ] {
        let plan = decide(&on_bus("e", call(code)), &cfg, "e");
        let got = plan.steps.iter().any(|s| s.action.name() == "hand_off");
        assert_eq!(got, handed, "{code:?}: {plan:#?}");
    }
}

fn canary_key(key: &str, used: Option<&str>) -> crate::canary::CanaryKey {
    crate::canary::CanaryKey {
        user: crate::UserName::parse("keyguard-canary-ci").unwrap(),
        key_id: AccessKeyId::parse(key).unwrap(),
        status: "Active".into(),
        created: crate::parse_time("2026-01-01T00:00:00Z"),
        last_used: used.and_then(crate::parse_time),
        service: used.map(|_| "s3".into()),
        region: used.map(|_| "eu-west-1".into()),
        denied: true,
    }
}

#[test]
fn the_hourly_check_alerts_once_per_recorded_use_in_the_live_rules_window() {
    let cfg = cfg_with(&[("SLACK_WEBHOOK_SECRET_ID", "s")]);
    let unused = canary_key("AKIACANARYKEY0000001", None);
    let now = crate::parse_time("2026-12-04T10:00:00Z").unwrap();
    let facts = |keys: &[crate::canary::CanaryKey]| canary_check::CanaryFacts {
        keys: keys.to_vec(),
        ..Default::default()
    };
    let plan = canary_check::decide(&facts(std::slice::from_ref(&unused)), &cfg, "sched-1", now);
    assert_eq!(plan.decision.name(), "nothing_to_do");
    assert!(plan.steps.is_empty());

    let used = canary_key("AKIACANARYKEY0000002", Some("2026-12-04T09:12:00Z"));
    let plan = canary_check::decide(
        &facts(&[unused.clone(), used.clone()]),
        &cfg,
        "sched-1",
        now,
    );
    assert_eq!(plan.steps.len(), 1, "{plan:#?}");
    let step = &plan.steps[0];
    let Action::Alert { notice, .. } = &step.action else {
        panic!("{plan:#?}")
    };
    assert_eq!(notice.severity, Severity::Critical);
    let text = serde_json::to_string(notice).unwrap();
    for part in [
        "last-used",
        "s3",
        "eu-west-1",
        "AKIACANARYKEY0000002",
        "keyguard-canary-ci",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    // The step is the use, not the run: the next hour's run finds it done.
    let next = canary_check::decide(&facts(std::slice::from_ref(&used)), &cfg, "sched-2", now);
    assert_eq!(next.steps[0].idempotency_key, step.idempotency_key);
    assert!(
        !step.idempotency_key.contains("sched-1"),
        "{}",
        step.idempotency_key
    );
    let later = canary_key("AKIACANARYKEY0000002", Some("2026-12-04T10:40:00Z"));
    let moved = canary_check::decide(&facts(std::slice::from_ref(&later)), &cfg, "sched-2", now);
    assert_ne!(
        moved.steps[0].idempotency_key, step.idempotency_key,
        "a new use is a new alert"
    );

    // The same window as the live rule's alert on this key's call, on the same channel.
    let live = decide(
        &on_bus(
            "e1",
            json!({"eventName": "ListBuckets", "eventSource": "s3.amazonaws.com", "eventID": "c",
                   "eventTime": "2026-12-04T09:12:00Z", "errorCode": "AccessDenied",
                   "userIdentity": {"type": "IAMUser", "userName": "keyguard-canary-ci",
                                    "accessKeyId": "AKIACANARYKEY0000002", "accountId": HOME,
                                    "arn": format!("arn:aws:iam::{HOME}:user/keyguard/canary/keyguard-canary-ci")}}),
        ),
        &cfg,
        "e1",
    );
    assert_eq!(live.steps[0].window, step.window, "{live:#?}");

    // A use a live alert's window covers was reported: the check stays quiet. One after
    // the window, or one older than the lookback, is treated as news and as old news.
    let covered = canary_check::CanaryFacts {
        keys: vec![used.clone()],
        alerted_until: [(
            used.key_id.to_string(),
            live.steps[0].window.clone().unwrap().until,
        )]
        .into(),
    };
    assert!(canary_check::decide(&covered, &cfg, "s", now)
        .steps
        .is_empty());
    let after = canary_check::CanaryFacts {
        keys: vec![later.clone()],
        ..covered.clone()
    };
    assert_eq!(canary_check::decide(&after, &cfg, "s", now).steps.len(), 1);
    let long_ago = canary_key("AKIACANARYKEY0000003", Some("2026-11-20T09:00:00Z"));
    assert!(canary_check::decide(&facts(&[long_ago]), &cfg, "s", now)
        .steps
        .is_empty());

    // A canary whose deny is gone, used: a live credential, handed off before the alert.
    let live = crate::canary::CanaryKey {
        denied: false,
        ..used.clone()
    };
    let plan = canary_check::decide(&facts(&[live]), &cfg, "s", now);
    let names: Vec<&str> = plan.steps.iter().map(|s| s.action.name()).collect();
    assert_eq!(names, ["hand_off", "alert"], "{plan:#?}");
    let Action::HandOff { key_id, .. } = &plan.steps[0].action else {
        panic!()
    };
    assert_eq!(key_id.as_str(), "AKIACANARYKEY0000002");
}

#[test]
fn a_disguise_as_a_canary_or_out_of_one_is_alerted() {
    let cfg = cfg_with(&[]);
    let admin = json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::{HOME}:assumed-role/ops/alice"), "accessKeyId": "ASIAROLESESSION00001"});
    let call = |name: &str, params: Value| {
        json!({"eventName": name, "eventSource": "iam.amazonaws.com", "eventID": "t",
               "userIdentity": admin.clone(), "requestParameters": params})
    };
    let deny = crate::canary::DENY_DOCUMENT;
    let allow = r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let cases: Vec<(Value, Vec<(&str, Severity)>)> = vec![
        (
            call(
                "UpdateUser",
                json!({"userName": "ci-deployer", "newUserName": "keyguard-canary-x"}),
            ),
            vec![("canary-tampered", Severity::High)],
        ),
        (
            call(
                "UpdateUser",
                json!({"userName": "keyguard-canary-x", "newUserName": "ci-deployer"}),
            ),
            vec![("canary-tampered", Severity::High)],
        ),
        (
            call(
                "UpdateUser",
                json!({"userName": "keyguard-canary-x", "newPath": "/"}),
            ),
            vec![],
        ),
        (
            call(
                "UpdateUser",
                json!({"userName": "bob", "newUserName": "robert"}),
            ),
            vec![],
        ),
        (
            call(
                "UntagUser",
                json!({"userName": "keyguard-canary-x", "tagKeys": ["keyguard:canary"]}),
            ),
            vec![("canary-tampered", Severity::Medium)],
        ),
        (
            call(
                "UntagUser",
                json!({"userName": "keyguard-canary-x", "tagKeys": ["team"]}),
            ),
            vec![],
        ),
        (
            call(
                "UntagUser",
                json!({"userName": "bob", "tagKeys": ["keyguard:canary"]}),
            ),
            vec![],
        ),
        (
            call(
                "DeleteUserPolicy",
                json!({"userName": "keyguard-canary-x", "policyName": "keyguard-canary-deny-all"}),
            ),
            vec![("canary-tampered", Severity::Medium)],
        ),
        (
            call(
                "DeleteUserPolicy",
                json!({"userName": "keyguard-canary-x", "policyName": "other"}),
            ),
            vec![],
        ),
        (
            call(
                "PutUserPolicy",
                json!({"userName": "keyguard-canary-x", "policyName": "keyguard-canary-deny-all", "policyDocument": deny}),
            ),
            vec![],
        ),
        (
            call(
                "PutUserPolicy",
                json!({"userName": "keyguard-canary-x", "policyName": "keyguard-canary-deny-all", "policyDocument": allow}),
            ),
            vec![
                ("canary-tampered", Severity::Medium),
                ("inline-admin-policy", Severity::High),
            ],
        ),
    ];
    for (event, want) in cases {
        assert_eq!(rules(event.clone(), &cfg), want, "{event}");
    }
    let mut failed = call(
        "UpdateUser",
        json!({"userName": "ci-deployer", "newUserName": "keyguard-canary-x"}),
    );
    failed["errorCode"] = json!("AccessDenied");
    assert!(
        rules(failed, &cfg).is_empty(),
        "a refused write changed nothing"
    );
}

#[test]
fn a_principal_tagged_exempt_is_alerted_and_a_key_exempting_its_own_user_is_handed_off() {
    let cfg = cfg_with(&[("EXEMPT_TAG", "Break:Glass=yes")]);
    let exempt = json!([{"key": "break:glass", "value": "YES"}]);
    let admin = json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::{HOME}:assumed-role/ops/alice"),
                       "accessKeyId": "ASIAROLESESSION00001", "accountId": HOME});
    let session = json!({"type": "IAMUser", "userName": "ci-deployer", "accessKeyId": "ASIAUSERSESSION00001",
                         "arn": format!("arn:aws:iam::{HOME}:user/ci-deployer"), "accountId": HOME});
    let call = |caller: &Value, name: &str, params: Value| {
        json!({"eventName": name, "eventSource": "iam.amazonaws.com", "eventID": "t",
               "eventTime": "2026-12-01T10:00:00Z",
               "recipientAccountId": HOME, "userIdentity": caller.clone(), "requestParameters": params})
    };
    let critical = vec![("exemption-tagged", Severity::Critical)];
    let high = vec![("exemption-tagged", Severity::High)];
    let cases: Vec<(Value, Vec<(&str, Severity)>)> = vec![
        // The escape: a user's key, or a session of the user, tags its own user (its
        // name in another case), or a role's session its role.
        (
            call(
                &user("ci-deployer"),
                "TagUser",
                json!({"userName": "CI-Deployer", "tags": exempt}),
            ),
            critical.clone(),
        ),
        (
            call(
                &session,
                "TagUser",
                json!({"userName": "ci-deployer", "tags": exempt}),
            ),
            critical.clone(),
        ),
        (
            call(
                &admin,
                "TagRole",
                json!({"roleName": "ops", "tags": exempt}),
            ),
            critical,
        ),
        // Anyone else: an administrator's role, a user's long-term key (not believed),
        // a principal created already exempt.
        (
            call(
                &admin,
                "TagUser",
                json!({"userName": "ci-deployer", "tags": exempt}),
            ),
            high.clone(),
        ),
        (
            call(
                &user("ci-deployer"),
                "TagUser",
                json!({"userName": "ci-deployer2", "tags": exempt}),
            ),
            high.clone(),
        ),
        (
            call(
                &admin,
                "CreateUser",
                json!({"userName": "svc", "tags": [{"Key": "Break:Glass", "Value": "yes"}]}),
            ),
            high.clone(),
        ),
        (
            call(
                &admin,
                "CreateRole",
                json!({"roleName": "svc", "tags": exempt, "assumeRolePolicyDocument": "{}"}),
            ),
            high.clone(),
        ),
        // Not the exemption: another value, another key, the default tag under a custom one.
        (
            call(
                &user("ci-deployer"),
                "TagUser",
                json!({"userName": "ci-deployer", "tags": [{"key": "break:glass", "value": "no"}]}),
            ),
            vec![],
        ),
        (
            call(
                &user("ci-deployer"),
                "TagUser",
                json!({"userName": "ci-deployer", "tags": [{"key": "keyguard:exempt", "value": "true"}]}),
            ),
            vec![],
        ),
        (
            call(&admin, "CreateUser", json!({"userName": "svc"})),
            vec![],
        ),
        // Tags keyguard cannot read: something may have been set unseen.
        (
            call(
                &admin,
                "TagUser",
                json!({"userName": "svc", "tags": [{"tagKey": "break:glass", "tagValue": "yes"}]}),
            ),
            vec![("exemption-tagged", Severity::Medium)],
        ),
        (
            call(&admin, "TagUser", json!({"userName": "svc"})),
            vec![("exemption-tagged", Severity::Medium)],
        ),
        // A service principal's record names no caller: someone else's tagging.
        (
            call(
                &json!({"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"}),
                "TagUser",
                json!({"userName": "svc", "tags": exempt}),
            ),
            high,
        ),
    ];
    for (event, want) in cases {
        assert_eq!(rules(event.clone(), &cfg), want, "{event}");
    }
    let mut refused = call(
        &user("ci-deployer"),
        "TagUser",
        json!({"userName": "ci-deployer", "tags": exempt}),
    );
    refused["errorCode"] = json!("AccessDenied");
    assert!(rules(refused, &cfg).is_empty(), "a refused tag set nothing");
    // With EXEMPT_TAGGERS, a listed role's exemption is expected (low), anyone else's is
    // not believed (high, and said so).
    let listed = cfg_with(&[("EXEMPT_TAG", "Break:Glass=yes"), ("EXEMPT_TAGGERS", "ops")]);
    let by_ops = call(
        &admin,
        "TagUser",
        json!({"userName": "svc", "tags": exempt}),
    );
    assert_eq!(
        rules(by_ops, &listed),
        [("exemption-tagged", Severity::Low)]
    );
    let by_key = call(
        &user("ci-deployer"),
        "TagUser",
        json!({"userName": "svc", "tags": exempt}),
    );
    let alerts = evaluate(&record(by_key), &listed);
    assert_eq!(alerts[0].severity, Severity::High);
    assert!(alerts[0].summary.ends_with("(not believed)"), "{alerts:?}");

    // The plan: who set it recorded first, then the hand-off, as the classifier
    // deactivate-key looks for; only the escape is handed off.
    let trigger = |v: Value| {
        parse(
            json!({"version": "0", "id": "ev-7", "detail-type": "AWS API Call via CloudTrail",
                   "source": "aws.iam", "detail": v})
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    };
    for (caller, key) in [
        (user("ci-deployer"), CALLER_KEY),
        (session.clone(), "ASIAUSERSESSION00001"),
    ] {
        let own = call(
            &caller,
            "TagUser",
            json!({"userName": "ci-deployer", "tags": exempt}),
        );
        let plan = decide(&trigger(own), &cfg, "ev-7");
        let names: Vec<&str> = plan.steps.iter().map(|s| s.action.name()).collect();
        assert_eq!(names[..2], ["record_exemption", "hand_off"], "{plan:#?}");
        let Action::RecordExemption {
            principal,
            account,
            provenance,
        } = &plan.steps[0].action
        else {
            panic!()
        };
        assert_eq!(
            principal,
            &crate::plan::Principal::User(UserName::parse("ci-deployer").unwrap())
        );
        assert_eq!(account.as_ref().map(|a| a.as_str()), Some(HOME));
        assert!(provenance.own, "{provenance:?}");
        let Action::HandOff {
            key_id,
            user: named,
            classifier_source,
            ..
        } = &plan.steps[1].action
        else {
            panic!("{plan:#?}")
        };
        assert_eq!(key_id.as_str(), key);
        assert_eq!(named.as_ref().map(|u| u.as_str()), Some("ci-deployer"));
        assert_eq!(
            classifier_source,
            crate::policy::containment::SELF_EXEMPTION,
            "the hand-off deactivate-key does not believe the tag for"
        );
    }
    let other = call(
        &admin,
        "TagUser",
        json!({"userName": "ci-deployer", "tags": exempt}),
    );
    let plan = decide(&trigger(other), &cfg, "ev-7");
    let names: Vec<&str> = plan.steps.iter().map(|s| s.action.name()).collect();
    assert_eq!(names, ["record_exemption", "notify"], "{plan:#?}");
}

#[test]
fn a_last_use_in_a_year_no_window_can_follow_still_alerts_and_never_panics() {
    // A facts file's canary may carry any time chrono reads (`keyguard plan`).
    let cfg = cfg_with(&[("SLACK_WEBHOOK_SECRET_ID", "s")]);
    let mut far = canary_key("AKIACANARYKEY0000003", Some("2026-12-04T09:12:00Z"));
    far.last_used = Some(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    let now = crate::parse_time("2026-12-04T10:00:00Z").unwrap();
    let facts = canary_check::CanaryFacts {
        keys: vec![far],
        ..Default::default()
    };
    let plan = canary_check::decide(&facts, &cfg, "sched-1", now);
    let alerts: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| matches!(s.action, Action::Alert { .. }))
        .collect();
    assert_eq!(alerts.len(), 1, "{plan:#?}");
    assert_eq!(alerts[0].window, None);
}
