//! age-rotation against moto with a fleet of 2,000 users whose keys are back-dated
//! across every band: exactly the expected deactivations, deletions and emails (read
//! back from moto's SES), and a second run the same day sends and changes nothing.
//!
//! One test function on purpose: the scan reads every user in moto, so a second test in
//! this process would see (and count) this one's fleet.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use futures::stream::{self, StreamExt};
use keyguard_testkit::{moto, unique};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const FLEET: usize = 2_000;
const SENDER: &str = "keyguard@example.com";

/// Ten kinds of user, each a tenth of the fleet: (UserType, Email?, key age, Active?, exempt?).
const KINDS: [(Option<&str>, bool, i64, bool, bool); 10] = [
    (Some("employee"), true, 71, true, false),  // 0: warned
    (Some("employee"), true, 85, true, false),  // 1: deactivated
    (Some("Employee"), true, 95, false, false), // 2: deleted
    (Some("employee"), true, 95, true, false),  // 3: overdue: deactivated, not yet deleted
    (Some("machine"), true, 85, true, false),   // 4: machine warning
    (Some("Machine"), true, 95, true, false),   // 5: machine critical
    (None, true, 100, true, false),             // 6: untagged: summary only
    (Some("employee"), false, 85, true, false), // 7: no Email: deactivated, no email
    (Some("employee"), true, 10, true, false),  // 8: young: nothing
    (Some("employee"), true, 100, true, true),  // 9: exempt: email only
];

struct Member {
    user: String,
    key: String,
    kind: usize,
}

fn email_of(user: &str) -> String {
    format!("{user}@example.com")
}

async fn fleet(iam: &aws_sdk_iam::Client, prefix: &str) -> Vec<Member> {
    let now = chrono::Utc::now();
    stream::iter(0..FLEET)
        .map(|i| async move {
            let kind = i % KINDS.len();
            let (user_type, email, days, active, exempt) = KINDS[kind];
            let user = format!("{prefix}-{i:04}");
            let mut tags = Vec::new();
            if let Some(t) = user_type {
                tags.push(("UserType", t.to_owned()));
            }
            if email {
                tags.push(("Email", email_of(&user)));
            }
            if exempt {
                tags.push(("keyguard:exempt", "true".to_owned()));
            }
            let mut req = iam.create_user().user_name(&user);
            for (k, v) in &tags {
                req = req.tags(
                    aws_sdk_iam::types::Tag::builder()
                        .key(*k)
                        .value(v)
                        .build()
                        .unwrap(),
                );
            }
            req.send().await.unwrap();
            let (key, _) = keyguard_testkit::iam::key(iam, &user).await;
            let created = now - chrono::Duration::days(days) - chrono::Duration::hours(1);
            moto::shared().backdate_key(&user, &key, &created.to_rfc3339());
            if !active {
                iam.update_access_key()
                    .user_name(&user)
                    .access_key_id(&key)
                    .status(aws_sdk_iam::types::StatusType::Inactive)
                    .send()
                    .await
                    .unwrap();
            }
            Member { user, key, kind }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// Emails moto's SES holds for the fleet: recipient → bodies.
fn mailbox(prefix: &str) -> BTreeMap<String, Vec<Value>> {
    let mut boxes: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for m in moto::shared().data()["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let to: Vec<String> = m["destinations"]["ToAddresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            to.len(),
            1,
            "one recipient per message, never a shared To: list"
        );
        if to[0].starts_with(prefix) {
            boxes.entry(to[0].clone()).or_default().push(m.clone());
        }
    }
    boxes
}

fn count(report: &Value, action: &str, outcome: &str) -> usize {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"]["type"] == action && s["outcome"] == outcome)
        .count()
}

fn schedule() -> Value {
    json!({"version": "0", "id": unique("sched"), "detail-type": "Scheduled Event",
           "source": "aws.events", "time": "2026-11-23T09:00:00Z", "detail": {}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_of_two_thousand_gets_exactly_the_expected_actions_and_emails_once() {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    aws_sdk_sesv2::Client::new(&sdk)
        .create_email_identity()
        .email_identity(SENDER)
        .send()
        .await
        .unwrap();
    let prefix = unique("fleet");
    let started = std::time::Instant::now();
    let members = fleet(&iam, &prefix).await;
    eprintln!("fleet of {FLEET} made in {:?}", started.elapsed());
    let app = common::app(&sdk, &[]).await;

    let started = std::time::Instant::now();
    let first = serde_json::to_value(app.handle(&schedule()).await).unwrap();
    eprintln!("first run in {:?}", started.elapsed());
    assert_eq!(first["statusCode"], 200, "{}", first["why"]);
    let per_kind = FLEET / KINDS.len();
    assert_eq!(
        count(&first, "deactivate_key", "applied"),
        3 * per_kind,
        "kinds 1, 3, 7"
    );
    assert_eq!(count(&first, "delete_key", "applied"), per_kind, "kind 2");
    assert_eq!(
        count(&first, "send_email", "applied"),
        7 * per_kind,
        "kinds 0-5 and 9, not 6-8"
    );
    assert_eq!(count(&first, "notify", "applied"), 1, "one summary");

    // IAM, read back.
    for m in &members {
        let statuses = keyguard_testkit::iam::statuses(&iam, &m.user).await;
        let want = match m.kind {
            1 | 3 | 7 => Some("Inactive"),
            2 => None,
            _ => Some("Active"),
        };
        assert_eq!(
            statuses.get(&m.key).map(String::as_str),
            want,
            "{} (kind {})",
            m.user,
            m.kind
        );
    }

    // SES, read back: one email for each person who should get one, about their key only.
    let boxes = mailbox(&prefix);
    assert_eq!(boxes.len(), 7 * per_kind);
    for m in &members {
        let mails = boxes.get(&email_of(&m.user));
        let expected = matches!(m.kind, 0..=5 | 9);
        assert_eq!(
            mails.map(Vec::len),
            expected.then_some(1),
            "{} (kind {})",
            m.user,
            m.kind
        );
        if let Some(mails) = mails {
            let body = mails[0]["body"].as_str().unwrap();
            assert!(body.contains(&m.key), "{}: its own key", m.user);
            assert_eq!(mails[0]["source"], SENDER);
            assert_eq!(mails[0]["subject"], "AWS Access Key - Renewal - Alerts");
        }
    }
    let summary = first["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"]["type"] == "notify")
        .unwrap();
    let untagged = summary["action"]["notice"]["facts"]["users_without_user_type"]
        .as_str()
        .unwrap();
    // Exactly the 200 untagged users, each by name (the list is cut only past 200).
    let listed: BTreeSet<&str> = untagged.split(", ").collect();
    let untagged_fleet: BTreeSet<&str> = members
        .iter()
        .filter(|m| m.kind == 6)
        .map(|m| m.user.as_str())
        .collect();
    assert_eq!(listed, untagged_fleet);

    // A second run the same day: nothing sent, nothing changed (the overdue keys wait
    // out their grace instead of being deleted hours after deactivation).
    let second = serde_json::to_value(app.handle(&schedule()).await).unwrap();
    assert_eq!(second["statusCode"], 200);
    let applied: Vec<&Value> = second["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["outcome"] == "applied")
        .collect();
    assert!(
        applied.is_empty(),
        "second run applied {} steps: {:#?}",
        applied.len(),
        applied.first()
    );
    assert_eq!(
        mailbox(&prefix).values().map(Vec::len).sum::<usize>(),
        7 * per_kind
    );
    for m in members.iter().filter(|m| m.kind == 3) {
        let statuses = keyguard_testkit::iam::statuses(&iam, &m.user).await;
        assert_eq!(
            statuses.get(&m.key).map(String::as_str),
            Some("Inactive"),
            "overdue key kept for its grace"
        );
    }
}
