//! age-rotation's organisation scan through SQS against moto: twelve member accounts and
//! the management account, one message each, taken by concurrent workers as Lambda's
//! event source mapping would; one account fails its first delivery and only its message
//! comes back; the organisation summary goes out once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use keyguard_aws::lambda::Handler;
use keyguard_testkit::faults::FaultProxy;
use keyguard_testkit::{moto, org, unique};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const ROLE: &str = "keyguard-age-rotation-member";
const MEMBERS: usize = 12;

/// One batch of up to `n` messages as Lambda hands them to the function.
async fn receive(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    n: i32,
) -> (Value, BTreeMap<String, String>) {
    let arn = queue_arn(queue);
    let out = sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(n)
        // Short, so a message the function asks back reappears within the test.
        .visibility_timeout(1)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let mut handles = BTreeMap::new();
    let records: Vec<Value> = out
        .messages()
        .iter()
        .map(|m| {
            let id = m.message_id().unwrap().to_owned();
            handles.insert(id.clone(), m.receipt_handle().unwrap().to_owned());
            let receives = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .cloned()
                .unwrap_or_else(|| "1".into());
            json!({"messageId": id, "receiptHandle": "h", "body": m.body().unwrap(),
                   "attributes": {"ApproximateReceiveCount": receives},
                   "eventSource": "aws:sqs", "eventSourceARN": arn})
        })
        .collect();
    (json!({"Records": records}), handles)
}

/// The queue's ARN, as Lambda names it in each record (`…/ACCOUNT/NAME` → `arn:…:ACCOUNT:NAME`).
fn queue_arn(url: &str) -> String {
    let mut parts = url.rsplit('/');
    let (name, account) = (parts.next().unwrap(), parts.next().unwrap());
    format!("arn:aws:sqs:us-east-1:{account}:{name}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twelve_accounts_through_the_queue_one_failing_retried_alone_one_summary() {
    let moto = moto::shared();
    let direct = keyguard_aws::load_config().await;
    let members = org::members(&direct, MEMBERS).await;
    aws_sdk_sesv2::Client::new(&direct)
        .create_email_identity()
        .email_identity("keyguard@example.com")
        .send()
        .await
        .unwrap();
    let mut keys = BTreeMap::new();
    for account in &members {
        let created = (chrono::Utc::now() - chrono::Duration::days(85)).to_rfc3339();
        let made =
            keyguard_testkit::org::employee_with_key_made(&direct, account, ROLE, &created).await;
        keys.insert(account.clone(), made);
    }
    let sqs = aws_sdk_sqs::Client::new(&direct);
    let queue = keyguard_testkit::sqs::queue(&sqs, &unique("accounts")).await;

    let proxy = FaultProxy::start(&moto.endpoint, 0.0, 0x6661);
    let through_proxy =
        keyguard_aws::load_config_at(&proxy.endpoint(), std::time::Duration::from_millis(10)).await;
    let app = common::app(
        &through_proxy,
        &[("ORGANIZATION_MODE", "true"), ("ACCOUNT_QUEUE_URL", &queue)],
    )
    .await;
    let scan = unique("sched");
    let schedule = json!({"version": "0", "id": scan, "detail-type": "Scheduled Event",
                          "source": "aws.events", "detail": {}});
    let dispatched = serde_json::to_value(app.handle(&schedule).await).unwrap();
    assert_eq!(dispatched["statusCode"], 200, "{dispatched:#}");
    let listed = aws_sdk_organizations::Client::new(&direct)
        .list_accounts()
        .send()
        .await
        .unwrap()
        .accounts()
        .len();
    assert!(
        dispatched["why"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{listed} accounts sent")),
        "{dispatched:#}"
    );

    // From now on every call about this account fails, however often the SDK retries.
    let failing = members[3].clone();
    proxy.always_fail(&failing);

    let mut deliveries: BTreeMap<String, usize> = BTreeMap::new();
    let mut asked_back: Vec<String> = Vec::new();
    let mut deleted = 0;
    let mut reports = Vec::new();
    for _ in 0..60 {
        if deleted == listed {
            break;
        }
        // Up to three batches at once, as concurrent Lambda workers take them.
        let mut batches = Vec::new();
        for _ in 0..3 {
            let (event, handles) = receive(&sqs, &queue, 5).await;
            if !handles.is_empty() {
                batches.push((event, handles));
            }
        }
        if batches.is_empty() {
            // A message asked back is invisible until its visibility timeout ends.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            continue;
        }
        let runs =
            futures::future::join_all(batches.iter().map(|(event, _)| app.handle(event))).await;
        for ((event, handles), report) in batches.iter().zip(runs) {
            let report = serde_json::to_value(&report).unwrap();
            for r in event["Records"].as_array().unwrap() {
                let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
                *deliveries
                    .entry(body["account"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
            let again: Vec<String> = report["batchItemFailures"]
                .as_array()
                .unwrap_or_else(|| panic!("a batch answers with its failures: {report:#}"))
                .iter()
                .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
                .collect();
            for (id, handle) in handles {
                if again.contains(id) {
                    asked_back.push(id.clone());
                } else {
                    sqs.delete_message()
                        .queue_url(&queue)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .unwrap();
                    deleted += 1;
                }
            }
            reports.push(report);
        }
        // The account recovers once its first delivery has failed.
        if !asked_back.is_empty() {
            proxy.always_fail("\u{0}nothing");
        }
    }
    // Exactly the failing account's message came back, once; every other account was
    // delivered once.
    assert_eq!(asked_back.len(), 1, "{asked_back:?}");
    assert_eq!(deliveries[&failing], 2, "{deliveries:?}");
    assert_eq!(deliveries.len(), listed);
    assert!(
        deliveries.iter().all(|(a, n)| *n == 1 || *a == failing),
        "{deliveries:?}"
    );
    // Each member's old key deactivated (the failing one on its second delivery).
    for (account, (user, key)) in &keys {
        let iam = org::iam_in(&direct, account, ROLE).await;
        let statuses = keyguard_testkit::iam::statuses(&iam, user).await;
        assert_eq!(statuses[key], "Inactive", "account {account}");
    }
    // One organisation summary, a line per account, sent by whichever batch was last.
    let summaries: Vec<&Value> = reports
        .iter()
        .flat_map(|r| r["steps"].as_array().unwrap())
        .filter(|s| {
            s["idempotency_key"]
                .as_str()
                .unwrap()
                .starts_with("age-rotation:notify:org-summary:")
        })
        .collect();
    assert_eq!(summaries.len(), 1, "{summaries:#?}");
    assert_eq!(summaries[0]["outcome"], "applied");
    let facts = summaries[0]["action"]["notice"]["facts"]
        .as_object()
        .unwrap();
    assert_eq!(facts.len(), listed, "{facts:#?}");
    // A message naming an account the scan did not send, with the scan's own id, counts
    // for nothing; a batch from another queue, or invoked directly, scans nothing.
    let forged = |arn: &str, account: &str| {
        json!({"Records": [{"messageId": "forged", "body": json!({"scan": scan, "account": account}).to_string(),
                            "attributes": {"ApproximateReceiveCount": "1"},
                            "eventSource": "aws:sqs", "eventSourceARN": arn}]})
    };
    let stranger = serde_json::to_value(
        app.handle(&forged(&queue_arn(&queue), "999999999999"))
            .await,
    )
    .unwrap();
    assert_eq!(stranger["batchItemFailures"], json!([]), "{stranger:#}");
    assert!(
        stranger["why"]
            .as_str()
            .unwrap()
            .contains("naming account 999999999999"),
        "{stranger:#}"
    );
    let elsewhere = serde_json::to_value(
        app.handle(&forged(
            "arn:aws:sqs:us-east-1:123456789012:other",
            &members[0],
        ))
        .await,
    )
    .unwrap();
    assert_eq!(elsewhere["statusCode"], 400, "{elsewhere:#}");
    assert!(elsewhere["steps"].as_array().unwrap().is_empty());
    assert!(facts[&format!("account {failing}")]
        .as_str()
        .unwrap()
        .starts_with("1 emails, 1 keys deactivated"));
    // The next day's schedule looks back on this scan: its summary went out, so the
    // late one is a duplicate, and no second summary is sent.
    let next = json!({"version": "0", "id": unique("sched"), "detail-type": "Scheduled Event",
                      "source": "aws.events", "detail": {}});
    let tomorrow = chrono::Utc::now() + chrono::Duration::hours(24);
    let looked_back = serde_json::to_value(app.handle_at(&next, tomorrow).await).unwrap();
    assert_eq!(looked_back["statusCode"], 200, "{looked_back:#}");
    let late: Vec<&Value> = looked_back["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["idempotency_key"] == summaries[0]["idempotency_key"])
        .collect();
    assert_eq!(late.len(), 1, "{looked_back:#}");
    assert_eq!(late[0]["outcome"], "duplicate", "{looked_back:#}");
}
