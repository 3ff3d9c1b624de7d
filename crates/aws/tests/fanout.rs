//! age-rotation's fan-in against moto's DynamoDB and SQS: each account counted once,
//! and the one item that grows with the organisation kept small enough for the largest.
//! moto cannot show the 400 KB limit itself at that size (its update time grows with the
//! item), so the test measures the record as DynamoDB sizes items and extrapolates.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt;
use keyguard_aws::fanout::FanOut;
use keyguard_aws::DynamoLedger;
use keyguard_core::{AccountId, ErrorKind};
use keyguard_testkit::{moto, unique};

const ACCOUNTS: usize = 300;
/// The organisation the fan-in is documented to hold (docs/age-rotation.md).
const DOCUMENTED_ACCOUNTS: usize = 15_000;
/// DynamoDB's item size limit.
const ITEM_LIMIT: usize = 400 * 1024;

/// An item's size as DynamoDB counts it: each attribute's name and value (a string or a
/// set of strings by their UTF-8 length, a number by about one byte per two digits).
fn item_size(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(s) => s.len(),
                    AttributeValue::N(n) => n.len() / 2 + 1,
                    AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
                    AttributeValue::M(m) => item_size(m) + 3,
                    other => panic!("not expected in the fan-in: {other:?}"),
                }
        })
        .sum()
}

async fn record(sdk: &keyguard_aws::SdkConfig, table: &str, scan: &str) -> usize {
    let out = aws_sdk_dynamodb::Client::new(sdk)
        .get_item()
        .table_name(table)
        .key(
            "idempotency_key",
            AttributeValue::S(format!("fanout:{scan}")),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    item_size(out.item().unwrap())
}

fn account(i: usize) -> AccountId {
    AccountId::parse(&format!("{:012}", 200_000_000_000 + i)).unwrap()
}

/// A line as long as a member that could not be scanned gives.
fn line(i: usize) -> String {
    format!(
        "not scanned, the member role cannot be assumed: AccessDenied for account number {i:06}"
    )
}

async fn line_item(
    sdk: &keyguard_aws::SdkConfig,
    table: &str,
    scan: &str,
    account: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    aws_sdk_dynamodb::Client::new(sdk)
        .get_item()
        .table_name(table)
        .key(
            "idempotency_key",
            AttributeValue::S(format!("fanout:{scan}#{account}")),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fan_in_counts_each_account_once_and_its_record_holds_fifteen_thousand() {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let table = unique("fanin");
    let ledger = DynamoLedger::new(&sdk, &table, 90, 900);
    ledger.create_table().await.unwrap();
    let queue =
        keyguard_testkit::sqs::queue(&aws_sdk_sqs::Client::new(&sdk), &unique("accounts")).await;
    let fanout = FanOut::new(&sdk, &queue, &ledger);
    let scan = unique("sched");
    let accounts: Vec<AccountId> = (0..ACCOUNTS).map(account).collect();
    fanout.dispatch(&scan, &accounts).await.unwrap();
    // A redelivered schedule keeps what the first wrote.
    fanout.dispatch(&scan, &accounts).await.unwrap();

    // Every account but the last, eight at a time, as the queue's workers would.
    let early: Vec<_> = futures::stream::iter(0..ACCOUNTS - 1)
        .map(|i| {
            let (fanout, scan, a) = (&fanout, &scan, account(i));
            async move { fanout.finish(scan, &a, &line(i)).await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for done in early {
        assert_eq!(done.unwrap(), None, "not finished while one is out");
    }
    // A redelivered message counts nothing more.
    assert_eq!(
        fanout.finish(&scan, &account(0), &line(0)).await.unwrap(),
        None
    );
    // An account the scan did not send counts for nothing.
    let stranger = AccountId::parse("999999999999").unwrap();
    let refused = fanout.finish(&scan, &stranger, "x").await.unwrap_err();
    assert_eq!(refused.kind, ErrorKind::NotFound, "{refused}");
    assert!(
        line_item(&sdk, &table, &scan, stranger.as_str())
            .await
            .is_none(),
        "and writes nothing"
    );

    let last = ACCOUNTS - 1;
    let lines = fanout
        .finish(&scan, &account(last), &line(last))
        .await
        .unwrap()
        .expect("the last account in finishes the scan");
    assert_eq!(lines.len(), ACCOUNTS);
    // The record grows by each account's id twice (sent, in), never by its line: at the
    // documented size it stays under DynamoDB's limit with room for the longest lines.
    let full = record(&sdk, &table, &scan).await;
    let per_account = full.div_ceil(ACCOUNTS);
    assert!(per_account <= 2 * 12 + 2, "{per_account} bytes an account");
    assert!(
        per_account * DOCUMENTED_ACCOUNTS < ITEM_LIMIT,
        "{per_account} bytes an account"
    );
    assert_eq!(lines[account(7).as_str()], line(7));
    assert!(!lines.contains_key(stranger.as_str()));
    // The last message redelivered (its summary failed): the lines again, for the retry.
    let again = fanout
        .finish(&scan, &account(last), &line(last))
        .await
        .unwrap();
    assert_eq!(again.map(|l| l.len()), Some(ACCOUNTS));
}

/// A scan one of whose accounts never finished (its every delivery timed out, so its
/// message reached the dead letters with no line): the next scan, a day later, gets its
/// lines, the missing account marked, to send the summary it never sent.
#[tokio::test]
async fn the_next_scan_reads_a_scan_that_never_finished() {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let table = unique("fanin-late");
    let ledger = DynamoLedger::new(&sdk, &table, 90, 900);
    ledger.create_table().await.unwrap();
    let queue =
        keyguard_testkit::sqs::queue(&aws_sdk_sqs::Client::new(&sdk), &unique("accounts")).await;
    let fanout = FanOut::new(&sdk, &queue, &ledger);
    let (first, second) = (unique("sched"), unique("sched"));
    let accounts: Vec<AccountId> = (0..3).map(account).collect();
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        fanout.late(&first, now).await.unwrap(),
        None,
        "no scan before"
    );
    fanout.dispatch(&first, &accounts).await.unwrap();
    fanout.mark_latest(&first, now).await.unwrap();
    for i in 0..2 {
        assert_eq!(
            fanout.finish(&first, &account(i), &line(i)).await.unwrap(),
            None
        );
    }
    // Too soon: the first scan may still be running.
    assert_eq!(fanout.late(&second, now + 6 * 3600).await.unwrap(), None);
    let (scan, lines) = fanout
        .late(&second, now + 21 * 3600)
        .await
        .unwrap()
        .expect("the unfinished scan, hours later");
    assert_eq!(scan, first);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[account(1).as_str()], line(1));
    assert_eq!(lines[account(2).as_str()], keyguard_aws::fanout::NO_RESULT);
    // The scan itself, redelivered, looks back on nothing; nor does the next once named.
    assert_eq!(fanout.late(&first, now + 21 * 3600).await.unwrap(), None);
    // An old event replayed never takes the name back from a newer scan.
    fanout.mark_latest(&second, now + 24 * 3600).await.unwrap();
    fanout.mark_latest(&first, now).await.unwrap();
    assert_eq!(fanout.late(&second, now + 48 * 3600).await.unwrap(), None);
    // Past its expiry (three days), a scan is not looked back on, although DynamoDB's
    // TTL may not have deleted it yet.
    let third = unique("sched");
    fanout.dispatch(&third, &accounts).await.unwrap();
    fanout.mark_latest(&third, now + 25 * 3600).await.unwrap();
    let next = unique("sched");
    assert!(fanout
        .late(&next, now + 2 * 24 * 3600)
        .await
        .unwrap()
        .is_some());
    assert_eq!(fanout.late(&next, now + 4 * 24 * 3600).await.unwrap(), None);
}
