//! age-rotation's organisation mode against moto: three member accounts, each scanned
//! through the member role assumed there, emails sent centrally, one summary per account.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use keyguard_aws::accounts;
use keyguard_aws::lambda::Handler;
use keyguard_core::config::FromEnv;
use keyguard_testkit::{moto, unique};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const ROLE: &str = "keyguard-age-rotation-member";

#[tokio::test]
async fn three_member_accounts_are_scanned_each_through_its_own_role() {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let org = aws_sdk_organizations::Client::new(&sdk);
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let mut members = Vec::new();
    for i in 0..3 {
        let created = org
            .create_account()
            .email(format!("member{i}@example.com"))
            .account_name(format!("member-{i}"))
            .send()
            .await
            .unwrap();
        members.push(
            created
                .create_account_status()
                .unwrap()
                .account_id()
                .unwrap()
                .to_owned(),
        );
    }
    aws_sdk_sesv2::Client::new(&sdk)
        .create_email_identity()
        .email_identity("keyguard@example.com")
        .send()
        .await
        .unwrap();
    // In each member account, as the member role: one employee with an 85-day key.
    let mut keys = BTreeMap::new();
    for account in &members {
        // keyguard's own way in must work for the account.
        accounts::iam_in(&sdk, account, ROLE, "age-rotation")
            .await
            .unwrap();
        let created = (chrono::Utc::now() - chrono::Duration::days(85)).to_rfc3339();
        let made =
            keyguard_testkit::org::employee_with_key_made(&sdk, account, ROLE, &created).await;
        keys.insert(account.clone(), made);
    }

    let app = common::app(&sdk, &[("ORGANIZATION_MODE", "true")]).await;
    let event = json!({"version": "0", "id": unique("sched"), "detail-type": "Scheduled Event",
                       "source": "aws.events", "detail": {}});
    let report = serde_json::to_value(app.handle(&event).await).unwrap();
    assert_eq!(report["statusCode"], 200, "{report:#}");
    let steps = report["steps"].as_array().unwrap();
    let of = |kind: &str| {
        steps
            .iter()
            .filter(|s| s["action"]["type"] == kind)
            .collect::<Vec<&Value>>()
    };
    assert_eq!(of("deactivate_key").len(), 3, "{report:#}");
    assert_eq!(of("send_email").len(), 3);
    assert_eq!(of("notify").len(), 3, "one summary per account");
    for (account, (user, key)) in &keys {
        let client = keyguard_testkit::org::iam_in(&sdk, account, ROLE).await;
        let statuses = keyguard_testkit::iam::statuses(&client, user).await;
        assert_eq!(statuses[key], "Inactive", "account {account}");
        assert!(steps.iter().any(|s| s["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("account {account}: "))));
    }
    let mail = moto::shared().data()["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for account in &members {
        let to = format!("owner-{account}@example.com");
        assert_eq!(
            mail.iter()
                .filter(|m| m["destinations"]["ToAddresses"][0] == to.as_str())
                .count(),
            1
        );
    }
}

#[test]
fn the_template_and_the_docs_page_name_exactly_what_the_function_reads() {
    keyguard_testkit::infra::check_env("age-rotation", |env| {
        age_rotation::Settings::from_env(&|k: &str| env(k), Default::default())
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
}
