//! Age scan: age-rotation's (credential report, then only the users it points at) beside
//! the naive per-user scan (every user's keys and tags, the seed's way made correct with
//! pagination), for 100, 1,000 and 5,000 users of whom a tenth have a key past
//! `WARN_DAYS`: wall time and AWS API calls, facts only (no actions), so both read the
//! same thing.
//!
//! Apply: the steps of a day on which 1,100 people's keys are past `DEACTIVATE_DAYS`
//! (each an email, then the key made Inactive: 2,200 steps), applied one after another
//! (`APPLY_CONCURRENCY=1`, the default) beside 8 people at a time, each on a fresh fleet.

use crate::table::{row, Better};
use futures::stream::{self, StreamExt};
use keyguard_core::config::FromEnv;
use keyguard_core::policy::containment::SelfIdentity;
use keyguard_testkit::moto;
use std::collections::BTreeMap;
use std::time::Instant;

const SIZES: [usize; 3] = [100, 1_000, 5_000];
const OLD_SHARE: usize = 10; // one user in ten has a key past WARN_DAYS

/// `n` employees with one key each; every `every`th key made `days` days ago.
pub async fn fleet(iam: &aws_sdk_iam::Client, n: usize, every: usize, days: i64) {
    let now = chrono::Utc::now();
    stream::iter(0..n)
        .map(|i| async move {
            let user = format!("bench-{i:05}");
            iam.create_user()
                .user_name(&user)
                .tags(
                    aws_sdk_iam::types::Tag::builder()
                        .key("UserType")
                        .value("employee")
                        .build()
                        .unwrap(),
                )
                .tags(
                    aws_sdk_iam::types::Tag::builder()
                        .key("Email")
                        .value(format!("{user}@example.com"))
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
            let (key, _) = keyguard_testkit::iam::key(iam, &user).await;
            if i % every == 0 {
                let created = now - chrono::Duration::days(days);
                moto::shared().backdate_key(&user, &key, &created.to_rfc3339());
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

/// age-rotation's settings as the bench runs it: its sender, a report waited for up to
/// 30 s, and these variables; no identity.
pub fn settings(vars: &[(&str, &str)]) -> age_rotation::Settings {
    let env: BTreeMap<String, String> = [
        ("SENDER_EMAIL", "keyguard@example.com"),
        ("REPORT_WAIT_SECONDS", "30"),
    ]
    .iter()
    .chain(vars)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    age_rotation::Settings::from_env(&move |k: &str| env.get(k).cloned(), SelfIdentity::default())
        .unwrap()
}

pub async fn rows(sdk: &keyguard_aws::SdkConfig) {
    let m = moto::shared();
    let iam = aws_sdk_iam::Client::new(sdk);
    let settings = settings(&[("DRY_RUN", "true")]);
    for n in SIZES {
        m.reset();
        fleet(&iam, n, OLD_SHARE, 85).await;
        let app = age_rotation::App::new(sdk, settings.clone());
        app.ledger.create_table().await.unwrap();

        m.reset_requests();
        let started = Instant::now();
        let (scan, _source) = app
            .scan_facts(&app.effects.iam, chrono::Utc::now())
            .await
            .unwrap();
        assert!(scan.unread.is_empty(), "{:?}", scan.unread);
        let plan = keyguard_core::policy::age::decide_scan(
            "bench",
            &app.settings.age,
            &scan.people,
            chrono::Utc::now(),
        );
        let ours = started.elapsed().as_secs_f64();
        let our_calls = m.requests() as f64;
        assert!(plan
            .steps
            .iter()
            .any(|s| s.action.name() == "deactivate_key"));

        m.reset_requests();
        let naive = crate::tool::run("bench_naive.py", &[m.endpoint.as_str(), "70"]);
        let theirs = naive["seconds"].as_f64().unwrap();
        let their_calls = m.requests() as f64;
        assert_eq!(
            naive["old_keys"].as_u64().unwrap() as usize,
            n.div_ceil(OLD_SHARE)
        );
        let size = n.to_string();
        row(
            "age scan: wall time (s)",
            &size,
            ours,
            theirs,
            2,
            Better::Lower,
        );
        row(
            "age scan: AWS API calls",
            &size,
            our_calls,
            their_calls,
            0,
            Better::Lower,
        );
    }
}

const APPLY_PEOPLE: usize = 1_100;

/// The sender age-rotation's emails come from, verified in SES.
pub async fn verify_sender(sdk: &keyguard_aws::SdkConfig) {
    aws_sdk_sesv2::Client::new(sdk)
        .create_email_identity()
        .email_identity("keyguard@example.com")
        .send()
        .await
        .unwrap();
}

/// The daily schedule's event, a new one each call.
pub fn schedule() -> serde_json::Value {
    serde_json::json!({"version": "0", "id": keyguard_testkit::unique("schedule"),
        "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})
}

/// The apply of one plan (2,200 steps and the day's summary) at `concurrency`, on a
/// fresh fleet, its calls sent to `through` (moto, or the proxy that adds AWS's latency;
/// the plan is read from moto directly): (seconds, steps applied, steps planned).
async fn apply_once(
    sdk: &keyguard_aws::SdkConfig,
    through: &keyguard_aws::SdkConfig,
    concurrency: usize,
) -> (f64, usize, usize) {
    let m = moto::shared();
    m.reset();
    let iam = aws_sdk_iam::Client::new(sdk);
    verify_sender(sdk).await;
    fleet(&iam, APPLY_PEOPLE, 1, 95).await;
    let settings = settings(&[("APPLY_CONCURRENCY", &concurrency.to_string())]);
    let app = age_rotation::App::new(sdk, settings.clone());
    app.ledger.create_table().await.unwrap();
    let applier = age_rotation::App::new(through, settings);
    let now = chrono::Utc::now();
    let plan = app.plan_at(&schedule(), now).await.unwrap();
    let planned = plan.steps.len();
    assert!(
        planned >= 2 * APPLY_PEOPLE,
        "{planned} steps: {:?}",
        plan.decision
    );
    let started = Instant::now();
    let report = keyguard_core::pipeline::Executor::new(&applier.effects, &applier.ledger, false)
        .concurrently(concurrency)
        .apply(&applier.settings.age, plan, now)
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let applied = report
        .steps
        .iter()
        .filter(|s| s.outcome.name() == "applied")
        .count();
    (seconds, applied, planned)
}

pub async fn apply_rows(sdk: &keyguard_aws::SdkConfig) {
    // Each call costing what it costs on AWS (the proxy's model), where the calls of
    // people applied side by side overlap; and against moto alone, whose one Python
    // process serves a call at a time.
    let (proxy, _) = crate::lambda::aws_like(2);
    let modelled =
        keyguard_aws::load_config_at(&proxy.endpoint(), std::time::Duration::from_millis(100))
            .await;
    for (measure, through) in [
        (
            "age apply against moto (s): 8 people at a time vs one after another",
            sdk,
        ),
        (
            "age apply, AWS-like latency (s): 8 people at a time vs one after another (goal ≥ 5×)",
            &modelled,
        ),
    ] {
        let (sequential, before, steps) = apply_once(sdk, through, 1).await;
        let (concurrent, after, _) = apply_once(sdk, through, 8).await;
        assert_eq!(before, steps, "every step applied, one at a time");
        assert_eq!(after, steps, "every step applied, 8 at a time");
        row(
            measure,
            &format!("{steps} steps"),
            concurrent,
            sequential,
            1,
            Better::Lower,
        );
    }
}
