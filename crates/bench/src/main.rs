//! `make bench`: one markdown table, each row keyguard's figure beside a baseline's,
//! measured in the same run against the same moto.
//!
//! Today's rows: age-rotation's scan (credential report, then only the users it points
//! at) against the naive per-user scan (every user's keys and tags, the seed's way made
//! correct with pagination), for 100, 1,000 and 5,000 users of whom a tenth have a key
//! past `WARN_DAYS`: wall time and AWS API calls, facts only (no actions), so both read
//! the same thing.
//!
//! Replay: `keyguard replay` (release build, one thread) over a generated gzipped log of
//! 1,000,000 records, beside `zcat | jq` selecting `CreateAccessKey` from the same file:
//! records per second and peak memory, both measured by `tools/measure.py`.
//!
//! The other rows of issue 11 (containment, cold start, size) are not measured yet.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark that cannot set up must stop loudly

use futures::stream::{self, StreamExt};
use keyguard_core::policy::containment::SelfIdentity;
use keyguard_testkit::moto;
use std::collections::BTreeMap;
use std::time::Instant;

const SIZES: [usize; 3] = [100, 1_000, 5_000];
const OLD_SHARE: usize = 10; // one user in ten has a key past WARN_DAYS

async fn fleet(iam: &aws_sdk_iam::Client, n: usize) {
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
            if i % OLD_SHARE == 0 {
                let created = now - chrono::Duration::days(85);
                moto::shared().backdate_key(&user, &key, &created.to_rfc3339());
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

fn ratio(a: f64, b: f64) -> String {
    if a > 0.0 {
        format!("{:.1}×", b / a)
    } else {
        "-".into()
    }
}

/// (seconds, peak KiB, stdout lines) of a command, through `tools/measure.py`.
fn measure(cmd: &[&str]) -> (f64, f64, u64) {
    let out = std::process::Command::new(moto::python())
        .arg(keyguard_testkit::workspace_root().join("tools/measure.py"))
        .args(cmd)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("measure {cmd:?}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(v["exit"], 0, "{cmd:?} failed");
    (
        v["seconds"].as_f64().unwrap(),
        v["max_rss_kb"].as_f64().unwrap(),
        v["lines"].as_u64().unwrap(),
    )
}

const REPLAY_RECORDS: u32 = 1_000_000;

/// Every 100th record a `CreateAccessKey` (one in ten of them for another user).
fn replay_rows() {
    let dir = std::env::temp_dir().join(format!("keyguard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("cloudtrail.json.gz");
    keyguard_testkit::cloudtrail::write_gz_log(&log, REPLAY_RECORDS, |i| {
        if i % 100 != 0 {
            return keyguard_testkit::cloudtrail::routine(i);
        }
        let target = if i % 1000 == 0 { "admin" } else { "ci" };
        serde_json::json!({"eventName": "CreateAccessKey", "eventSource": "iam.amazonaws.com", "eventID": format!("k-{i}"),
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/ci", "userName": "ci", "accessKeyId": "AKIAIOSFODNN7EXAMPLE"},
            "requestParameters": {"userName": target},
            "responseElements": {"accessKey": {"accessKeyId": "AKIAI44QH8DHBEXAMPLE", "userName": target, "status": "Active"}}})
    });
    let path = log.to_str().unwrap();
    let keyguard = keyguard_testkit::workspace_root().join("target/release/keyguard");
    let (ours, our_kb, our_lines) = measure(&[keyguard.to_str().unwrap(), "replay", path]);
    let jq =
        format!("zcat {path} | jq -c '.Records[] | select(.eventName == \"CreateAccessKey\")'");
    let (theirs, their_kb, their_lines) = measure(&["bash", "-c", &jq]);
    // keyguard reports the backdoors (high) and the self-made keys (info): every one.
    assert_eq!(our_lines, their_lines, "both find every CreateAccessKey");
    let n = f64::from(REPLAY_RECORDS);
    let (our_rate, their_rate) = (n / ours, n / theirs);
    println!(
        "| replay: records per second | {REPLAY_RECORDS} | {our_rate:.0} | {their_rate:.0} | {} |",
        ratio(our_rate, their_rate)
    );
    println!(
        "| replay: peak memory (MiB) | {REPLAY_RECORDS} | {:.1} | {:.1} | {} |",
        our_kb / 1024.0,
        their_kb / 1024.0,
        ratio(our_kb, their_kb)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::main]
async fn main() {
    let m = moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let env: BTreeMap<String, String> = [
        ("SENDER_EMAIL", "keyguard@example.com"),
        ("REPORT_WAIT_SECONDS", "30"),
        ("DRY_RUN", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let settings = age_rotation::Settings::from_env(
        &move |k: &str| env.get(k).cloned(),
        SelfIdentity::default(),
    )
    .unwrap();
    println!("| measure | size | keyguard | baseline | baseline / keyguard |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for n in SIZES {
        m.reset();
        fleet(&iam, n).await;
        let app = age_rotation::App::new(&sdk, settings.clone());
        app.ledger.create_table().await.unwrap();

        m.reset_requests();
        let started = Instant::now();
        let scan = app
            .scan_facts(&app.effects.iam, chrono::Utc::now())
            .await
            .unwrap();
        assert!(scan.unread.is_empty(), "{:?}", scan.unread);
        let people = scan.people;
        let plan = keyguard_core::policy::age::decide_scan(
            "bench",
            &app.settings.age,
            &people,
            chrono::Utc::now(),
        );
        let ours = started.elapsed().as_secs_f64();
        let our_calls = m.requests() as f64;
        assert!(plan
            .steps
            .iter()
            .any(|s| s.action.name() == "deactivate_key"));

        m.reset_requests();
        let out = std::process::Command::new(moto::python())
            .arg(keyguard_testkit::workspace_root().join("tools/bench_naive.py"))
            .args([m.endpoint.as_str(), "70"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let naive: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let theirs = naive["seconds"].as_f64().unwrap();
        let their_calls = m.requests() as f64;
        assert_eq!(
            naive["old_keys"].as_u64().unwrap() as usize,
            n.div_ceil(OLD_SHARE)
        );

        println!(
            "| age scan: wall time (s) | {n} | {ours:.2} | {theirs:.2} | {} |",
            ratio(ours, theirs)
        );
        println!(
            "| age scan: AWS API calls | {n} | {our_calls:.0} | {their_calls:.0} | {} |",
            ratio(our_calls, their_calls)
        );
    }
    replay_rows();
    println!();
    println!(
        "Replay: keyguard = `keyguard replay` (release, one thread, gzip read inline); baseline = `zcat FILE | jq -c '.Records[] | select(.eventName == \"CreateAccessKey\")'` (jq reads the whole document)."
    );
    println!(
        "Age scan: against moto 5.2.5 on this machine; a tenth of the users have an 85-day key. keyguard: credential report + 2 calls per user with an old key; baseline: 2 calls per user + ListUsers pages."
    );
}
