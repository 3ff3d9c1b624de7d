//! age-rotation against moto with a fleet of 2,000 users whose keys are back-dated
//! across every band: exactly the expected deactivations, deletions and emails (read
//! back from moto's SES), and a second run the same day sends and changes nothing.
//!
//! One test function on purpose: the scan reads every user in moto, so a second test in
//! this process would see (and count) this one's fleet.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::fleet::{count, fleet, mailbox, schedule, verify_sender, KINDS, SENDER};
use keyguard_aws::lambda::Handler;
use keyguard_testkit::{moto, unique};
use serde_json::Value;
use std::collections::BTreeSet;

const FLEET: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_of_two_thousand_gets_exactly_the_expected_actions_and_emails_once() {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    verify_sender(&sdk).await;
    let prefix = unique("fleet");
    let started = std::time::Instant::now();
    let members = fleet(&iam, &prefix, FLEET).await;
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
        assert_eq!(
            statuses.get(&m.key).map(String::as_str),
            m.final_status(),
            "{} (kind {})",
            m.user,
            m.kind
        );
    }

    // SES, read back: one email for each person who should get one, about their key only.
    let boxes = mailbox(&prefix);
    assert_eq!(boxes.len(), 7 * per_kind);
    for m in &members {
        let mails = boxes.get(&common::fleet::email_of(&m.user));
        assert_eq!(
            mails.map(Vec::len),
            m.mailed().then_some(1),
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
