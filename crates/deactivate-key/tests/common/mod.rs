//! What deactivate-key's moto tests share: a world of one App over a fresh ledger, with
//! a hand-off key to sign with.

#![allow(dead_code)] // each test binary uses part of it

use aws_sdk_iam::types::StatusType;
use deactivate_key::{App, Settings};
use keyguard_aws::lambda::Handler;
use keyguard_core::config::FromEnv;
use keyguard_core::policy::containment::SelfIdentity;
use keyguard_testkit::moto;
use keyguard_testkit::unique;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct World {
    pub iam: aws_sdk_iam::Client,
    pub app: App,
    pub key: keyguard_aws::HandoffKey,
}

pub async fn world(env: &[(&str, &str)]) -> World {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let table = unique("ledger");
    let mut vars: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.insert("LEDGER_TABLE".into(), table);
    // The sweep reads CloudTrail at two requests a second per account: only the test
    // about it turns it on, so the others running beside it cannot throttle it.
    vars.entry("LOOKBACK_HOURS".into())
        .or_insert_with(|| "0".into());
    let handoff_key = keyguard_aws::HandoffKey::create(&sdk).await.unwrap();
    vars.insert("HANDOFF_KEY_ID".into(), handoff_key.clone());
    let lookup = move |k: &str| vars.get(k).cloned();
    let me = SelfIdentity {
        role: Some("keyguard-deactivate-key".into()),
        ..keyguard_aws::identity::whoami(&sdk).await.unwrap()
    };
    let app = App::new(&sdk, Settings::from_env(&lookup, me).unwrap());
    let key = keyguard_aws::HandoffKey::new(&sdk, &handoff_key);
    app.containing.ledger.create_table().await.unwrap();
    World {
        key,
        iam: aws_sdk_iam::Client::new(&sdk),
        app,
    }
}

impl World {
    pub async fn user_with_two_keys(&self, tags: &[(&str, &str)]) -> (String, String, String) {
        keyguard_testkit::iam::user_with_two_keys(&self.iam, tags).await
    }

    pub async fn statuses(&self, user: &str) -> BTreeMap<String, String> {
        keyguard_testkit::iam::statuses(&self.iam, user).await
    }

    /// One invocation; a hand-off is signed first, as createkey-detector signs it (an
    /// unsigned one is refused, which the core's tests and the demo show).
    pub async fn run(&self, event: &Value) -> Value {
        let mut event = event.clone();
        if event.get("accessKeyId").is_some() && event.get("mac").is_none() {
            if event.get("accountId").is_none() {
                event["accountId"] = serde_json::json!("123456789012");
            }
            if let Ok(keyguard_core::Trigger::Handoff(mut h)) = keyguard_core::parse_value(&event) {
                h.issued_at = Some(chrono::Utc::now().to_rfc3339());
                h.mac = Some(self.key.sign(&h).await.unwrap());
                event = serde_json::to_value(&h).unwrap();
            }
        }
        serde_json::to_value(self.app.handle(&event).await).unwrap()
    }

    /// A hand-off naming a key someone already set Inactive: its user and the report.
    pub async fn run_on_an_inactive_key(&self) -> (String, Value) {
        let (user, named, _) = self.user_with_two_keys(&[]).await;
        self.iam
            .update_access_key()
            .user_name(&user)
            .access_key_id(&named)
            .status(StatusType::Inactive)
            .send()
            .await
            .unwrap();
        let event = json!({"accessKeyId": named, "userName": user, "eventId": unique("ev")});
        let report = self.run(&event).await;
        (user, report)
    }

    /// The step rows (not the per-key deactivation records).
    pub async fn step_rows(&self) -> Vec<BTreeMap<String, String>> {
        self.app
            .containing
            .ledger
            .rows()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| !r["idempotency_key"].starts_with("keyguard:deactivated:"))
            .map(|r| r.into_iter().collect())
            .collect()
    }

    pub async fn ledger_rows(&self) -> usize {
        self.step_rows().await.len()
    }
}

/// The report's steps, in order, as (action, outcome).
pub fn assert_steps(report: &Value, want: &[(&str, &str)]) {
    let steps: Vec<(&str, &str)> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["action"]["type"].as_str().unwrap(),
                s["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(steps, want, "{report:#}");
}

/// A sample of `events/deactivate-key/` naming `key` of `user`, with a fresh event id.
pub fn sample(name: &str, key: &str, user: &str) -> Value {
    let path = keyguard_testkit::workspace_root()
        .join("events/deactivate-key")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text
        .replace("AKIAIOSFODNN7EXAMPLE", key)
        .replace("\"alice\"", &format!("\"{user}\""))
        .replace("user/alice", &format!("user/{user}"))
        .replace("6f1c2d3e-0000-4000-8000-00000000000", &unique("ev"));
    serde_json::from_str(&text).unwrap()
}
