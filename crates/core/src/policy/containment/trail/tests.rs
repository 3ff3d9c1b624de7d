use super::*;
use crate::notice::Severity;
use crate::report::{Outcome, Report, StepReport};
use crate::scope::AccountId;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const LEAKED: &str = "AKIAIOSFODNN7EXAMPLE";
const MADE: &str = "AKIAI44QH8DHBEXAMPLE";
const HOME: &str = "111111111111";

fn cfg(env: &[(&str, &str)]) -> ContainmentConfig {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let me = crate::guard::SelfIdentity {
        role: Some("keyguard-deactivate-key".into()),
        account: Some(AccountId::parse(HOME).unwrap()),
        ..Default::default()
    };
    ContainmentConfig::from_env(&|k: &str| env.get(k).cloned(), me).unwrap()
}

fn key(k: &str) -> AccessKeyId {
    AccessKeyId::parse(k).unwrap()
}

fn user(u: &str) -> UserName {
    UserName::parse(u).unwrap()
}

fn now() -> Timestamp {
    crate::parse_time("2026-12-01T12:00:00Z").unwrap()
}

fn record(by: &str, name: &str, params: Value, response: Value, at: &str) -> Value {
    let source = if name.starts_with("Get") && name.ends_with("Token") {
        "sts"
    } else {
        "iam"
    };
    json!({"eventID": format!("{name}-{at}"), "eventTime": at, "eventName": name,
           "eventSource": format!("{source}.amazonaws.com"),
           "userIdentity": {"type": "IAMUser", "accessKeyId": by, "userName": "alice"},
           "requestParameters": params, "responseElements": response})
}

fn swept() -> Swept {
    Swept {
        key_id: key(LEAKED),
        owner: Some(user("alice")),
        scope: Some(Scope {
            account: AccountId::parse(HOME).unwrap(),
            region: None,
        }),
    }
}

fn history(events: Vec<Value>) -> KeyHistory {
    KeyHistory::new(
        swept(),
        Lookback {
            events,
            regions: vec!["us-east-1".into()],
            ..Lookback::default()
        },
        &cfg(&[]).guard,
    )
}

fn created(by: &str, k: &str, for_user: Option<&str>, at: &str) -> Value {
    let params = for_user.map_or(json!({}), |u| json!({"userName": u}));
    let mut response = json!({"accessKey": {"accessKeyId": k}});
    if let Some(u) = for_user {
        response["accessKey"]["userName"] = json!(u);
    }
    record(by, "CreateAccessKey", params, response, at)
}

#[test]
fn only_what_the_key_made_and_that_succeeded_is_listed_oldest_first() {
    let mut failed = record(
        LEAKED,
        "CreateUser",
        json!({"userName": "mallory"}),
        json!(null),
        "2026-12-01T11:00:00Z",
    );
    failed["errorCode"] = json!("AccessDenied");
    let h = history(vec![
        record(
            LEAKED,
            "GetFederationToken",
            json!({"name": "ops"}),
            json!(null),
            "2026-12-01T11:30:00Z",
        ),
        created(LEAKED, MADE, Some("bob"), "2026-12-01T10:00:00Z"),
        failed,
        record(
            LEAKED,
            "ListUsers",
            json!({}),
            json!(null),
            "2026-12-01T11:10:00Z",
        ),
        record(
            "AKIAOTHERKEY00000001",
            "CreateUser",
            json!({"userName": "x"}),
            json!(null),
            "2026-12-01T11:20:00Z",
        ),
        record(
            LEAKED,
            "UpdateAssumeRolePolicy",
            json!({"roleName": "ops", "policyDocument": "{}"}),
            json!(null),
            "2026-12-01T10:30:00Z",
        ),
        record(
            LEAKED,
            "AttachRolePolicy",
            json!({"roleName": "ops", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            json!(null),
            "2026-12-01T10:40:00Z",
        ),
        record(
            LEAKED,
            "DeactivateMFADevice",
            json!({"userName": "carol", "serialNumber": "arn:aws:iam::1:mfa/carol"}),
            json!(null),
            "2026-12-01T10:50:00Z",
        ),
        record(
            LEAKED,
            "UpdateLoginProfile",
            json!({"userName": "dave"}),
            json!(null),
            "2026-12-01T10:55:00Z",
        ),
        json!("not a record"),
    ]);
    let listed: Vec<(&str, &str)> = h
        .activity
        .iter()
        .map(|a| (a.call.as_str(), a.what.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            (
                "CreateAccessKey",
                &*format!("created access key {MADE} for user bob")
            ),
            (
                "UpdateAssumeRolePolicy",
                "changed the trust policy of role ops"
            ),
            (
                "AttachRolePolicy",
                "attached policy arn:aws:iam::aws:policy/AdministratorAccess to role ops"
            ),
            (
                "DeactivateMFADevice",
                "deactivated MFA device arn:aws:iam::1:mfa/carol of user carol"
            ),
            (
                "UpdateLoginProfile",
                "changed the console password of user dave"
            ),
            (
                "GetFederationToken",
                "got a federation token (federated user ops)"
            ),
        ]
    );
    assert_eq!(
        h.unreadable, 1,
        "a record that does not parse is counted, not dropped unsaid"
    );
    assert_eq!(h.activity[0].created, Some((user("bob"), key(MADE))));
}

#[test]
fn a_key_made_for_itself_belongs_to_the_caller() {
    let h = history(vec![created(LEAKED, MADE, None, "2026-12-01T10:00:00Z")]);
    assert_eq!(h.activity[0].created, Some((user("alice"), key(MADE))));
}

#[test]
fn a_sweep_is_held_out_of_the_plan_and_due_only_once_its_keys_step_went_through() {
    let cfg = cfg(&[]);
    let target = Target {
        credentials: vec![Credential {
            subject: Subject::UserKey {
                key_id: key(LEAKED),
                user: Some(user("alice")),
            },
            scope: swept().scope,
            foreign: None,
            tag_not_believed: None,
            contested: None,
        }],
        classifier_source: None,
        event_ref: "ev-1".into(),
    };
    let mut plan =
        super::super::decide(&target, &cfg, &[facts(Some(KeyStatus::Active), &[])], now());
    let held = hold(&mut plan);
    assert_eq!(held.len(), 1);
    assert_eq!(
        held[0].idempotency_key,
        format!("deactivate-key:sweep_history:{HOME}:{LEAKED}:ev-1")
    );
    assert_eq!(
        held[0].after.as_deref(),
        Some(plan.steps[0].idempotency_key.as_str())
    );
    assert!(plan
        .steps
        .iter()
        .all(|s| !matches!(s.action, Action::SweepHistory { .. })));
    let report = |outcome: Outcome| Report {
        steps: plan
            .steps
            .iter()
            .map(|s| StepReport {
                step: s.clone(),
                outcome: outcome.clone(),
                retried: false,
            })
            .collect(),
        ..Report::invalid(FUNCTION, false, "x")
    };
    let failed = Outcome::Failed {
        code: None,
        message: "throttled".into(),
    };
    assert!(
        due(held.clone(), &report(failed)).is_empty(),
        "a key whose step failed waits for the retry"
    );
    for through in [
        Outcome::Applied { detail: None },
        Outcome::Duplicate,
        Outcome::Planned,
    ] {
        let due = due(held.clone(), &report(through));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1.key_id, key(LEAKED));
        assert!(due[0].0.after.is_none(), "it runs in the sweep's own plan");
    }
    // A key already Inactive is swept too (its sweep waits for nothing), unless
    // LOOKBACK_HOURS=0.
    let mut plan = super::super::decide(
        &target,
        &cfg,
        &[facts(Some(KeyStatus::Inactive), &[])],
        now(),
    );
    let held = hold(&mut plan);
    assert_eq!(due(held, &report(Outcome::Duplicate)).len(), 1);
    let off = super::super::decide(
        &target,
        &self::cfg(&[("LOOKBACK_HOURS", "0")]),
        &[facts(Some(KeyStatus::Active), &[])],
        now(),
    );
    assert!(off
        .steps
        .iter()
        .all(|s| !matches!(s.action, Action::SweepHistory { .. })));
}

fn facts(status: Option<KeyStatus>, tags: &[(&str, &str)]) -> Facts {
    Facts {
        owner: Some(user("bob")),
        exists: status.is_some(),
        key_status: status,
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        ..Facts::default()
    }
}

fn planned(cfg: &ContainmentConfig, h: &[KeyHistory], facts: &[Facts]) -> Plan {
    let target = created_target(h, cfg, "ev-1");
    decide(h, &[], &target, facts, cfg, now())
}

fn listing_of(plan: &Plan) -> Vec<String> {
    let Some(Action::Notify { notice }) = plan.steps.last().map(|s| &s.action) else {
        panic!("no listing: {plan:#?}");
    };
    notice
        .facts
        .iter()
        .filter(|(k, _)| k.starts_with("action "))
        .map(|(_, v)| v.clone())
        .collect()
}

#[test]
fn a_created_key_is_contained_as_a_named_key_is() {
    let cfg = cfg(&[]);
    let h = [history(vec![created(
        LEAKED,
        MADE,
        Some("bob"),
        "2026-12-01T10:00:00Z",
    )])];
    let plan = planned(&cfg, &h, &[facts(Some(KeyStatus::Active), &[])]);
    let names: Vec<(&str, Option<&AccessKeyId>)> = plan
        .steps
        .iter()
        .map(|s| (s.action.name(), s.action.key_id()))
        .collect();
    let (made, leaked) = (key(MADE), key(LEAKED));
    assert_eq!(
        names,
        [
            ("deactivate_key", Some(&made)),
            ("revoke_sessions", Some(&made)),
            ("notify", Some(&leaked))
        ]
    );
    assert_eq!(
        plan.steps[0].idempotency_key,
        format!("deactivate-key:deactivate_key:{HOME}:{MADE}:ev-1")
    );
    assert_eq!(
        plan.steps[2].idempotency_key,
        format!("deactivate-key:notify:{HOME}:sweep/{LEAKED}:ev-1")
    );
    assert!(plan.steps[0]
        .reason
        .starts_with("created with a contained key (CreateAccessKey at 2026-12-01T10:00:00Z"));
    assert!(listing_of(&plan)[0].ends_with("[deactivation planned in this run: see its step]"));
    assert!(
        !plan
            .steps
            .iter()
            .any(|s| matches!(s.action, Action::SweepHistory { .. })),
        "one level deep: a created key is not swept in turn"
    );
    assert_eq!(plan.decision, Decision::Act);
}

#[test]
fn exempt_deleted_already_inactive_and_report_only_keys_are_not_deactivated() {
    let h = [history(vec![created(
        LEAKED,
        MADE,
        Some("bob"),
        "2026-12-01T10:00:00Z",
    )])];
    type Env<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Env, Facts, &str); 4] = [
        (
            &[],
            facts(Some(KeyStatus::Active), &[("keyguard:exempt", "true")]),
            "[not contained: see the refusal]",
        ),
        (&[], facts(None, &[]), "[no longer exists]"),
        (
            &[],
            facts(Some(KeyStatus::Inactive), &[]),
            "[already Inactive]",
        ),
        (
            &[("SWEEP_CREATED_KEYS", "report")],
            facts(Some(KeyStatus::Active), &[]),
            "[listed only]",
        ),
    ];
    for (env, f, said) in cases {
        let cfg = cfg(env);
        let target = created_target(&h, &cfg, "ev-1");
        let all = vec![f.clone(); target.credentials.len()];
        let plan = decide(&h, &[], &target, &all, &cfg, now());
        assert!(
            !plan
                .steps
                .iter()
                .any(|s| matches!(s.action, Action::DeactivateKey { .. })),
            "{said}: {plan:#?}"
        );
        assert!(
            listing_of(&plan)[0].ends_with(said),
            "{said}: {:?}",
            listing_of(&plan)
        );
    }
}

#[test]
fn a_user_the_contained_key_tagged_exempt_has_its_new_key_contained_all_the_same() {
    let cfg = cfg(&[]);
    let exempt = json!([{"key": "KeyGuard:Exempt", "value": "TRUE"}]);
    let tagged = facts(Some(KeyStatus::Active), &[("keyguard:exempt", "true")]);
    for how in ["TagUser", "CreateUser"] {
        let h = [history(vec![
            record(
                LEAKED,
                how,
                json!({"userName": "bob", "tags": exempt}),
                json!(null),
                "2026-12-01T09:00:00Z",
            ),
            created(LEAKED, MADE, Some("bob"), "2026-12-01T10:00:00Z"),
        ])];
        assert_eq!(h[0].activity[0].exempted, Some(user("bob")), "{how}");
        let plan = planned(&cfg, &h, std::slice::from_ref(&tagged));
        let first = &plan.steps[0];
        assert!(
            matches!(&first.action, Action::DeactivateKey { key_id, .. } if key_id == &key(MADE)),
            "{how}: {plan:#?}"
        );
        assert!(
            first.reason.contains(&format!(
                "exemption tag is not believed: contained key {LEAKED} tagged user bob exempt ({how} at 2026-12-01T09:00:00Z"
            )),
            "{how}: {}",
            first.reason
        );
        assert!(
            listing_of(&plan)[0].contains("exempt from keyguard"),
            "{how}: {:?}",
            listing_of(&plan)
        );
    }
    // Another user's tag, another tag, or the tag set by someone else is believed.
    let other = [
        record(
            LEAKED,
            "TagUser",
            json!({"userName": "carol", "tags": exempt}),
            json!(null),
            "2026-12-01T09:00:00Z",
        ),
        record(
            LEAKED,
            "TagUser",
            json!({"userName": "bob", "tags": [{"key": "keyguard:exempt", "value": "false"}]}),
            json!(null),
            "2026-12-01T09:00:00Z",
        ),
        record(
            MADE,
            "TagUser",
            json!({"userName": "bob", "tags": exempt}),
            json!(null),
            "2026-12-01T09:00:00Z",
        ),
    ];
    for tag in other {
        let h = [history(vec![
            tag.clone(),
            created(LEAKED, MADE, Some("bob"), "2026-12-01T10:00:00Z"),
        ])];
        let plan = planned(&cfg, &h, std::slice::from_ref(&tagged));
        assert!(
            !plan
                .steps
                .iter()
                .any(|s| matches!(s.action, Action::DeactivateKey { .. })),
            "{tag}: {plan:#?}"
        );
    }
}

#[test]
fn a_key_that_made_nothing_plans_nothing_and_a_cut_short_history_says_so() {
    let cfg = cfg(&[]);
    let quiet = [history(vec![record(
        LEAKED,
        "ListUsers",
        json!({}),
        json!(null),
        "2026-12-01T10:00:00Z",
    )])];
    let plan = planned(&cfg, &quiet, &[]);
    assert!(plan.steps.is_empty());
    assert!(matches!(plan.decision, Decision::NothingToDo { .. }));
    for complete in [true, false] {
        let mut cut = quiet.clone();
        cut[0].truncated = true;
        cut[0].created_complete = complete;
        cut[0].unread_regions = vec!["eu-west-1".into()];
        let plan = planned(&cfg, &cut, &[]);
        let Some(Action::Notify { notice }) = plan.steps.first().map(|s| &s.action) else {
            panic!("{plan:#?}");
        };
        assert!(
            notice.facts["incomplete"].contains(if complete {
                "every CreateAccessKey"
            } else {
                "may be missing"
            }),
            "{notice:#?}"
        );
        assert_eq!(notice.facts["regions not read"], "eu-west-1");
        let want = if complete {
            Severity::High
        } else {
            Severity::Critical
        };
        assert_eq!(
            notice.severity, want,
            "a sweep that may have missed a created key says so loudly"
        );
    }
}

#[test]
fn the_sweep_settings_are_checked() {
    let bad = |env: &[(&str, &str)]| {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        SweepConfig::from_env(&|k: &str| env.get(k).cloned())
            .unwrap_err()
            .variable
    };
    assert_eq!(bad(&[("LOOKBACK_HOURS", "2161")]), "LOOKBACK_HOURS");
    assert_eq!(bad(&[("LOOKBACK_HOURS", "-1")]), "LOOKBACK_HOURS");
    assert_eq!(
        bad(&[("SWEEP_CREATED_KEYS", "delete")]),
        "SWEEP_CREATED_KEYS"
    );
    let default = SweepConfig::from_env(&|_: &str| None).unwrap();
    assert_eq!(
        (default.lookback_hours, default.created_keys),
        (72, CreatedKeys::Contain)
    );
    assert!(
        !SweepConfig::from_env(&|k: &str| (k == "LOOKBACK_HOURS").then(|| "0".into()))
            .unwrap()
            .on()
    );
    // Every region enabled by default is read unless told otherwise.
    assert_eq!(default.regions.len(), DEFAULT_REGIONS.len());
    assert!(default.regions.iter().any(|r| r == "eu-west-1"));
    let regions = |v: &str| {
        SweepConfig::from_env(&|k: &str| (k == "LOOKBACK_REGIONS").then(|| v.to_owned()))
            .map(|c| c.regions)
            .map_err(|e| e.variable)
    };
    assert_eq!(regions(" None "), Ok(vec![]));
    assert_eq!(
        regions("eu-south-1, ap-east-1"),
        Ok(vec!["ap-east-1".to_owned(), "eu-south-1".to_owned()])
    );
    for wrong in [
        "eu_west_1",
        "EU-WEST-1",
        "eu-west",
        "us-gov-west-1x",
        "*",
        " ",
    ] {
        assert_eq!(
            regions(wrong),
            Err("LOOKBACK_REGIONS".to_owned()),
            "{wrong}"
        );
    }
    assert_eq!(
        regions("us-gov-west-1"),
        Ok(vec!["us-gov-west-1".to_owned()])
    );
}

#[test]
fn a_sweep_under_another_function_names_every_step_and_link_after_it() {
    let mut plan = Plan::for_event(FUNCTION, Decision::Act, "ev");
    plan.steps.push(Step {
        replaces: None,
        after: Some(format!("{FUNCTION}:deactivate_key:1:k:ev")),
        idempotency_key: format!("{FUNCTION}:revoke_sessions:1:k:ev"),
        action: Action::Notify {
            notice: Notice::new(Severity::Low, "x"),
        },
        reason: String::new(),
        scope: None,
        window: None,
    });
    plan.steps.push(Step {
        after: None,
        idempotency_key: "guardduty-translator:sweep_history:1:k:ev".into(),
        ..plan.steps[0].clone()
    });
    let renamed = as_function(plan, "guardduty-translator");
    assert_eq!(renamed.function, "guardduty-translator");
    assert_eq!(
        renamed.steps[0].idempotency_key,
        "guardduty-translator:revoke_sessions:1:k:ev"
    );
    assert_eq!(
        renamed.steps[0].after.as_deref(),
        Some("guardduty-translator:deactivate_key:1:k:ev")
    );
    assert_eq!(
        renamed.steps[1].idempotency_key, "guardduty-translator:sweep_history:1:k:ev",
        "a step already the function's is left as it is"
    );
}
