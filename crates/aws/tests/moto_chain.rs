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

/// The Incident Manager stand-in refuses what AWS's API reference says StartIncident
/// refuses, so a field keyguard gets wrong fails here as it would in production.
#[tokio::test]
async fn the_incident_stand_in_refuses_what_aws_refuses() {
    keyguard_testkit::moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let incidents = keyguard_aws::Incidents::new(&sdk);
    let good = keyguard_core::Incident {
        response_plan_arn: "arn:aws:ssm-incidents::123456789012:response-plan/keyguard".into(),
        title: "GuardDuty finding".into(),
        impact: 2,
        source: "keyguard.guardduty-translator".into(),
        timestamp: chrono::Utc::now(),
        trigger_arn: Some("arn:aws:guardduty:us-east-1:123456789012:detector/d/finding/f".into()),
        raw_data: "{}".into(),
        related: vec![],
        user: None,
        key_id: None,
        client_token: uuid_like(1),
    };
    assert!(incidents.start(&good).await.is_ok());
    let cases = [
        keyguard_core::Incident {
            source: "aws.guardduty".into(),
            client_token: uuid_like(2),
            ..good.clone()
        },
        keyguard_core::Incident {
            client_token: "k".repeat(129),
            ..good.clone()
        },
        keyguard_core::Incident {
            trigger_arn: Some("not-an-arn".into()),
            client_token: uuid_like(3),
            ..good.clone()
        },
        keyguard_core::Incident {
            raw_data: "x".repeat(10_001),
            client_token: uuid_like(4),
            ..good.clone()
        },
    ];
    for bad in cases {
        let err = incidents.start(&bad).await.unwrap_err();
        assert_eq!(err.code.as_deref(), Some("ValidationException"), "{err}");
    }
}

fn uuid_like(n: u32) -> String {
    format!("00000000-0000-4000-8000-{:012}-{}", n, std::process::id())
}
