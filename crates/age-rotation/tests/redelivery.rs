//! The same schedule delivered twice, and two copies at once (EventBridge is at least
//! once, and a retry can overlap a slow first run): every action and email happens once.
//! Hostile input is turned away before IAM is read. Its own test process, since a scan
//! reads every user of the account.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::fleet::{count, fleet, mailbox, schedule, verify_sender};
use keyguard_aws::lambda::Handler;
use keyguard_testkit::{hostile, moto};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_copies_at_once_then_a_third_act_once() {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    verify_sender(&sdk).await;
    let members = fleet(&iam, "twice", 20).await;
    let app = common::app(&sdk, &[]).await;
    let event = schedule();

    let (first, second) = tokio::join!(app.handle(&event), app.handle(&event));
    let reports = [
        serde_json::to_value(first).unwrap(),
        serde_json::to_value(second).unwrap(),
    ];
    let applied = |action: &str| {
        reports
            .iter()
            .map(|r| count(r, action, "applied"))
            .sum::<usize>()
    };
    let mailed = members.iter().filter(|m| m.mailed()).count();
    let deactivated = members
        .iter()
        .filter(|m| m.final_status() == Some("Inactive"))
        .count();
    let deleted = members
        .iter()
        .filter(|m| m.final_status().is_none())
        .count();
    assert_eq!(applied("send_email"), mailed, "{reports:#?}");
    assert_eq!(applied("deactivate_key"), deactivated);
    assert_eq!(applied("delete_key"), deleted);
    // A copy that meets a step the other copy is still doing reports it in progress
    // (and fails, so Lambda retries it); a key action waiting on such an email waits.
    // Nothing else may fail.
    for r in &reports {
        for step in r["steps"].as_array().unwrap() {
            let outcome = step["outcome"].as_str().unwrap();
            assert!(outcome != "failed" || step["code"] == "Waiting", "{step:#}");
        }
        let unfinished = r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["outcome"] == "in_progress" || s["outcome"] == "failed");
        assert_eq!(
            r["statusCode"].as_u64().unwrap() >= 500,
            unfinished,
            "{r:#}"
        );
    }

    let third = serde_json::to_value(app.handle(&event).await).unwrap();
    for action in ["send_email", "deactivate_key", "delete_key"] {
        assert_eq!(count(&third, action, "applied"), 0, "{action}: {third:#}");
    }
    let boxes = mailbox("twice-");
    assert_eq!(boxes.len(), mailed);
    assert!(boxes.values().all(|b| b.len() == 1), "{boxes:#?}");
    for m in &members {
        let status = keyguard_testkit::iam::statuses(&iam, &m.user).await;
        assert_eq!(
            status.get(&m.key).map(String::as_str),
            m.final_status(),
            "{}",
            m.user
        );
    }
}

#[tokio::test]
async fn hostile_input_is_turned_away() {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let app = common::app(&sdk, &[]).await;
    for (case, event) in hostile::events() {
        let report = serde_json::to_value(app.handle(&event).await).unwrap();
        hostile::assert_turned_away(case, &report);
    }
    assert!(app.ledger.rows().await.unwrap().is_empty());
}
