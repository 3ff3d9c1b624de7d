//! A burst of 50 containment events through a proxy that fails 30 % of AWS requests
//! (throttling, internal errors, dropped connections), each invocation retried as Lambda
//! retries an asynchronous one (twice), then re-driven from the on-failure queue: every
//! named key ends Inactive, every other key stays Active, and each key is deactivated
//! exactly once. An invocation that still fails says so in its result.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use deactivate_key::{App, Settings};
use futures::stream::{self, StreamExt};
use keyguard_aws::lambda::Handler;
use keyguard_core::config::FromEnv;
use keyguard_core::policy::containment::SelfIdentity;
use keyguard_testkit::faults::FaultProxy;
use keyguard_testkit::report::steps;
use keyguard_testkit::{moto, unique};
use serde_json::Value;
use std::collections::BTreeMap;

const BURST: usize = 50;
const SHARE: f64 = 0.3;
/// One invocation and Lambda's two retries of an asynchronous one.
const ATTEMPTS: usize = 3;
/// Re-drives from the on-failure queue before the test gives up.
const REDRIVES: usize = 4;

struct Case {
    user: String,
    named: String,
    other: String,
    event: Value,
}

fn event(key: &str, user: &str) -> Value {
    let path =
        keyguard_testkit::workspace_root().join("events/deactivate-key/cloudtrail-iam-user.json");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("AKIAIOSFODNN7EXAMPLE", key)
        .replace("\"alice\"", &format!("\"{user}\""))
        .replace("user/alice", &format!("user/{user}"))
        .replace("6f1c2d3e-0000-4000-8000-000000000002", &unique("ev"));
    serde_json::from_str(&text).unwrap()
}

/// Invokes as Lambda does: again while the invocation fails, up to `ATTEMPTS` times.
/// Returns every report, and whether the last one still failed.
async fn invoke(app: &App, event: &Value) -> (Vec<Value>, bool) {
    let mut reports = Vec::new();
    for _ in 0..ATTEMPTS {
        let report = app.handle(event).await;
        let failed = app.fails(event, &report);
        let value = serde_json::to_value(&report).unwrap();
        if failed {
            // Reported, not swallowed: a failed invocation carries a 500 and names why.
            assert_eq!(value["statusCode"], 500, "{value:#}");
            assert!(
                value["decision"] == "failed" || steps(&value).iter().any(|(_, o)| o == "failed"),
                "{value:#}"
            );
        }
        reports.push(value);
        if !failed {
            return (reports, false);
        }
    }
    (reports, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_fifty_under_thirty_percent_faults_contains_each_key_once() {
    let moto = moto::shared();
    let direct = keyguard_aws::load_config().await;
    let iam = aws_sdk_iam::Client::new(&direct);
    let mut cases = Vec::new();
    for _ in 0..BURST {
        let (user, named, other) = keyguard_testkit::iam::user_with_two_keys(&iam, &[]).await;
        let event = event(&named, &user);
        cases.push(Case {
            user,
            named,
            other,
            event,
        });
    }

    let proxy = FaultProxy::start(&moto.endpoint, 0.0, 0x636f);
    // Backing off from 10 ms instead of a second, as in the age scan's fault test.
    let sdk =
        keyguard_aws::load_config_at(&proxy.endpoint(), std::time::Duration::from_millis(10)).await;
    // The sweep after containment is off: these faults are about the containment's own
    // calls (the sweep's failure is a failed run, as any read's).
    let env: BTreeMap<&str, String> = [
        ("LEDGER_TABLE", unique("ledger")),
        ("LOOKBACK_HOURS", "0".into()),
    ]
    .into();
    let me = SelfIdentity {
        role: Some("keyguard-deactivate-key".into()),
        ..keyguard_aws::identity::whoami(&sdk).await.unwrap()
    };
    let settings = Settings::from_env(&|k: &str| env.get(k).cloned(), me).unwrap();
    let app = App::new(&sdk, settings);
    app.containing.ledger.create_table().await.unwrap();
    proxy.set_share(SHARE);

    let mut history: Vec<Vec<Value>> = vec![Vec::new(); BURST];
    let mut pending: Vec<usize> = (0..BURST).collect();
    let mut redrives = 0;
    while !pending.is_empty() {
        let results: Vec<(usize, Vec<Value>, bool)> = stream::iter(pending.clone())
            .map(|i| {
                let app = &app;
                let event = &cases[i].event;
                async move {
                    let (reports, failed) = invoke(app, event).await;
                    (i, reports, failed)
                }
            })
            .buffer_unordered(10)
            .collect()
            .await;
        pending.clear();
        for (i, reports, failed) in results {
            history[i].extend(reports);
            if failed {
                pending.push(i);
            }
        }
        eprintln!(
            "after round {redrives}: {} invocations still failing",
            pending.len()
        );
        assert!(
            redrives < REDRIVES,
            "{} events never went through",
            pending.len()
        );
        redrives += 1;
    }

    let faults = proxy.counts();
    eprintln!("proxy: {faults:?}");
    assert!(faults.throttled > 0 && faults.server_errors > 0 && faults.dropped > 0);
    proxy.set_share(0.0);
    for (case, reports) in cases.iter().zip(&history) {
        let statuses = keyguard_testkit::iam::statuses(&iam, &case.user).await;
        assert_eq!(statuses[&case.named], "Inactive", "{}", case.user);
        assert_eq!(
            statuses[&case.other], "Active",
            "{}: only the named key",
            case.user
        );
        let applied = |action: &str| {
            reports
                .iter()
                .flat_map(steps)
                .filter(|(a, o)| a == action && o == "applied")
                .count()
        };
        assert_eq!(applied("deactivate_key"), 1, "{}: {reports:#?}", case.user);
    }
}
