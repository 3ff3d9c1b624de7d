//! deactivate-key's Security Hub findings against moto (`SECURITY_HUB=true`): one finding
//! per event, read back, which a redelivery never overwrites; an import that fails fails
//! only its own step, and the retry imports it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::sample;
use deactivate_key::{App, Settings};
use keyguard_aws::lambda::Handler;
use keyguard_core::config::FromEnv;
use keyguard_core::policy::containment::SelfIdentity;
use keyguard_testkit::faults::FaultProxy;
use keyguard_testkit::security_hub::findings_with_id;
use keyguard_testkit::{moto, unique};
use serde_json::{json, Value};
use std::collections::BTreeMap;

async fn app(sdk: &keyguard_aws::SdkConfig, table: &str) -> App {
    let env: BTreeMap<&str, String> = [
        ("LEDGER_TABLE", table.to_owned()),
        ("LOOKBACK_HOURS", "0".into()),
        ("SECURITY_HUB", "true".into()),
    ]
    .into();
    let me = SelfIdentity {
        role: Some("keyguard-deactivate-key".into()),
        ..keyguard_aws::identity::whoami(sdk).await.unwrap()
    };
    App::new(
        sdk,
        Settings::from_env(&|k: &str| env.get(k).cloned(), me).unwrap(),
    )
}

fn step<'a>(report: &'a Value, action: &str) -> Option<&'a Value> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"]["type"] == action)
}

#[tokio::test]
async fn each_event_is_one_finding_that_a_redelivery_never_overwrites() {
    moto::shared();
    let direct = keyguard_aws::load_config().await;
    let iam = aws_sdk_iam::Client::new(&direct);
    let (user, named, _) = keyguard_testkit::iam::user_with_two_keys(&iam, &[]).await;
    let mut finding = sample("guardduty-iam-user.json", &named, &user);
    finding["detail"]["id"] = json!(unique("finding"));
    let app = app(&direct, &unique("ledger")).await;
    app.containing.ledger.create_table().await.unwrap();

    let first = serde_json::to_value(app.handle(&finding).await).unwrap();
    assert_eq!(first["statusCode"], 200, "{first:#}");
    let imported = step(&first, "import_finding").unwrap_or_else(|| panic!("{first:#}"));
    assert_eq!(imported["outcome"], "applied", "{first:#}");
    // Last, after the sweep: it reports on every step.
    assert_eq!(
        first["steps"].as_array().unwrap().last().unwrap()["action"]["type"],
        "import_finding"
    );
    let id = imported["action"]["finding"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let found = findings_with_id(&direct, &id);
    assert_eq!(found.len(), 1, "one finding for the event");
    let f = &found[0];
    let home = keyguard_aws::identity::whoami(&direct)
        .await
        .unwrap()
        .account
        .unwrap();
    assert_eq!(f.aws_account_id(), Some(home.as_str()));
    assert_eq!(
        f.product_arn(),
        Some(format!("arn:aws:securityhub:us-east-1:{home}:product/{home}/default").as_str())
    );
    assert_eq!(f.schema_version(), Some("2018-10-08"));
    assert!(f.generator_id().unwrap().starts_with("keyguard/"));
    assert!(f.types().iter().any(|t| t == "TTPs/Credential Access"));
    assert!(f.severity().and_then(|s| s.label()).is_some());
    let key = keyguard_testkit::security_hub::first_key(f);
    assert_eq!(key.access_key_id(), Some(named.as_str()));
    assert_eq!(key.principal_name(), Some(user.as_str()));
    assert_eq!(key.account_id(), Some(home.as_str()));
    let fields = f.product_fields().unwrap();
    assert_eq!(fields["keyguard/decision"], "act");
    assert_eq!(fields["ProviderName"], "keyguard");
    assert_eq!(fields["keyguard/step/00/deactivate_key"], "done");

    // Redelivered: the key is found already contained, a run that would tell less. The
    // settled finding's window holds its import back, and the finding still says "act".
    let again = serde_json::to_value(app.handle(&finding).await).unwrap();
    assert_eq!(again["statusCode"], 200, "{again:#}");
    assert_eq!(again["decision"], "already_contained", "{again:#}");
    assert_eq!(
        step(&again, "import_finding").unwrap()["outcome"],
        "suppressed"
    );
    let found = findings_with_id(&direct, &id);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].product_fields().unwrap()["keyguard/decision"],
        "act"
    );
}

/// A user with two keys, a finding about the first, and its first run through a proxy
/// that fails every request holding `needle` (past the SDK's retries): what the tests
/// of a retry start from.
struct FailedFirst {
    direct: keyguard_aws::SdkConfig,
    iam: aws_sdk_iam::Client,
    user: String,
    named: String,
    other: String,
    finding: Value,
    table: String,
    first: Value,
}

async fn failed_first(needle: &str, seed: u64) -> FailedFirst {
    let moto = moto::shared();
    let direct = keyguard_aws::load_config().await;
    let iam = aws_sdk_iam::Client::new(&direct);
    let (user, named, other) = keyguard_testkit::iam::user_with_two_keys(&iam, &[]).await;
    let mut finding = sample("guardduty-iam-user.json", &named, &user);
    finding["detail"]["id"] = json!(unique("finding"));
    let proxy = FaultProxy::start(&moto.endpoint, 0.0, seed);
    proxy.always_fail(needle);
    let through_proxy =
        keyguard_aws::load_config_at(&proxy.endpoint(), std::time::Duration::from_millis(10)).await;
    let table = unique("ledger");
    let failing = app(&through_proxy, &table).await;
    failing.containing.ledger.create_table().await.unwrap();
    let first = serde_json::to_value(failing.handle(&finding).await).unwrap();
    FailedFirst {
        direct,
        iam,
        user,
        named,
        other,
        finding,
        table,
        first,
    }
}

#[tokio::test]
async fn a_failed_import_fails_only_its_step_and_the_retry_imports_it() {
    // Security Hub refuses every import (an internal error, past the SDK's retries).
    let FailedFirst {
        direct,
        iam,
        user,
        named,
        other,
        finding,
        table,
        first,
    } = failed_first("ProviderName", 0x5348).await;
    // The key is contained all the same; only the finding's step failed, and the run
    // with it, so Lambda retries.
    assert_eq!(first["statusCode"], 500, "{first:#}");
    assert_eq!(
        step(&first, "deactivate_key").unwrap()["outcome"],
        "applied"
    );
    assert_eq!(step(&first, "import_finding").unwrap()["outcome"], "failed");
    let statuses = keyguard_testkit::iam::statuses(&iam, &user).await;
    assert_eq!(statuses[&named], "Inactive");
    assert_eq!(statuses[&other], "Active");

    // The retry, Security Hub answering: the key is found contained, and the finding
    // imported (the failed import released its window).
    let working = app(&direct, &table).await;
    let retry = serde_json::to_value(working.handle(&finding).await).unwrap();
    assert_eq!(retry["statusCode"], 200, "{retry:#}");
    assert_eq!(retry["decision"], "already_contained", "{retry:#}");
    let imported = step(&retry, "import_finding").unwrap_or_else(|| panic!("{retry:#}"));
    assert_eq!(imported["outcome"], "applied", "{retry:#}");
    let id = imported["action"]["finding"]["id"].as_str().unwrap();
    let found = findings_with_id(&direct, id);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].product_fields().unwrap()["keyguard/decision"],
        "already_contained"
    );
    // The retried import may resolve (`a_clean_runs_import_retried_after_a_failure`), but
    // no finding told of a failure (only the import had failed): it stays open.
    assert!(
        !imported["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("RESOLVED"),
        "{retry:#}"
    );
    assert_ne!(
        found[0].workflow().and_then(|w| w.status()),
        Some(&aws_sdk_securityhub::types::WorkflowStatus::Resolved)
    );
    // And once more: nothing new.
    let again = serde_json::to_value(working.handle(&finding).await).unwrap();
    assert_eq!(
        step(&again, "import_finding").unwrap()["outcome"],
        "duplicate"
    );
}

/// A run that could not contain the key imports a finding that says so, `NEW`; the
/// retry that contains it imports the same finding again and sets it `RESOLVED`
/// (`BatchUpdateFindings`), with a note saying why. A redelivery after that changes
/// nothing.
#[tokio::test]
async fn the_retry_that_completes_a_failed_containment_resolves_its_finding() {
    use aws_sdk_securityhub::types::WorkflowStatus;
    // IAM refuses the write (an internal error, past the SDK's retries).
    let FailedFirst {
        direct,
        iam,
        user,
        named,
        other,
        finding,
        table,
        first,
    } = failed_first("Action=UpdateAccessKey", 0x5349).await;
    assert_eq!(first["statusCode"], 500, "{first:#}");
    assert_eq!(step(&first, "deactivate_key").unwrap()["outcome"], "failed");
    let id = keyguard_testkit::security_hub::imported_id(&first);
    let told = findings_with_id(&direct, &id);
    assert_eq!(told.len(), 1);
    let status = |f: &aws_sdk_securityhub::types::AwsSecurityFinding| {
        f.workflow().and_then(|w| w.status()).cloned()
    };
    assert_ne!(
        status(&told[0]),
        Some(WorkflowStatus::Resolved),
        "{told:#?}"
    );
    assert!(
        step(&first, "import_finding").unwrap()["action"]["clean"].is_null(),
        "a failed run is not clean"
    );

    // The retry contains the key, and resolves what the finding told.
    let working = app(&direct, &table).await;
    let retry = serde_json::to_value(working.handle(&finding).await).unwrap();
    assert_eq!(retry["statusCode"], 200, "{retry:#}");
    let deactivated = step(&retry, "deactivate_key").unwrap();
    assert_eq!(deactivated["outcome"], "applied", "{retry:#}");
    assert_eq!(deactivated["retried"], true, "{retry:#}");
    assert_eq!(keyguard_testkit::security_hub::imported_id(&retry), id);
    let statuses = keyguard_testkit::iam::statuses(&iam, &user).await;
    assert_eq!(statuses[&named], "Inactive");
    assert_eq!(statuses[&other], "Active");
    let found = findings_with_id(&direct, &id);
    assert_eq!(found.len(), 1, "the same finding");
    assert_eq!(status(&found[0]), Some(WorkflowStatus::Resolved));
    let note = found[0]
        .note()
        .map(|n| n.text().unwrap_or_default().to_owned());
    assert!(
        note.as_deref()
            .unwrap_or_default()
            .contains("retry completed"),
        "{note:?}"
    );
    assert_eq!(
        found[0].product_fields().unwrap()["keyguard/decision"],
        "act"
    );

    // A redelivery finds the key already contained: the settled finding's window keeps
    // it from overwriting what the finding says, and it stays resolved.
    let again = serde_json::to_value(working.handle(&finding).await).unwrap();
    assert_eq!(again["decision"], "already_contained", "{again:#}");
    assert_eq!(
        step(&again, "import_finding").unwrap()["outcome"],
        "suppressed",
        "{again:#}"
    );
    assert_eq!(
        status(&findings_with_id(&direct, &id)[0]),
        Some(WorkflowStatus::Resolved)
    );
}
