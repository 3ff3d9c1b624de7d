use super::*;
use crate::time::{parse_time, Timestamp};

const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const BY: &str = "arn:aws:sts::123456789012:assumed-role/oncall/jane";

fn at(s: &str) -> Timestamp {
    parse_time(s).unwrap()
}

fn row(function: &str, action: &str, at_: &str, replaces: Option<Prior>) -> Record {
    Record {
        at: at(at_),
        ran_at: None,
        function: function.into(),
        action: action.into(),
        status: "done".into(),
        reason: "why".into(),
        outcome: None,
        event_id: Some("ev-1".into()),
        classifier_source: Some("cloudtrail".into()),
        user: Some("Bob".into()),
        key_id: Some(KEY.into()),
        account: Some("123456789012".into()),
        replaces,
        idempotency_key: format!("{function}:{action}:123456789012:{KEY}:ev-1:{at_}"),
    }
}

fn deactivated() -> Record {
    row(
        "deactivate-key",
        "deactivate_key",
        "2026-12-03T10:00:00Z",
        Some(Prior::KeyStatus {
            status: "Active".into(),
        }),
    )
}

fn revoked(at_: &str, before: Option<&str>) -> Record {
    let mut r = row(
        "deactivate-key",
        "revoke_sessions",
        at_,
        Some(Prior::InlinePolicy {
            document: before.map(str::to_owned),
        }),
    );
    let detail = revocation::applied_detail("keyguard-revoke-older-sessions", at(at_));
    r.outcome = Some(serde_json::json!({"outcome": "applied", "detail": detail}).to_string());
    r
}

fn now(status: Option<KeyStatus>, policy: Option<String>) -> Current {
    Current {
        keys: BTreeMap::from([(KEY.to_owned(), status)]),
        policies: BTreeMap::from([("bob".to_owned(), policy)]),
    }
}

fn policy_at(s: &str) -> Option<String> {
    Some(revocation::policy_document(at(s)))
}

fn ev() -> Asked {
    Asked::Event("ev-1".into())
}

fn names(plan: &Plan) -> Vec<&'static str> {
    plan.steps.iter().map(|s| s.action.name()).collect()
}

#[test]
fn a_containment_is_reversed_exactly_from_what_each_write_replaced() {
    // One run's steps share its time.
    let rows = [deactivated(), revoked("2026-12-03T10:00:00Z", None)];
    assert_eq!(
        reads(&ev(), &rows),
        [
            Read::Key {
                user: UserName::parse("Bob").unwrap(),
                key_id: AccessKeyId::parse(KEY).unwrap()
            },
            Read::Policy {
                user: UserName::parse("Bob").unwrap(),
                policy_name: "keyguard-revoke-older-sessions".into()
            }
        ]
    );
    // Rows of another event say what stands on these; they are not read.
    let mut other = deactivated();
    other.event_id = Some("ev-2".into());
    other.key_id = Some("AKIAI44QH8DHBEXAMPLE".into());
    assert_eq!(reads(&ev(), &[other]), []);
    let current = now(Some(KeyStatus::Inactive), policy_at("2026-12-03T10:00:00Z"));
    let undo = decide(&ev(), &rows, &current, "false positive: CI's own key", BY);
    assert!(undo.refused.is_empty(), "{:?}", undo.refused);
    let [plan] = &undo.plans[..] else {
        panic!("{undo:#?}")
    };
    assert_eq!(plan.function, UNDO);
    assert_eq!(plan.event_id.as_deref(), Some("ev-1"));
    assert_eq!(plan.classifier_source.as_deref(), Some(BY));
    // The later write first: the policy (there was none), then the key.
    assert_eq!(names(plan), ["restore_policy", "reactivate_key", "notify"]);
    assert!(matches!(
        &plan.steps[0].action,
        Action::RestorePolicy { document: None, user, .. } if user.as_str() == "Bob"
    ));
    assert!(matches!(
        &plan.steps[1].action,
        Action::ReactivateKey { key_id, .. } if key_id.as_str() == KEY
    ));
    assert_eq!(
        plan.steps[1].idempotency_key,
        reversal_key("reactivate_key", &rows[0].idempotency_key)
    );
    assert!(plan.steps[1]
        .reason
        .contains("false positive: CI's own key"));
    // Each reversal waits for the one before, and the notice for all of them; it says
    // who and why.
    assert_eq!(
        plan.steps[1].after.as_ref(),
        Some(&plan.steps[0].idempotency_key)
    );
    assert_eq!(
        plan.steps[2].after.as_ref(),
        Some(&plan.steps[1].idempotency_key)
    );
    let Action::Notify { notice } = &plan.steps[2].action else {
        panic!()
    };
    assert_eq!(notice.facts["by"], BY);
    assert_eq!(notice.facts["reason"], "false positive: CI's own key");
}

#[test]
fn an_undo_done_before_is_not_done_again() {
    let mut rows = vec![deactivated()];
    let mut reversal = row(
        "keyguard-undo",
        "reactivate_key",
        "2026-12-03T11:00:00Z",
        None,
    );
    reversal.idempotency_key = reversal_key("reactivate_key", &rows[0].idempotency_key);
    rows.push(reversal);
    let undo = decide(&ev(), &rows, &now(Some(KeyStatus::Active), None), "r", BY);
    assert!(
        undo.plans.is_empty() && undo.refused.is_empty(),
        "{undo:#?}"
    );
    assert_eq!(undo.already, [rows[0].idempotency_key.clone()]);
    // A reversal that failed did not happen: it is planned again.
    rows[1].status = "failed".into();
    let undo = decide(&ev(), &rows, &now(Some(KeyStatus::Inactive), None), "r", BY);
    assert_eq!(names(&undo.plans[0]), ["reactivate_key", "notify"]);
}

#[test]
fn what_undo_cannot_prove_or_must_not_reverse_is_refused_with_why() {
    let refused = |rows: &[Record], current: &Current| -> Vec<String> {
        let undo = decide(&ev(), rows, current, "r", BY);
        assert!(undo.plans.is_empty(), "{undo:#?}");
        undo.refused.into_iter().map(|r| r.why).collect()
    };
    let inactive = now(Some(KeyStatus::Inactive), None);
    // Someone re-activated the key since; the key was deleted.
    let why = refused(&[deactivated()], &now(Some(KeyStatus::Active), None));
    assert!(why[0].contains("status changed since"), "{why:?}");
    let why = refused(&[deactivated()], &now(None, None));
    assert!(why[0].contains("deleted key cannot be restored"), "{why:?}");
    // Another function's writes; a deletion; the runbook's rotation.
    let aged = row(
        "age-rotation",
        "deactivate_key",
        "2026-12-03T10:00:00Z",
        deactivated().replaces,
    );
    let deleted = row("age-rotation", "delete_key", "2026-12-03T10:00:00Z", None);
    let rotated = row(
        "secrets-rotator",
        "promote_pending",
        "2026-12-03T10:00:00Z",
        None,
    );
    for r in [aged, deleted, rotated] {
        let why = refused(&[r], &inactive);
        assert!(why[0].contains("is not containment"), "{why:?}");
    }
    let runbook = row(
        "guardduty-translator",
        "start_runbook",
        "2026-12-03T10:00:00Z",
        None,
    );
    assert!(refused(&[runbook], &inactive)[0].contains("rotation"));
    // A containment in a member account is not reversed with the caller's credentials
    // in another account, whatever the same-named user there.
    let member = Record {
        account: Some("222222222222".into()),
        ..deactivated()
    };
    let why = refused(&[member], &inactive);
    assert!(
        why[0].contains("account 222222222222") && why[0].contains("account 123456789012"),
        "{why:?}"
    );
    // No snapshot; a key that was Inactive already; a step never settled.
    let bare = row(
        "deactivate-key",
        "deactivate_key",
        "2026-12-03T10:00:00Z",
        None,
    );
    assert!(refused(&[bare], &inactive)[0].contains("no snapshot"));
    let was_inactive = row(
        "deactivate-key",
        "deactivate_key",
        "2026-12-03T10:00:00Z",
        Some(Prior::KeyStatus {
            status: "Inactive".into(),
        }),
    );
    assert!(refused(&[was_inactive], &inactive)[0].contains("already Inactive"));
    let mut unsettled = deactivated();
    unsettled.status = "unknown".into();
    assert!(refused(&[unsettled], &inactive)[0].contains("never settled"));
    // A revocation written again since (another containment moved the cut-off).
    let moved = now(Some(KeyStatus::Inactive), policy_at("2026-12-03T12:00:00Z"));
    let why = refused(&[revoked("2026-12-03T10:00:01Z", None)], &moved);
    assert!(why[0].contains("written again since"), "{why:?}");
    // Failed and suppressed steps wrote nothing: neither reversed nor refused.
    let mut failed = deactivated();
    failed.status = "failed".into();
    let undo = decide(&ev(), &[failed], &inactive, "r", BY);
    assert_eq!(undo, Undo::default());
}

#[test]
fn two_revocations_of_one_user_are_taken_back_newest_first() {
    let earlier_doc = policy_at("2026-12-01T09:00:00Z");
    let rows = [
        revoked("2026-12-03T10:00:01Z", earlier_doc.as_deref()),
        revoked(
            "2026-12-03T10:05:00Z",
            policy_at("2026-12-03T10:00:01Z").as_deref(),
        ),
    ];
    let current = now(None, policy_at("2026-12-03T10:05:00Z"));
    let undo = decide(&ev(), &rows, &current, "r", BY);
    assert!(undo.refused.is_empty(), "{:?}", undo.refused);
    let docs: Vec<Option<String>> = undo.plans[0]
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::RestorePolicy { document, .. } => Some(document.clone()),
            _ => None,
        })
        .collect();
    // The later one puts back the earlier one's, which puts back what was there before.
    assert_eq!(docs, [policy_at("2026-12-03T10:00:01Z"), earlier_doc]);
}

#[test]
fn a_containment_another_still_stands_on_is_left_to_it() {
    let current = now(Some(KeyStatus::Inactive), None);
    // A GuardDuty finding contained the same key minutes after this event: undoing this
    // event alone would hand the key back over that containment.
    let mut twin = deactivated();
    twin.function = "guardduty-translator".into();
    twin.event_id = Some("finding-9".into());
    twin.at = at("2026-12-03T10:05:00Z");
    twin.idempotency_key =
        "guardduty-translator:deactivate_key:123456789012:user/bob/KEY:finding-9".into();
    let rows = [deactivated(), twin.clone()];
    let undo = decide(&ev(), &rows, &current, "r", BY);
    assert!(undo.plans.is_empty(), "{undo:#?}");
    assert!(
        undo.refused[0].why.contains("finding-9"),
        "{:?}",
        undo.refused
    );
    // Asked for the key, both are taken back: one write that matters, each row undone.
    let undo = decide(&Asked::Key(KEY.into()), &rows, &current, "r", BY);
    assert!(undo.refused.is_empty(), "{:?}", undo.refused);
    let reactivations: usize = undo
        .plans
        .iter()
        .map(|p| names(p).iter().filter(|n| **n == "reactivate_key").count())
        .sum();
    assert_eq!(reactivations, 2);
    // A later age-rotation deactivation stands too, even when asked for the key.
    let mut aged = deactivated();
    aged.function = "age-rotation".into();
    aged.event_id = Some("scan-1".into());
    aged.at = at("2026-12-04T09:00:00Z");
    aged.idempotency_key = "age-rotation:deactivate_key:KEY:scan-1".into();
    let undo = decide(
        &Asked::Key(KEY.into()),
        &[deactivated(), aged],
        &current,
        "r",
        BY,
    );
    assert!(undo.plans.is_empty(), "{undo:#?}");
    assert!(
        undo.refused.iter().any(|r| r.why.contains("age-rotation")),
        "{:?}",
        undo.refused
    );
    // Nor is one planned before it (a scan that began earlier) but written after the
    // containment began: the containment's snapshot may predate that write.
    let mut raced = deactivated();
    raced.function = "age-rotation".into();
    raced.event_id = Some("scan-0".into());
    raced.at = at("2026-12-03T09:58:00Z");
    raced.ran_at = Some(at("2026-12-03T10:00:00.500Z"));
    raced.idempotency_key = "age-rotation:deactivate_key:KEY:scan-0".into();
    let undo = decide(
        &Asked::Key(KEY.into()),
        &[deactivated(), raced.clone()],
        &current,
        "r",
        BY,
    );
    assert!(undo.plans.is_empty(), "{undo:#?}");
    assert!(
        undo.refused.iter().any(|r| r.why.contains("age-rotation")),
        "{:?}",
        undo.refused
    );
    // Written before the containment began, it stands under it, not on it.
    raced.ran_at = Some(at("2026-12-03T09:59:00Z"));
    let undo = decide(
        &Asked::Key(KEY.into()),
        &[deactivated(), raced],
        &current,
        "r",
        BY,
    );
    assert!(!undo.plans.is_empty(), "{undo:#?}");
    // Another event's revocation of the same user with the same cut-off relies on it.
    let mine = revoked("2026-12-03T10:00:00Z", None);
    let mut theirs = revoked("2026-12-03T10:00:00Z", None);
    theirs.event_id = Some("health-2".into());
    theirs.key_id = Some("AKIAI44QH8DHBEXAMPLE".into());
    theirs.idempotency_key =
        "deactivate-key:revoke_sessions:123456789012:user/bob/AKIAI44QH8DHBEXAMPLE:health-2".into();
    let policy = now(None, policy_at("2026-12-03T10:00:00Z"));
    let undo = decide(&ev(), &[mine.clone(), theirs.clone()], &policy, "r", BY);
    assert!(undo.plans.is_empty(), "{undo:#?}");
    assert!(
        undo.refused[0].why.contains("health-2"),
        "{:?}",
        undo.refused
    );
    // The same name in a member account is another user: its revocation stands on
    // nothing here (make demo found this).
    let member = Record {
        account: Some("222222222222".into()),
        idempotency_key: theirs
            .idempotency_key
            .replace("123456789012", "222222222222"),
        ..theirs
    };
    let undo = decide(&ev(), &[mine, member], &policy, "r", BY);
    assert!(undo.refused.is_empty(), "{:?}", undo.refused);
    assert_eq!(names(&undo.plans[0]), ["restore_policy", "notify"]);
}
