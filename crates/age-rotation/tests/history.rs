//! What other keyguard functions did to a key counts, against moto: a key age-rotation
//! deactivated and its owner re-activated is deactivated again; a key deactivate-key
//! contained is kept as evidence, not deleted at 90 days. Its own test process, since a
//! scan reads every user of the account.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::fleet::{count, schedule, verify_sender};
use keyguard_aws::lambda::Handler;
use keyguard_core::{Ledger, LedgerEntry, Outcome};
use keyguard_testkit::{iam, moto};

#[tokio::test]
async fn a_re_activated_key_is_deactivated_again_and_a_contained_key_is_kept() {
    let moto = moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let client = aws_sdk_iam::Client::new(&sdk);
    verify_sender(&sdk).await;
    let app = common::app(&sdk, &[]).await;
    let now = chrono::Utc::now();
    let ago = |days: i64| (now - chrono::Duration::days(days)).to_rfc3339();

    let deactivated = |user: &str, key: &str, function: &str, days: i64| LedgerEntry {
        idempotency_key: format!("{function}:deactivate_key:{key}:earlier"),
        action: "deactivate_key",
        function: function.into(),
        reason: "earlier".into(),
        event_id: Some("earlier".into()),
        classifier_source: None,
        user: Some(user.to_owned()),
        key_id: Some(key.to_owned()),
        account: Some("123456789012".into()),
        at: now - chrono::Duration::days(days),
        window: None,
        repeatable: true,
        prior: None,
    };
    let record = |entry: LedgerEntry| {
        let ledger = app.ledger.clone();
        async move {
            ledger.claim(&entry).await.unwrap();
            ledger
                .settle(&entry, &Outcome::Applied { detail: None })
                .await
                .unwrap();
        }
    };
    // eve's key is 82 days old and Active: age-rotation deactivated it two days ago, and
    // eve turned it back on.
    let eve = iam::user(
        &client,
        &[("UserType", "employee"), ("Email", "eve@example.com")],
    )
    .await;
    let (eve_key, _) = iam::key(&client, &eve).await;
    moto.backdate_key(&eve, &eve_key, &ago(82));
    record(deactivated(&eve, &eve_key, "age-rotation", 2)).await;
    // fay's key is 95 days old and Inactive: deactivate-key contained it 5 days ago.
    let fay = iam::user(
        &client,
        &[("UserType", "employee"), ("Email", "fay@example.com")],
    )
    .await;
    let (fay_key, _) = iam::key(&client, &fay).await;
    moto.backdate_key(&fay, &fay_key, &ago(95));
    client
        .update_access_key()
        .user_name(&fay)
        .access_key_id(&fay_key)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    record(deactivated(&fay, &fay_key, "deactivate-key", 5)).await;

    let report = serde_json::to_value(app.handle(&schedule()).await).unwrap();
    assert_eq!(
        count(&report, "deactivate_key", "applied"),
        1,
        "re-activated, deactivated again: {report:#}"
    );
    assert_eq!(iam::statuses(&client, &eve).await[&eve_key], "Inactive");
    assert!(report.to_string().contains("re-activated"));
    assert_eq!(
        count(&report, "delete_key", "applied"),
        0,
        "fay's key is evidence"
    );
    assert!(iam::statuses(&client, &fay).await.contains_key(&fay_key));
    // The same day again: nothing new (the deactivation it just made is not taken for
    // another re-activation).
    let again = serde_json::to_value(app.handle(&schedule()).await).unwrap();
    assert_eq!(count(&again, "deactivate_key", "applied"), 0, "{again:#}");
}

/// An address SES refuses for good (here: unverified, with SES in the sandbox as a new
/// account is) is recorded once and not retried, the person's key is still deactivated,
/// the run does not fail for it, and the summary, built from what happened, names both.
/// Its own region and user-type tag, so the scan of the test above neither sees this
/// sandbox nor acts on these users (and the other way round).
#[tokio::test]
async fn an_address_ses_rejects_is_told_once_and_the_keys_go_ahead() {
    const REGION: &str = "eu-west-3";
    let moto = moto::shared();
    let sdk = keyguard_aws::load_config()
        .await
        .to_builder()
        .region(aws_sdk_iam::config::Region::new(REGION))
        .build();
    let client = aws_sdk_iam::Client::new(&sdk);
    verify_sender(&sdk).await;
    moto.ses_sandbox(REGION, true);
    let kind = keyguard_testkit::unique("kind");
    let app = common::app(&sdk, &[("USER_TYPE_TAG", kind.as_str())]).await;
    let ago = (chrono::Utc::now() - chrono::Duration::days(82)).to_rfc3339();

    let prefix = keyguard_testkit::unique("sandboxed");
    let mut people = Vec::new();
    for (who, verified) in [("reached", true), ("rejected", false)] {
        let address = format!("{prefix}-{who}@example.com");
        if verified {
            aws_sdk_sesv2::Client::new(&sdk)
                .create_email_identity()
                .email_identity(&address)
                .send()
                .await
                .unwrap();
        }
        let user = iam::user(
            &client,
            &[(kind.as_str(), "employee"), ("Email", address.as_str())],
        )
        .await;
        let (key, _) = iam::key(&client, &user).await;
        moto.backdate_key(&user, &key, &ago);
        people.push((user, key, address));
    }
    let [(reached, reached_key, reached_at), (rejected, rejected_key, rejected_at)] =
        <[_; 2]>::try_from(people).unwrap();

    let report = serde_json::to_value(app.handle(&schedule()).await).unwrap();
    assert_eq!(report["statusCode"], 200, "{report:#}");
    assert_eq!(count(&report, "send_email", "applied"), 1, "{report:#}");
    assert_eq!(count(&report, "send_email", "rejected"), 1, "{report:#}");
    for (user, key) in [(&reached, &reached_key), (&rejected, &rejected_key)] {
        assert_eq!(
            iam::statuses(&client, user).await[key],
            "Inactive",
            "{user}: {report:#}"
        );
    }
    let summary = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["idempotency_key"]
                .as_str()
                .is_some_and(|k| k.contains(":notify:summary:"))
        })
        .unwrap_or_else(|| panic!("a summary: {report:#}"));
    let facts = &summary["action"]["notice"]["facts"];
    assert!(
        facts["emails_rejected_by_ses"]
            .as_str()
            .unwrap()
            .contains(&rejected),
        "{summary:#}"
    );
    assert!(
        facts["actions"]
            .as_str()
            .unwrap()
            .contains(&format!("deactivate_key {rejected_key} ({rejected}): done")),
        "the summary says what happened: {summary:#}"
    );
    assert_eq!(summary["action"]["notice"]["severity"], "high");

    // The next run sends neither email again: the rejection is settled, not a failure,
    // and still said rejected (never counted as sent).
    let again = serde_json::to_value(app.handle(&schedule()).await).unwrap();
    assert_eq!(again["statusCode"], 200, "{again:#}");
    assert_eq!(count(&again, "send_email", "duplicate"), 1, "{again:#}");
    assert_eq!(count(&again, "send_email", "rejected"), 1, "{again:#}");
    let mails = common::fleet::mailbox(&prefix);
    assert_eq!(mails.get(&reached_at).map(Vec::len), Some(1));
    assert_eq!(mails.get(&rejected_at), None, "SES never took it");
    moto.ses_sandbox(REGION, false);
}

/// Run with too little of the invocation left, the scan begins no step: nothing is
/// claimed or touched, every step says why, and the run fails so Lambda retries it.
#[tokio::test]
async fn too_close_to_the_deadline_no_step_begins() {
    let moto = moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let client = aws_sdk_iam::Client::new(&sdk);
    verify_sender(&sdk).await;
    let kind = keyguard_testkit::unique("kind");
    let app = common::app(&sdk, &[("USER_TYPE_TAG", kind.as_str())]).await;
    let user = iam::user(
        &client,
        &[(kind.as_str(), "employee"), ("Email", "late@example.com")],
    )
    .await;
    let (key, _) = iam::key(&client, &user).await;
    moto.backdate_key(
        &user,
        &key,
        &(chrono::Utc::now() - chrono::Duration::days(85)).to_rfc3339(),
    );

    let ends = std::time::Instant::now() + keyguard_core::effects::STEP_MARGIN / 2;
    let report = keyguard_aws::lambda::within(ends, app.handle(&schedule())).await;
    let report = serde_json::to_value(report).unwrap();
    assert_eq!(report["statusCode"], 500, "{report:#}");
    let steps = report["steps"].as_array().unwrap();
    assert!(!steps.is_empty(), "{report:#}");
    assert!(
        steps.iter().all(|s| s["code"] == "DeadlineNear"),
        "{report:#}"
    );
    assert_eq!(iam::statuses(&client, &user).await[&key], "Active");
    assert!(
        app.ledger.rows().await.unwrap().is_empty(),
        "nothing claimed"
    );
}
