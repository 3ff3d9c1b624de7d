//! Age scan: age-rotation's (credential report, then only the users it points at) beside
//! the naive per-user scan (every user's keys and tags, the seed's way made correct with
//! pagination), for 100, 1,000 and 5,000 users of whom a tenth have a key past
//! `WARN_DAYS`: wall time and AWS API calls, facts only (no actions), so both read the
//! same thing.

use crate::table::{row, Better};
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

pub async fn rows(sdk: &keyguard_aws::SdkConfig) {
    let m = moto::shared();
    let iam = aws_sdk_iam::Client::new(sdk);
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
    for n in SIZES {
        m.reset();
        fleet(&iam, n).await;
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
