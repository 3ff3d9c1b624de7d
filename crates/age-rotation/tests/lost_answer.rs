//! A deactivation whose answer was lost after IAM acted: the key is Inactive, and the
//! step failed. The next day's run must not take the Inactive key for one set aside long
//! ago and delete it at once: keyguard may have made it Inactive, so the grace period
//! counts from that attempt, and the owner, told "deactivated now, deleted later", gets
//! no second email. Its own test process, since a scan reads every user of the account.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::fleet::{count, mailbox, schedule, verify_sender};
use keyguard_aws::lambda::Handler;
use keyguard_testkit::faults::FaultProxy;
use keyguard_testkit::{iam, moto};

#[tokio::test(flavor = "multi_thread")]
async fn a_deactivation_whose_answer_was_lost_still_starts_the_grace_period() {
    let moto = moto::shared();
    let direct = keyguard_aws::load_config().await;
    let client = aws_sdk_iam::Client::new(&direct);
    verify_sender(&direct).await;
    let proxy = FaultProxy::start(&moto.endpoint, 0.0, 0x1057);
    let through =
        keyguard_aws::load_config_at(&proxy.endpoint(), std::time::Duration::from_millis(10)).await;
    let app = common::app(&through, &[]).await;
    let now = chrono::Utc::now();

    // An employee's key, 95 days old and Active: overdue, so emailed, then deactivated.
    let address = format!("{}@example.com", keyguard_testkit::unique("lost"));
    let user = iam::user(
        &client,
        &[("UserType", "employee"), ("Email", address.as_str())],
    )
    .await;
    let (key, _) = iam::key(&client, &user).await;
    moto.backdate_key(
        &user,
        &key,
        &(now - chrono::Duration::days(95)).to_rfc3339(),
    );
    let status = || async { iam::statuses(&client, &user).await.get(&key).cloned() };

    // IAM acts on every attempt, and every answer is lost.
    proxy.lose_answers(Some("Action=UpdateAccessKey"));
    let first = serde_json::to_value(app.handle_at(&schedule(), now).await).unwrap();
    proxy.lose_answers(None);
    assert_eq!(count(&first, "send_email", "applied"), 1, "{first:#}");
    assert_eq!(count(&first, "deactivate_key", "failed"), 1, "{first:#}");
    assert_eq!(first["statusCode"], 500, "a failed step fails the run");
    assert_eq!(status().await.as_deref(), Some("Inactive"), "IAM did act");

    // The next day: Inactive, 96 days old, no deactivation known to have landed.
    let next = serde_json::to_value(
        app.handle_at(&schedule(), now + chrono::Duration::days(1))
            .await,
    )
    .unwrap();
    assert_eq!(
        count(&next, "delete_key", "applied"),
        0,
        "deleted a day after a deactivation keyguard may have made: {next:#}"
    );
    assert_eq!(status().await.as_deref(), Some("Inactive"));
    assert_eq!(
        mailbox(&address).get(&address).map_or(0, Vec::len),
        1,
        "the owner was told once"
    );

    // Past the grace period counted from the attempt, the key goes as any other.
    let later = serde_json::to_value(
        app.handle_at(&schedule(), now + chrono::Duration::days(8))
            .await,
    )
    .unwrap();
    assert_eq!(count(&later, "delete_key", "applied"), 1, "{later:#}");
    assert_eq!(status().await, None, "deleted");
}
