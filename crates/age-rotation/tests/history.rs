//! What other keyguard functions did to a key counts, against moto: a key age-rotation
//! deactivated and its owner re-activated is deactivated again; a key deactivate-key
//! contained is kept as evidence, not deleted at 90 days. Its own test process, since a
//! scan reads every user of the account.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::fleet::{count, schedule, verify_sender};
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

    // eve's key is 81 days old: deactivated by the first scan.
    let eve = iam::user(
        &client,
        &[("UserType", "employee"), ("Email", "eve@example.com")],
    )
    .await;
    let (eve_key, _) = iam::key(&client, &eve).await;
    moto.backdate_key(&eve, &eve_key, &ago(81));
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
    let contained = LedgerEntry {
        idempotency_key: format!("deactivate-key:deactivate_key:123456789012:{fay_key}:ev"),
        action: "deactivate_key",
        function: "deactivate-key".into(),
        reason: "a GuardDuty finding".into(),
        event_id: Some("ev".into()),
        classifier_source: None,
        user: Some(fay.clone()),
        key_id: Some(fay_key.clone()),
        account: Some("123456789012".into()),
        at: now - chrono::Duration::days(5),
        window: None,
        repeatable: true,
    };
    app.ledger.claim(&contained).await.unwrap();
    app.ledger
        .settle(&contained, &Outcome::Applied { detail: None })
        .await
        .unwrap();

    let first = serde_json::to_value(app.handle(&schedule()).await).unwrap();
    assert_eq!(count(&first, "deactivate_key", "applied"), 1, "{first:#}");
    assert_eq!(
        count(&first, "delete_key", "applied"),
        0,
        "fay's key is evidence"
    );
    assert!(iam::statuses(&client, &fay).await.contains_key(&fay_key));
    assert_eq!(iam::statuses(&client, &eve).await[&eve_key], "Inactive");

    // eve turns her key back on.
    client
        .update_access_key()
        .user_name(&eve)
        .access_key_id(&eve_key)
        .status(aws_sdk_iam::types::StatusType::Active)
        .send()
        .await
        .unwrap();
    let second = serde_json::to_value(app.handle(&schedule()).await).unwrap();
    assert_eq!(
        count(&second, "deactivate_key", "applied"),
        1,
        "re-activated, deactivated again: {second:#}"
    );
    assert_eq!(iam::statuses(&client, &eve).await[&eve_key], "Inactive");
    assert!(second.to_string().contains("re-activated"));
    assert!(iam::statuses(&client, &fay).await.contains_key(&fay_key));
}
