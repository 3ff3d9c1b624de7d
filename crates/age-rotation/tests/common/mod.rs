//! What the age-rotation tests share: an app configured as a test asks, and a fleet.

#![allow(dead_code)] // each test binary uses its own part of this module

use keyguard_core::config::FromEnv;
pub mod fleet;

use age_rotation::{App, Settings};
use std::collections::BTreeMap;

/// The app with a fresh ledger table, the test sender, and `extra` variables.
pub async fn app(sdk: &keyguard_aws::SdkConfig, extra: &[(&str, &str)]) -> App {
    let mut env: BTreeMap<String, String> = BTreeMap::from([
        (
            "LEDGER_TABLE".to_owned(),
            keyguard_testkit::unique("ledger"),
        ),
        ("SENDER_EMAIL".to_owned(), "keyguard@example.com".to_owned()),
        ("REPORT_WAIT_SECONDS".to_owned(), "10".to_owned()),
    ]);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    // Who keyguard runs as, as its cold start reads it: the organisation scan knows its
    // own account by it.
    let me = keyguard_aws::identity::whoami(sdk)
        .await
        .expect("who the tests run as");
    let settings =
        Settings::from_env(&move |k: &str| env.get(k).cloned(), me).expect("test settings");
    let app = App::new(sdk, settings);
    app.ledger.create_table().await.expect("ledger table");
    app
}
