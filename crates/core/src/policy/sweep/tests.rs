use super::*;
use crate::policy::containment::SelfIdentity;

fn now() -> Timestamp {
    crate::parse_time("2026-11-23T12:00:00Z").unwrap()
}

fn ago(days: i64) -> Timestamp {
    now() - chrono::Duration::days(days)
}

fn cfg(env: &[(&str, &str)]) -> RotatorConfig {
    let m: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    RotatorConfig::from_env(&move |k: &str| m.get(k).cloned(), SelfIdentity::default()).unwrap()
}

fn key(id: &str, status: KeyStatus, created_days_ago: i64, used_days_ago: Option<i64>) -> KeyFacts {
    KeyFacts {
        key_id: id.into(),
        status,
        created: ago(created_days_ago),
        last_used: used_days_ago.map(ago),
    }
}

fn user(name: &str, kind: Option<&str>, keys: Vec<KeyFacts>) -> UserFacts {
    UserFacts {
        name: name.into(),
        tags: kind
            .map(|k| BTreeMap::from([("UserType".to_owned(), k.to_owned())]))
            .unwrap_or_default(),
        keys,
    }
}

fn actions(p: &Plan) -> Vec<(String, String)> {
    p.steps
        .iter()
        .map(|s| {
            (
                s.action.name().to_owned(),
                s.action.key_id().map(|k| k.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

const K: &str = "AKIAUNUSEDKEY0000001";

#[test]
fn unused_keys_by_user_type_around_the_threshold() {
    use KeyStatus::{Active, Inactive};
    let cases: Vec<(&str, UserFacts, Vec<&str>)> = vec![
        (
            "employee, used 89 days ago",
            user("e", Some("employee"), vec![key(K, Active, 400, Some(89))]),
            vec![],
        ),
        (
            "employee, used 90 days ago",
            user("e", Some("Employee"), vec![key(K, Active, 400, Some(90))]),
            vec!["deactivate_key", "notify"],
        ),
        (
            "employee, never used, created 90 days ago",
            user("e", Some("employee"), vec![key(K, Active, 90, None)]),
            vec!["deactivate_key", "notify"],
        ),
        (
            "employee, never used, created 10 days ago",
            user("e", Some("employee"), vec![key(K, Active, 10, None)]),
            vec![],
        ),
        (
            "employee, already Inactive",
            user("e", Some("employee"), vec![key(K, Inactive, 400, None)]),
            vec![],
        ),
        (
            "machine",
            user("m", Some("machine"), vec![key(K, Active, 400, Some(200))]),
            vec!["notify"],
        ),
        (
            "untagged",
            user("u", None, vec![key(K, Active, 400, Some(200))]),
            vec!["notify"],
        ),
    ];
    for (name, u, want) in cases {
        let p = decide_sweep("ev", &cfg(&[]), &[u], &[], now());
        let got: Vec<String> = p.steps.iter().map(|s| s.action.name().to_owned()).collect();
        assert_eq!(got, want, "{name}: {p:#?}");
        if want.is_empty() {
            assert_eq!(p.decision.name(), "nothing_to_do", "{name}");
        }
    }
    let exempt = user("e", Some("employee"), vec![key(K, Active, 400, Some(200))]);
    let p = decide_sweep("ev", &cfg(&[("EXEMPT_USERS", "e")]), &[exempt], &[], now());
    assert_eq!(actions(&p), [("notify".to_owned(), K.to_owned())]);
    let p = decide_sweep(
        "ev",
        &cfg(&[("UNUSED_KEY_DAYS", "300")]),
        &[user(
            "e",
            Some("employee"),
            vec![key(K, Active, 400, Some(200))],
        )],
        &[],
        now(),
    );
    assert!(p.steps.is_empty());
}

#[test]
fn only_the_retired_key_past_its_grace_is_deleted() {
    use KeyStatus::{Active, Inactive};
    const CUR: &str = "AKIACURRENTKEY000001";
    const PREV: &str = "AKIAPREVIOUSKEY00001";
    let svc = |prev_status| {
        user(
            "svc",
            Some("machine"),
            vec![
                key(CUR, Active, 8, Some(0)),
                key(PREV, prev_status, 100, Some(9)),
            ],
        )
    };
    let secret = |days_ago| ManagedSecret {
        arn: "arn:secret".into(),
        user: "svc".into(),
        current_key: Some(CUR.into()),
        previous_key: Some(PREV.into()),
        last_rotated: Some(ago(days_ago)),
        previous_retired_at: Some(ago(days_ago)),
        previous_contained_at: None,
    };
    let p = decide_sweep("ev", &cfg(&[]), &[svc(Inactive)], &[secret(7)], now());
    assert_eq!(
        actions(&p)[..2],
        [
            ("delete_key".to_owned(), PREV.to_owned()),
            ("notify".to_owned(), PREV.to_owned())
        ]
    );
    assert_eq!(
        p.steps[0].idempotency_key,
        format!("secrets-rotator:delete_key:{PREV}")
    );
    // Inside the grace period, or still Active: kept.
    assert!(
        decide_sweep("ev", &cfg(&[]), &[svc(Inactive)], &[secret(6)], now())
            .steps
            .is_empty()
    );
    assert!(!actions(&decide_sweep(
        "ev",
        &cfg(&[]),
        &[svc(Active)],
        &[secret(30)],
        now()
    ))
    .iter()
    .any(|(a, _)| a == "delete_key"));
    // An Inactive key the secret never held is never deleted.
    let hand = user(
        "svc",
        Some("machine"),
        vec![
            key(CUR, Active, 8, Some(0)),
            key("AKIASETASIDEKEY00001", Inactive, 100, None),
        ],
    );
    assert!(decide_sweep("ev", &cfg(&[]), &[hand], &[secret(30)], now())
        .steps
        .is_empty());
    // A tagged secret whose AWSPREVIOUS names an Inactive key keyguard's rotation never
    // retired (set aside for an investigation, say): never deleted.
    let planted = ManagedSecret {
        previous_retired_at: None,
        ..secret(30)
    };
    assert!(!actions(&decide_sweep(
        "ev",
        &cfg(&[]),
        &[svc(Inactive)],
        &[planted],
        now()
    ))
    .iter()
    .any(|(a, _)| a == "delete_key"));
    // Retired, then contained by keyguard: evidence for its retention period.
    let contained = ManagedSecret {
        previous_contained_at: Some(ago(3)),
        ..secret(30)
    };
    assert!(!actions(&decide_sweep(
        "ev",
        &cfg(&[]),
        &[svc(Inactive)],
        &[contained],
        now()
    ))
    .iter()
    .any(|(a, _)| a == "delete_key"));
}

#[test]
fn a_notice_that_a_key_was_deleted_or_deactivated_waits_for_it() {
    use KeyStatus::{Active, Inactive};
    const OLD: &str = "AKIARETIREDKEY000001";
    let users = [
        user("e", Some("employee"), vec![key(K, Active, 400, None)]),
        user("m", Some("machine"), vec![key(OLD, Inactive, 400, None)]),
    ];
    let secret = ManagedSecret {
        arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:s".into(),
        user: "m".into(),
        current_key: Some("AKIACURRENTKEY000001".into()),
        previous_key: Some(OLD.into()),
        last_rotated: Some(ago(30)),
        previous_retired_at: Some(ago(30)),
        previous_contained_at: None,
    };
    let plan = decide_sweep("ev", &cfg(&[]), &users, &[secret], now());
    for (action, key_id) in [("delete_key", OLD), ("deactivate_key", K)] {
        let at = plan
            .steps
            .iter()
            .position(|s| {
                s.action.name() == action && s.action.key_id().is_some_and(|k| k.as_str() == key_id)
            })
            .unwrap_or_else(|| panic!("{action}: {plan:#?}"));
        let notice = &plan.steps[at + 1];
        assert_eq!(notice.action.name(), "notify");
        assert_eq!(
            notice.after.as_deref(),
            Some(plan.steps[at].idempotency_key.as_str()),
            "{action}'s notice waits for it"
        );
    }
}

#[test]
fn a_canary_is_never_swept_nor_reported() {
    let mut canary = user(
        "keyguard-canary-ci",
        Some("employee"),
        vec![key(K, KeyStatus::Active, 400, None)],
    );
    canary
        .tags
        .insert("keyguard:canary".to_owned(), "true".to_owned());
    let p = decide_sweep("ev", &cfg(&[]), &[canary.clone()], &[], now());
    assert!(p.steps.is_empty(), "{p:#?}");
    canary.tags.remove("keyguard:canary");
    let p = decide_sweep("ev", &cfg(&[]), &[canary], &[], now());
    assert!(
        !p.steps.is_empty(),
        "without the tag it is an employee's unused key"
    );
}

/// A member account's sweep (organisation mode): its steps act there and name it, and
/// the guard is that account's: a bare `EXEMPT_USERS` name is keyguard's own account's
/// user, and only `ACCOUNT:NAME` exempts a member's.
#[test]
fn a_members_sweep_acts_there_under_that_accounts_exemptions() {
    let member = crate::scope::AccountId::parse("222233334444").unwrap();
    let unused = || vec![key(K, KeyStatus::Active, 200, None)];
    let in_org = |exempt: &str| {
        let mut c = cfg(&[("EXEMPT_USERS", exempt)]);
        c.guard.me.account = crate::scope::AccountId::parse("111122223333").ok();
        c.guard.organization = Some(crate::organization::Organization {
            member_role: "keyguard-member".into(),
            allowed: None,
        });
        c
    };
    let users = [user("ops", Some("employee"), unused())];

    let plan = decide_sweep_in(Some(&member), "ev", &in_org("ops"), &users, &[], now());
    assert_eq!(
        actions(&plan),
        [
            ("deactivate_key".into(), K.into()),
            ("notify".into(), K.into())
        ],
        "a bare name is the home account's ops, not this one"
    );
    for step in &plan.steps {
        assert_eq!(step.scope.as_ref().map(|s| &s.account), Some(&member));
        assert!(
            step.idempotency_key.contains(":222233334444:"),
            "{}",
            step.idempotency_key
        );
    }
    assert_eq!(
        plan.steps[1].after.as_deref(),
        Some(plan.steps[0].idempotency_key.as_str())
    );
    let Action::Notify { notice } = &plan.steps[1].action else {
        panic!("{:?}", plan.steps[1].action)
    };
    assert!(format!("{notice:?}").contains("222233334444"), "{notice:?}");

    let exempt = decide_sweep_in(
        Some(&member),
        "ev",
        &in_org("222233334444:ops"),
        &users,
        &[],
        now(),
    );
    assert_eq!(
        actions(&exempt),
        [("notify".into(), K.into())],
        "reported, not touched"
    );
    // The home account, as the organisation sweep reads it: a bare name holds there, and
    // so does one written with its account.
    let home = crate::scope::AccountId::parse("111122223333").unwrap();
    for exempt in ["ops", "111122223333:ops"] {
        let plan = decide_sweep_in(Some(&home), "ev", &in_org(exempt), &users, &[], now());
        assert_eq!(actions(&plan), [("notify".into(), K.into())], "{exempt}");
        assert!(plan
            .steps
            .iter()
            .all(|s| s.scope.as_ref().map(|s| &s.account) == Some(&home)));
    }
    // Another member's exemption does not reach the home account.
    let plan = decide_sweep_in(
        Some(&home),
        "ev",
        &in_org("222233334444:ops"),
        &users,
        &[],
        now(),
    );
    assert_eq!(actions(&plan)[0].0, "deactivate_key");
    // Single-account mode: no scope, and the bare name holds.
    let single = decide_sweep("ev", &in_org("ops"), &users, &[], now());
    assert_eq!(actions(&single), [("notify".into(), K.into())]);
    assert!(single.steps.iter().all(|s| s.scope.is_none()));
}

/// Only a rotation's deactivation retires a key: the sweep's own deactivation of an
/// unused key is told apart by its ledger key, so it never lets the key be deleted as
/// one a rotation replaced.
#[test]
fn the_sweeps_deactivation_is_no_retirement() {
    let users = [user(
        "e",
        Some("employee"),
        vec![key(K, KeyStatus::Active, 200, None)],
    )];
    for account in [None, crate::scope::AccountId::parse("222233334444").ok()] {
        let plan = decide_sweep_in(account.as_ref(), "ev", &cfg(&[]), &users, &[], now());
        let deactivation = &plan.steps[0];
        assert_eq!(deactivation.action.name(), "deactivate_key");
        assert!(is_unused_key_deactivation(&deactivation.idempotency_key));
        assert!(
            !is_unused_key_deactivation(&plan.steps[1].idempotency_key),
            "a notice"
        );
    }
    assert!(!is_unused_key_deactivation(
        "secrets-rotator:deactivate_key:-:arn:aws:secretsmanager:us-east-1:111122223333:secret:app-AbCdEf/AKIAUNUSEDKEY0000001:token"
    ));
}
