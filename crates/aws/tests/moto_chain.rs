//! The local AWS chain: the real aws-sdk-iam client, configured only through
//! `AWS_ENDPOINT_URL`, talks to moto through the project's launcher, and the launcher's
//! test-only route ages a key for real.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use aws_sdk_iam::primitives::DateTime;
use keyguard_testkit::moto;

#[tokio::test]
async fn a_back_dated_key_shows_its_age_through_the_real_sdk() {
    let moto = moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let user = "chain-user";
    iam.create_user().user_name(user).send().await.unwrap();
    let key = iam
        .create_access_key()
        .user_name(user)
        .send()
        .await
        .unwrap();
    let key_id = key.access_key().unwrap().access_key_id().to_owned();

    let created = chrono::Utc::now() - chrono::Duration::days(85);
    moto.backdate_key(user, &key_id, &created.to_rfc3339());

    let listed = iam.list_access_keys().user_name(user).send().await.unwrap();
    let meta = &listed.access_key_metadata()[0];
    assert_eq!(meta.access_key_id(), Some(key_id.as_str()));
    let seen = meta.create_date().map(DateTime::secs).unwrap();
    assert!(
        (seen - created.timestamp()).abs() <= 1,
        "CreateDate {seen} vs {}",
        created.timestamp()
    );
    let age_days = (chrono::Utc::now().timestamp() - seen) / 86_400;
    assert_eq!(age_days, 85);
}
