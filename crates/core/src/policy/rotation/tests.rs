use super::*;
use crate::report::Report;

const ARN: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:keyguard/iam-user/svc-AbCdEf";
const TOKEN: &str = "7f9c1a2b-0000-4000-8000-000000000001";
const OLD: &str = "AKIAOLDKEY0000000001";
const NEW: &str = "AKIANEWKEY0000000001";
const OTHER: &str = "AKIAOTHERKEY00000001";

fn cfg() -> RotatorConfig {
    RotatorConfig::from_env(&|_: &str| None, SelfIdentity::default()).unwrap()
}

fn now() -> Timestamp {
    crate::parse_time("2026-11-23T12:00:00Z").unwrap()
}

fn event(step: RotationStep) -> RotationEvent {
    RotationEvent {
        step,
        secret_id: ARN.into(),
        client_request_token: TOKEN.into(),
        rotation_token: None,
    }
}

fn held(key: &str) -> Option<HeldKey> {
    Some(HeldKey {
        user: Some("svc".into()),
        key_id: Some(key.into()),
    })
}

/// A secret holding OLD as AWSCURRENT, the token AWSPENDING, the user's keys as given.
fn facts(keys: &[(&str, KeyStatus)], pending: Option<&str>) -> SecretFacts {
    SecretFacts {
        arn: ARN.into(),
        tags: BTreeMap::from([("keyguard:iam-user".to_owned(), "svc".to_owned())]),
        versions: BTreeMap::from([
            ("v-old".to_owned(), vec![CURRENT.to_owned()]),
            (TOKEN.to_owned(), vec![PENDING.to_owned()]),
        ]),
        current: held(OLD),
        pending: pending.and_then(held),
        previous: None,
        user_keys: Some(keys.iter().map(|(k, s)| (k.to_string(), *s)).collect()),
        user_tags: BTreeMap::new(),
        contained: BTreeMap::new(),
    }
}

fn names(p: &Plan) -> Vec<&'static str> {
    p.steps.iter().map(|s| s.action.name()).collect()
}

fn status(p: &Plan) -> u16 {
    Report::new(p.clone(), false, Vec::new()).status_code
}

use KeyStatus::{Active, Inactive};

#[test]
fn create_makes_room_only_by_deleting_an_inactive_key() {
    let cases: Vec<(&str, SecretFacts, &str, Vec<&str>, u16)> = vec![
        (
            "one key",
            facts(&[(OLD, Active)], None),
            "act",
            vec!["create_pending_key"],
            200,
        ),
        (
            "other key Inactive",
            facts(&[(OLD, Active), (OTHER, Inactive)], None),
            "act",
            vec!["delete_key", "notify", "create_pending_key"],
            200,
        ),
        (
            "other key Active",
            facts(&[(OLD, Active), (OTHER, Active)], None),
            "refused",
            vec!["notify"],
            403,
        ),
        (
            "already created for this token",
            facts(&[(OLD, Active), (NEW, Active)], Some(NEW)),
            "nothing_to_do",
            vec![],
            200,
        ),
        (
            "no such user",
            SecretFacts {
                user_keys: None,
                ..facts(&[], None)
            },
            "not_found",
            vec![],
            404,
        ),
    ];
    for (name, f, decision, steps, code) in cases {
        let p = decide_step(&event(RotationStep::Create), &cfg(), &f, now());
        assert_eq!(p.decision.name(), decision, "{name}: {p:#?}");
        assert_eq!(names(&p), steps, "{name}");
        assert_eq!(status(&p), code, "{name}");
    }
    let refused = decide_step(
        &event(RotationStep::Create),
        &cfg(),
        &facts(&[(OLD, Active), (OTHER, Active)], None),
        now(),
    );
    assert!(refused.decision.explanation().unwrap().contains(OTHER));
    let deleted = decide_step(
        &event(RotationStep::Create),
        &cfg(),
        &facts(&[(OLD, Active), (OTHER, Inactive)], None),
        now(),
    );
    assert!(
        matches!(&deleted.steps[0].action, Action::DeleteKey { key_id, .. } if key_id.as_str() == OTHER)
    );
    assert!(matches!(
        &deleted.steps[2].action,
        Action::CreatePendingKey { secret_id, token, user }
            if secret_id == ARN && token == TOKEN && user.as_str() == "svc"
    ));
    assert_eq!(
        deleted.steps[2].idempotency_key,
        format!("secrets-rotator:create_pending_key:-:{ARN}:{TOKEN}")
    );
}

#[test]
fn set_announces_test_checks_finish_promotes_and_retires() {
    let f = facts(&[(OLD, Active), (NEW, Active)], Some(NEW));
    let set = decide_step(&event(RotationStep::Set), &cfg(), &f, now());
    assert_eq!(names(&set), ["notify"]);
    let Action::Notify { notice } = &set.steps[0].action else {
        panic!()
    };
    assert_eq!(notice.key_id.as_ref().unwrap().as_str(), NEW);
    assert_eq!(notice.facts["secret_arn"], ARN);

    let test = decide_step(&event(RotationStep::Test), &cfg(), &f, now());
    assert!(
        matches!(&test.steps[0].action, Action::TestPendingKey { key_id, .. } if key_id.as_str() == NEW)
    );

    let finish = decide_step(&event(RotationStep::Finish), &cfg(), &f, now());
    assert_eq!(names(&finish), ["promote_pending", "deactivate_key"]);
    assert!(matches!(
        &finish.steps[0].action,
        Action::PromotePending { from_version: Some(v), token, .. } if v == "v-old" && token == TOKEN
    ));
    assert!(
        matches!(&finish.steps[1].action, Action::DeactivateKey { key_id, .. } if key_id.as_str() == OLD)
    );

    // Finished already: the token is AWSCURRENT.
    let mut done = f.clone();
    done.versions = BTreeMap::from([
        ("v-old".to_owned(), vec![PREVIOUS.to_owned()]),
        (
            TOKEN.to_owned(),
            vec![CURRENT.to_owned(), PENDING.to_owned()],
        ),
    ]);
    let again = decide_step(&event(RotationStep::Finish), &cfg(), &done, now());
    assert_eq!(again.decision.name(), "nothing_to_do");
    // An old key already Inactive is not written again.
    let inactive_old = facts(&[(OLD, Inactive), (NEW, Active)], Some(NEW));
    let p = decide_step(&event(RotationStep::Finish), &cfg(), &inactive_old, now());
    assert_eq!(names(&p), ["promote_pending"]);
}

#[test]
fn steps_without_a_pending_key_or_a_user_fail_cleanly() {
    for step in [RotationStep::Set, RotationStep::Test, RotationStep::Finish] {
        let p = decide_step(&event(step), &cfg(), &facts(&[(OLD, Active)], None), now());
        assert_eq!(p.decision.name(), "failed", "{step:?}");
        assert_eq!(status(&p), 500);
        assert!(p.steps.is_empty());
    }
    let mut anonymous = facts(&[(OLD, Active)], None);
    anonymous.current = Some(HeldKey::default());
    anonymous.tags.clear();
    let p = decide_step(&event(RotationStep::Create), &cfg(), &anonymous, now());
    assert_eq!(p.decision.name(), "invalid");
    // The tag names the user when the value does not (a fresh secret).
    anonymous
        .tags
        .insert("keyguard:iam-user".into(), "svc".into());
    let p = decide_step(&event(RotationStep::Create), &cfg(), &anonymous, now());
    assert_eq!(p.decision.name(), "act", "{p:#?}");
    // A token that is some other, finished version is not a rotation in progress.
    let mut stale = facts(&[(OLD, Active)], None);
    stale.versions.insert(TOKEN.into(), vec![PREVIOUS.into()]);
    let p = decide_step(&event(RotationStep::Create), &cfg(), &stale, now());
    assert_eq!(p.decision.name(), "invalid");
}

#[test]
fn the_managed_user_is_the_tags_and_a_value_naming_another_is_refused_with_a_notice() {
    // The value names admin; the tag says svc: nothing is planned against either.
    let mut f = facts(&[(OLD, Active), (OTHER, Inactive)], None);
    f.current = Some(HeldKey {
        user: Some("admin".into()),
        key_id: Some(OLD.into()),
    });
    for step in [RotationStep::Create, RotationStep::Finish] {
        let p = decide_step(&event(step), &cfg(), &f, now());
        assert_eq!(p.decision.name(), "refused", "{p:#?}");
        assert_eq!(names(&p), ["notify"], "never silent, never a key action");
    }
    // A value naming the same user in another case is the same user.
    let mut f = facts(&[(OLD, Active)], None);
    f.current = Some(HeldKey {
        user: Some("SVC".into()),
        key_id: Some(OLD.into()),
    });
    assert_eq!(
        decide_step(&event(RotationStep::Create), &cfg(), &f, now()).decision,
        Decision::Act
    );
    // A current key the user does not hold.
    let f = facts(&[(OTHER, Active)], None);
    let p = decide_step(&event(RotationStep::Create), &cfg(), &f, now());
    assert_eq!(p.decision.name(), "refused");
    // No tag: not a managed secret, whatever the value says.
    let mut f = facts(&[(OLD, Active)], None);
    f.tags.clear();
    assert_eq!(
        status(&decide_step(
            &event(RotationStep::Create),
            &cfg(),
            &f,
            now()
        )),
        400
    );
}

#[test]
fn exempt_and_keyguard_users_are_refused_in_every_step() {
    let exempt = RotatorConfig::from_env(
        &|k: &str| (k == "EXEMPT_USERS").then(|| "SVC".to_owned()),
        SelfIdentity::default(),
    )
    .unwrap();
    let me = RotatorConfig::from_env(
        &|_: &str| None,
        SelfIdentity {
            user: Some("svc".into()),
            ..SelfIdentity::default()
        },
    )
    .unwrap();
    let mut tagged = facts(&[(OLD, Active), (NEW, Active)], Some(NEW));
    tagged
        .user_tags
        .insert("KeyGuard:Exempt".into(), "true".into());
    for (name, cfg, f) in [
        (
            "listed",
            exempt,
            facts(&[(OLD, Active), (NEW, Active)], Some(NEW)),
        ),
        (
            "keyguard's own",
            me,
            facts(&[(OLD, Active), (NEW, Active)], Some(NEW)),
        ),
        ("tagged", cfg(), tagged),
    ] {
        for step in [
            RotationStep::Create,
            RotationStep::Set,
            RotationStep::Test,
            RotationStep::Finish,
        ] {
            let p = decide_step(&event(step), &cfg, &f, now());
            assert_eq!(p.decision.name(), "refused", "{name} {step:?}: {p:#?}");
            assert_eq!(names(&p), ["notify"], "{name} {step:?}");
        }
    }
}

#[test]
fn two_stray_keys_get_two_ledger_rows_and_a_retried_finish_retires_the_old_key() {
    // Two Inactive keys besides the current one cannot both exist (IAM allows two), but
    // the step keys must still differ per key: build two deletions and compare.
    let p = decide_step(
        &event(RotationStep::Create),
        &cfg(),
        &facts(&[(OLD, Active), (OTHER, Inactive)], None),
        now(),
    );
    let keys: Vec<&str> = p.steps.iter().map(|s| s.idempotency_key.as_str()).collect();
    assert!(keys[0].contains(OTHER), "{keys:?}");
    let unique: std::collections::BTreeSet<&str> = keys.iter().copied().collect();
    assert_eq!(unique.len(), keys.len(), "{keys:?}");
    // The first finishSecret promoted the token, then died before retiring OLD.
    let mut promoted = facts(&[(OLD, Active), (NEW, Active)], Some(NEW));
    promoted.versions = BTreeMap::from([
        ("v-old".to_owned(), vec![PREVIOUS.to_owned()]),
        (TOKEN.to_owned(), vec![CURRENT.to_owned()]),
    ]);
    promoted.current = held(NEW);
    promoted.previous = held(OLD);
    let p = decide_step(&event(RotationStep::Finish), &cfg(), &promoted, now());
    assert_eq!(names(&p), ["deactivate_key"], "{p:#?}");
    assert!(
        matches!(&p.steps[0].action, Action::DeactivateKey { key_id, .. } if key_id.as_str() == OLD)
    );
    // Once retired, the retry has nothing left to do.
    let mut retired = promoted.clone();
    retired.user_keys = Some(vec![(OLD.into(), Inactive), (NEW.into(), Active)]);
    let p = decide_step(&event(RotationStep::Finish), &cfg(), &retired, now());
    assert_eq!(p.decision.name(), "nothing_to_do");
}

#[test]
fn a_key_keyguard_contained_is_never_deleted_to_make_room() {
    let mut f = facts(&[(OLD, Active), (OTHER, Inactive)], None);
    f.contained
        .insert(OTHER.into(), now() - chrono::Duration::days(2));
    let p = decide_step(&event(RotationStep::Create), &cfg(), &f, now());
    assert_eq!(p.decision.name(), "refused", "{p:#?}");
    assert_eq!(names(&p), ["notify"], "evidence kept, and said so");
    // Contained long ago (past the retention): it may make room again.
    f.contained
        .insert(OTHER.into(), now() - chrono::Duration::days(40));
    let p = decide_step(&event(RotationStep::Create), &cfg(), &f, now());
    assert_eq!(names(&p), ["delete_key", "notify", "create_pending_key"]);
    // An Active key in the way: refused with a notice too, never silently.
    let p = decide_step(
        &event(RotationStep::Create),
        &cfg(),
        &facts(&[(OLD, Active), (OTHER, Active)], None),
        now(),
    );
    assert_eq!(names(&p), ["notify"]);
}

#[test]
fn a_step_for_another_accounts_secret_is_refused_before_any_read() {
    let me = SelfIdentity {
        account: Some(crate::AccountId::parse("123456789012").unwrap()),
        ..SelfIdentity::default()
    };
    let known = RotatorConfig::from_env(&|_: &str| None, me).unwrap();
    let step = |secret_id: &str| {
        let mut e = event(RotationStep::Create);
        e.secret_id = secret_id.into();
        gate(&crate::Trigger::Rotation(e), &known)
    };
    let foreign = "arn:aws:secretsmanager:us-east-1:111122223333:secret:id-ABCD1E";
    assert!(
        matches!(step(foreign), Some(Decision::ForeignAccount { why }) if why.contains("111122223333")),
        "{:?}",
        step(foreign)
    );
    // Its own account's ARN, or a bare name (resolved in its own account), goes ahead.
    assert_eq!(step(ARN), None);
    assert_eq!(step("keyguard/iam-user/svc"), None);
    // Not knowing its own account, it cannot tell, and the read stays in its own.
    assert_eq!(
        gate(
            &crate::Trigger::Rotation(event(RotationStep::Create)),
            &cfg()
        ),
        None
    );
}
