//! Organisation age scan: age-rotation's SQS fan-out (one message per account, ten
//! workers taking one at a time as the event source mapping does, `BatchSize` 1) beside its in-process
//! mode (every account in one invocation, `ACCOUNT_CONCURRENCY` at a time), over 50 member
//! accounts of 100 users each, a tenth with an old key; dry run, so both read the same
//! and act on nothing. Both against the same moto, whose one process bounds what either
//! can gain from parallel workers here; on AWS each message is its own invocation.

use crate::table::{row, Better};
use futures::stream::{self, StreamExt};
use keyguard_aws::lambda::Handler;
use keyguard_core::config::FromEnv;
use keyguard_core::policy::containment::SelfIdentity;
use keyguard_testkit::{moto, org};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Instant;

const ACCOUNTS: usize = 50;
const USERS: usize = 100;
const WORKERS: usize = 10;
const ROLE: &str = "keyguard-age-rotation-member";
const QUEUE: &str = "bench-accounts";

async fn fleet(sdk: &keyguard_aws::SdkConfig, account: &str) {
    let iam = org::iam_in(sdk, account, ROLE).await;
    let now = chrono::Utc::now();
    stream::iter(0..USERS)
        .map(|i| {
            let iam = iam.clone();
            async move {
                let user = format!("bench-{i:03}");
                let tags = [("UserType", "employee"), ("Email", "owner@example.com")];
                let mut req = iam.create_user().user_name(&user);
                for (k, v) in tags {
                    req = req.tags(
                        aws_sdk_iam::types::Tag::builder()
                            .key(k)
                            .value(v)
                            .build()
                            .unwrap(),
                    );
                }
                req.send().await.unwrap();
                let (key, _) = keyguard_testkit::iam::key(&iam, &user).await;
                if i % 10 == 0 {
                    let created = now - chrono::Duration::days(85);
                    moto::shared().backdate_key_in(account, &user, &key, &created.to_rfc3339());
                }
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

fn app(sdk: &keyguard_aws::SdkConfig, queue: Option<&str>) -> age_rotation::App {
    let mut env: BTreeMap<String, String> = [
        ("SENDER_EMAIL", "keyguard@example.com"),
        ("REPORT_WAIT_SECONDS", "30"),
        ("DRY_RUN", "true"),
        ("ORGANIZATION_MODE", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if let Some(q) = queue {
        env.insert("ACCOUNT_QUEUE_URL".into(), q.to_owned());
    }
    let settings = age_rotation::Settings::from_env(
        &move |k: &str| env.get(k).cloned(),
        SelfIdentity::default(),
    )
    .unwrap();
    age_rotation::App::new(sdk, settings)
}

fn schedule() -> Value {
    json!({"version": "0", "id": keyguard_testkit::unique("sched"), "detail-type": "Scheduled Event",
           "source": "aws.events", "detail": {}})
}

/// One worker: one message at a time until the queue is empty; the messages it took.
async fn worker(app: &age_rotation::App, sqs: &aws_sdk_sqs::Client, queue: &str) -> usize {
    let mut taken = 0;
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(1)
            .send()
            .await
            .unwrap();
        let messages = out.messages();
        if messages.is_empty() {
            return taken;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                json!({"messageId": m.message_id().unwrap(), "body": m.body().unwrap(),
                       "attributes": {"ApproximateReceiveCount": "1"}, "eventSource": "aws:sqs",
                       "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{QUEUE}")})
            })
            .collect();
        let report = app.handle(&json!({ "Records": records })).await;
        assert_eq!(
            report.batch_item_failures.as_deref().map(<[_]>::len),
            Some(0)
        );
        for m in messages {
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        taken += messages.len();
    }
}

pub async fn rows(sdk: &keyguard_aws::SdkConfig) {
    let m = moto::shared();
    m.reset();
    let members = org::members(sdk, ACCOUNTS).await;
    stream::iter(members.iter())
        .map(|a| fleet(sdk, a))
        .buffer_unordered(2)
        .collect::<Vec<_>>()
        .await;

    let in_process = app(sdk, None);
    in_process.ledger.create_table().await.unwrap();
    m.reset_requests();
    let started = Instant::now();
    let report = in_process.handle(&schedule()).await;
    let theirs = started.elapsed().as_secs_f64();
    let their_calls = m.requests() as f64;
    assert!(report.status_code < 500, "{report:?}");

    let sqs = aws_sdk_sqs::Client::new(sdk);
    let queue = keyguard_testkit::sqs::queue(&sqs, QUEUE).await;
    let fan = app(sdk, Some(&queue));
    m.reset_requests();
    let started = Instant::now();
    let dispatched = fan.handle(&schedule()).await;
    assert!(dispatched.status_code < 500, "{dispatched:?}");
    let taken: usize = futures::future::join_all((0..WORKERS).map(|_| worker(&fan, &sqs, &queue)))
        .await
        .into_iter()
        .sum();
    let ours = started.elapsed().as_secs_f64();
    let our_calls = m.requests() as f64;
    assert_eq!(
        taken,
        ACCOUNTS + 1,
        "every member and the management account"
    );
    let size = format!("{ACCOUNTS}×{USERS} users, {taken} msgs");
    row(
        "org age scan, SQS fan-out vs one invocation: wall time (s)",
        &size,
        ours,
        theirs,
        2,
        Better::Lower,
    );
    row(
        "org age scan, SQS fan-out vs one invocation: AWS API calls",
        &size,
        our_calls,
        their_calls,
        0,
        Better::Lower,
    );
}
