//! Without a credential report (not ready within REPORT_WAIT_SECONDS), age-rotation reads
//! every user page by page and decides the same. Its own test process: moto's report,
//! once generated, is ready at once for everyone after.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use age_rotation::{App, Source};
use keyguard_testkit::moto;

#[tokio::test]
async fn no_report_in_time_means_every_user_is_read() {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let user = keyguard_testkit::iam::user(&iam, &[("UserType", "employee")]).await;
    let (key, _) = keyguard_testkit::iam::key(&iam, &user).await;
    moto::shared().backdate_key(
        &user,
        &key,
        &(chrono::Utc::now() - chrono::Duration::days(85)).to_rfc3339(),
    );
    let young = keyguard_testkit::iam::user(&iam, &[("UserType", "employee")]).await;
    keyguard_testkit::iam::key(&iam, &young).await;

    // moto answers the first GenerateCredentialReport with STARTED: no time to wait.
    let app = common::app(&sdk, &[("REPORT_WAIT_SECONDS", "0")]).await;
    let (scan, source) = app
        .scan_facts(&app.effects.iam, chrono::Utc::now())
        .await
        .unwrap();
    assert!(scan.unread.is_empty(), "{:?}", scan.unread);
    let people = scan.people;
    assert_eq!(source, Source::EveryUser);
    let names: Vec<&str> = people.iter().map(|p| p.user.as_str()).collect();
    assert!(
        names.contains(&user.as_str()) && names.contains(&young.as_str()),
        "{names:?}"
    );
    let plan = keyguard_core::policy::age::decide_scan(
        "run",
        &app.settings.age,
        &people,
        chrono::Utc::now(),
    );
    assert!(plan
        .steps
        .iter()
        .any(|s| s.action.name() == "deactivate_key"
            && s.action.key_id().map(|k| k.as_str()) == Some(key.as_str())));

    // With time to wait, the report is used, and only the old key's owner is read.
    let mut settings = app.settings.clone();
    settings.report_wait_seconds = 10;
    let app = App::new(&sdk, settings);
    let (scan, source) = app
        .scan_facts(&app.effects.iam, chrono::Utc::now())
        .await
        .unwrap();
    assert!(scan.unread.is_empty(), "{:?}", scan.unread);
    let people = scan.people;
    assert_eq!(source, Source::CredentialReport);
    assert_eq!(
        people.iter().map(|p| p.user.as_str()).collect::<Vec<_>>(),
        [user.as_str()]
    );
}
