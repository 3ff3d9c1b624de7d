//! age-rotation through a proxy that fails 30 % of AWS requests (throttling, internal
//! errors, dropped connections): the scan of 500 users converges, run after run, to the
//! state a fault-free scan leaves (see `fleet.rs`), with no key action and no email made
//! twice, and whatever a run could not do is in that run's report.
//!
//! One test function on purpose: the scan reads every user in this process's moto.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::fleet::{count, email_of, fleet, mailbox, schedule, verify_sender, Member};
use keyguard_aws::lambda::Handler;
use keyguard_testkit::faults::FaultProxy;
use keyguard_testkit::{moto, unique};
use serde_json::Value;

const FLEET: usize = 500;
const SHARE: f64 = 0.3;
/// Runs allowed to converge. A daily schedule gets one a day; at 30 % faults each run
/// finishes most of what is left.
const MAX_RUNS: usize = 8;
/// A step whose failure could not be recorded stays claimed until its lease ends; the
/// test shortens the lease (300 s deployed, a day between scheduled runs) to keep time.
const LEASE_SECONDS: u64 = 2;

/// Whether the member is in its final state in moto: key status, and its one email.
async fn settled(iam: &aws_sdk_iam::Client, m: &Member, mails: usize) -> bool {
    let statuses = keyguard_testkit::iam::statuses(iam, &m.user).await;
    statuses.get(&m.key).map(String::as_str) == m.final_status() && mails == usize::from(m.mailed())
}

/// Steps of the report that name this user (its key action, or the email about it).
fn steps_about<'a>(report: &'a Value, user: &str) -> Vec<&'a Value> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"].to_string().contains(user))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scan_under_thirty_percent_faults_converges_and_never_acts_twice() {
    let moto = moto::shared();
    let direct = keyguard_aws::load_config().await;
    let iam = aws_sdk_iam::Client::new(&direct);
    verify_sender(&direct).await;
    let prefix = unique("faults");
    let members = fleet(&iam, &prefix, FLEET).await;

    let proxy = FaultProxy::start(&moto.endpoint, 0.0, 0x6b67);
    // The SDK's retries as deployed, but backing off from 10 ms instead of a second, so
    // four hundred faults cost seconds, not minutes.
    let through_proxy =
        keyguard_aws::load_config_at(&proxy.endpoint(), std::time::Duration::from_millis(10)).await;
    let app = common::app(
        &through_proxy,
        &[("LEDGER_LEASE_SECONDS", &LEASE_SECONDS.to_string())],
    )
    .await;
    proxy.set_share(SHARE);

    let mut applied = std::collections::BTreeMap::<&str, usize>::new();
    let mut runs = 0;
    let mut previous = Value::Null;
    loop {
        runs += 1;
        // Each run with clients of its own, as a new invocation environment has: the
        // SDK's retry quota is per client, and a drained one would make later runs
        // measure the quota rather than keyguard.
        let app = age_rotation::App::new(&through_proxy, app.settings.clone());
        let event = schedule();
        let typed = app.handle(&event).await;
        let report = serde_json::to_value(&typed).unwrap();
        for action in ["deactivate_key", "delete_key", "send_email"] {
            *applied.entry(action).or_default() += count(&report, action, "applied");
        }
        let why = report["why"].as_str().unwrap_or_default();
        let failed_steps = count_outcome(&report, "failed");
        let mut codes = std::collections::BTreeMap::<String, usize>::new();
        for s in report["steps"].as_array().unwrap() {
            if s["outcome"] == "failed" {
                let code = format!("{}:{}", s["action"]["type"], s["code"]);
                *codes.entry(code).or_default() += 1;
            }
        }
        eprintln!("failed steps by code: {codes:?}");
        eprintln!(
            "run {runs}: {} {}, {failed_steps} of {} steps failed; {}",
            report["statusCode"],
            report["decision"],
            report["steps"].as_array().map_or(0, Vec::len),
            why.chars().take(200).collect::<String>()
        );
        if failed_steps > 0 || report["decision"] == "failed" {
            assert_eq!(report["statusCode"], 500, "a run with failures says so");
            assert!(app.fails(&event, &typed), "Lambda retries the run");
        }
        // Not swallowed: whoever is not done yet is named by this run's report, in a
        // failed step or among the users it could not read (unless it could read no one).
        let read_nobody = why.starts_with("reading keys");
        let boxes = mailbox(&prefix);
        let mut pending = 0;
        for m in &members {
            let mails = boxes.get(&email_of(&m.user)).map_or(0, Vec::len);
            assert!(mails <= 1, "{} got {mails} emails", m.user);
            if settled(&iam, m, mails).await {
                continue;
            }
            pending += 1;
            let named = why.contains(&format!("{} (", m.user))
                || steps_about(&report, &m.user)
                    .iter()
                    .any(|s| s["outcome"] == "failed");
            assert!(
                read_nobody || named,
                "run {runs}: {} (kind {}) is not done and no failure names it: {:#?}; before: {:#?}",
                m.user,
                m.kind,
                steps_about(&report, &m.user),
                previous.get("steps").map(|_| steps_about(&previous, &m.user))
            );
        }
        if pending == 0 {
            break;
        }
        previous = report;
        assert!(
            runs < MAX_RUNS,
            "{pending} users still pending after {MAX_RUNS} runs"
        );
        tokio::time::sleep(std::time::Duration::from_secs(LEASE_SECONDS + 1)).await;
    }

    let per_kind = FLEET / common::fleet::KINDS.len();
    let faults = proxy.counts();
    eprintln!("converged in {runs} runs; proxy: {faults:?}");
    assert!(
        faults.faults() * 5 > faults.forwarded,
        "the proxy did inject its share: {faults:?}"
    );
    assert!(faults.throttled > 0 && faults.server_errors > 0 && faults.dropped > 0);
    // Every action exactly once across all runs, and the final state of a clean scan.
    assert_eq!(applied["deactivate_key"], 3 * per_kind, "kinds 1, 3, 7");
    assert_eq!(applied["delete_key"], per_kind, "kind 2");
    assert_eq!(applied["send_email"], 7 * per_kind, "kinds 0-5 and 9");
    // Converged: a fault-free run finds nothing left to do.
    proxy.set_share(0.0);
    tokio::time::sleep(std::time::Duration::from_secs(LEASE_SECONDS + 1)).await;
    let last = serde_json::to_value(app.handle(&schedule()).await).unwrap();
    assert_eq!(last["statusCode"], 200, "{}", last["why"]);
    assert_eq!(count_outcome(&last, "applied"), 0, "{last:#}");
    let boxes = mailbox(&prefix);
    for m in &members {
        let mails = boxes.get(&email_of(&m.user)).map_or(0, Vec::len);
        assert!(
            settled(&iam, m, mails).await,
            "{} (kind {})",
            m.user,
            m.kind
        );
    }
}

fn count_outcome(report: &Value, outcome: &str) -> usize {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["outcome"] == outcome)
        .count()
}
