use super::*;
use crate::policy::detector::fixtures::{call, cfg_with, iam_user, record, role_session, HOME};
use crate::policy::detector::memory::UserCreation;
use serde_json::{json, Value};

const ALICE_KEY: &str = "AKIAALICEKEY00000001";
const MADE: &str = "2026-12-07T10:00:00Z";

fn made_by(arn: &str, user: &str) -> Recall {
    Recall {
        user_created: Some(UserCreation {
            user: user.into(),
            created_by: arn.into(),
            at: crate::parse_time(MADE).unwrap(),
            event_id: "made".into(),
        }),
        ..Recall::default()
    }
}

fn key_for(identity: Value, user: &str, time: &str) -> Value {
    let mut v = call(
        "iam.amazonaws.com",
        "CreateAccessKey",
        identity,
        time,
        ("203.0.113.9", "aws-cli/2.15"),
    );
    v["requestParameters"] = json!({"userName": user});
    v["responseElements"] = json!({"accessKey": {"accessKeyId": "AKIANEWKEY0000000001", "userName": user, "status": "Active"}});
    v
}

#[test]
fn a_key_for_a_user_the_same_caller_just_made_alerts_and_contains_the_caller() {
    let trusted = cfg_with(&[("TRUSTED_KEY_CREATORS", "onboarding")]).trusted_creators;
    let alice_arn = format!("arn:aws:iam::{HOME}:user/alice");
    let by_alice = made_by(&alice_arn, "backdoor");
    let alice = iam_user("alice", ALICE_KEY);
    let mut failed = key_for(alice.clone(), "backdoor", "2026-12-07T10:05:00Z");
    failed["errorCode"] = json!("LimitExceeded");
    let mut upper = alice.clone();
    upper["arn"] = json!(format!("arn:aws:iam::{HOME}:user/ALICE"));
    let root =
        json!({"type": "Root", "arn": format!("arn:aws:iam::{HOME}:root"), "accountId": HOME});
    let service = json!({"type": "AWSService", "invokedBy": "iam.amazonaws.com"});
    let ops = made_by(
        &format!("arn:aws:sts::{HOME}:assumed-role/ops/one"),
        "backdoor",
    );
    let onboarding = made_by(
        &format!("arn:aws:sts::{HOME}:assumed-role/onboarding/a"),
        "backdoor",
    );
    // (what, record, recall, alert, caller's key contained)
    type Case = (&'static str, Value, Recall, bool, bool);
    let cases: Vec<Case> = vec![
        (
            "alice, 5 min after",
            key_for(alice.clone(), "backdoor", "2026-12-07T10:05:00Z"),
            by_alice.clone(),
            true,
            true,
        ),
        (
            "the caller's name in another case",
            key_for(upper, "backdoor", "2026-12-07T10:05:00Z"),
            by_alice.clone(),
            true,
            true,
        ),
        (
            "the user's name in another case",
            key_for(alice.clone(), "BACKDOOR", "2026-12-07T10:05:00Z"),
            by_alice.clone(),
            true,
            true,
        ),
        (
            "another session of the same role",
            key_for(
                role_session("ops", "two"),
                "backdoor",
                "2026-12-07T10:05:00Z",
            ),
            ops,
            true,
            false,
        ),
        (
            "at the window's end",
            key_for(alice.clone(), "backdoor", "2026-12-07T11:00:00Z"),
            by_alice.clone(),
            true,
            true,
        ),
        (
            "past the window",
            key_for(alice.clone(), "backdoor", "2026-12-07T11:00:01Z"),
            by_alice.clone(),
            false,
            false,
        ),
        (
            "before the user was made",
            key_for(alice.clone(), "backdoor", "2026-12-07T09:50:00Z"),
            by_alice.clone(),
            false,
            false,
        ),
        (
            "another caller made the user",
            key_for(
                iam_user("carol", "AKIACAROLKEY00000001"),
                "backdoor",
                "2026-12-07T10:05:00Z",
            ),
            by_alice.clone(),
            false,
            false,
        ),
        (
            "a key for another user",
            key_for(alice.clone(), "someone", "2026-12-07T10:05:00Z"),
            by_alice.clone(),
            false,
            false,
        ),
        ("a failed call", failed, by_alice.clone(), false, false),
        (
            "the root user",
            key_for(root, "backdoor", "2026-12-07T10:05:00Z"),
            made_by(&format!("arn:aws:iam::{HOME}:root"), "backdoor"),
            false,
            false,
        ),
        (
            "a service principal",
            key_for(service, "backdoor", "2026-12-07T10:05:00Z"),
            by_alice.clone(),
            false,
            false,
        ),
        (
            "a trusted creator",
            key_for(
                role_session("Onboarding", "b"),
                "backdoor",
                "2026-12-07T10:05:00Z",
            ),
            onboarding,
            false,
            false,
        ),
        (
            "nothing remembered",
            key_for(alice, "backdoor", "2026-12-07T10:05:00Z"),
            Recall::default(),
            false,
            false,
        ),
    ];
    for (what, v, recalled, alerts, contains) in cases {
        let alert = check(&record(v), &recalled, 60, &trusted);
        assert_eq!(alert.is_some(), alerts, "{what}");
        if let Some(a) = alert {
            assert_eq!(a.severity, Severity::High, "{what}");
            assert_eq!(
                a.contain.as_ref().map(|(k, _)| k.as_str()),
                contains.then_some(ALICE_KEY),
                "{what}"
            );
        }
    }
}
