//! age-rotation's organisation scan through SQS, one message per account: the daily
//! schedule lists the accounts and sends the messages; the same function, triggered by
//! the queue, scans one account per message and answers Lambda with the messages to
//! deliver again (`batchItemFailures`), so one failing account is retried alone. When the
//! last account is in, one organisation summary goes out, a line per account.
//!
//! What a message says is checked as any event is: a body that does not parse, or that
//! names no valid account, is dropped with its reason in the report (retrying it changes
//! nothing); the account itself is checked against the organisation by the adapter.

use super::{AccountScan, FUNCTION};
use crate::notice::{Notice, Severity};
use crate::plan::{Action, Decision, Plan, Step};
use crate::report::{BatchItemFailure, Outcome, Report};
use crate::scope::AccountId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// At most this many accounts are named in the organisation summary.
const MAX_LINES: usize = 200;
/// An account's line when its scan found nothing to do.
const QUIET: &str = "0 emails, 0 keys deactivated, 0 keys deleted";

/// The longest message body read: a message is about a hundred bytes.
const MAX_BODY: usize = 4096;

/// What the schedule sends for each account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// The schedule event's reference: the day's scan, shared by every account's steps.
    pub scan: String,
    pub account: AccountId,
}

/// Whether an SQS record came from the queue at `queue_url` (`https://HOST/ACCOUNT/NAME`):
/// its `eventSourceARN` ends with `:ACCOUNT:NAME`. A batch from elsewhere, or handed to
/// the function directly, is not the fan-out's.
pub fn from_queue(event_source_arn: &str, queue_url: &str) -> bool {
    let mut parts = queue_url.trim_end_matches('/').rsplit('/');
    let (Some(name), Some(account)) = (parts.next(), parts.next()) else {
        return false;
    };
    !name.is_empty() && event_source_arn.ends_with(&format!(":{account}:{name}"))
}

/// One message of an SQS batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub message_id: String,
    /// The queue's ARN, as Lambda names it (`eventSourceARN`).
    pub source: String,
    /// `ApproximateReceiveCount`: 1 on the first delivery.
    pub receives: u32,
    pub message: Result<Message, String>,
}

/// The messages of an SQS batch (Lambda's SQS event: `Records`, each from `aws:sqs`);
/// `None` when `raw` is no such batch.
pub fn batch(raw: &Value) -> Option<Vec<Item>> {
    let records = raw.get("Records")?.as_array()?;
    let from_sqs = |r: &Value| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs");
    if records.is_empty() || !records.iter().all(from_sqs) {
        return None;
    }
    Some(
        records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let text = |k: &str| r.get(k).and_then(Value::as_str);
                let message_id = text("messageId")
                    .map(|m| crate::events::bounded_text(m, 128))
                    .unwrap_or_else(|| format!("record-{i}"));
                let source = text("eventSourceARN").unwrap_or_default().to_owned();
                let receives = r
                    .pointer("/attributes/ApproximateReceiveCount")
                    .and_then(Value::as_str)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                let message = match text("body") {
                    None => Err("the message has no body".to_owned()),
                    Some(b) if b.len() > MAX_BODY => Err(format!(
                        "the message body is {} bytes, more than {MAX_BODY}",
                        b.len()
                    )),
                    Some(b) => serde_json::from_str::<Message>(b)
                        .map_err(|e| format!("the message body is not a scan message: {e}")),
                };
                Item {
                    message_id,
                    source,
                    receives,
                    message,
                }
            })
            .collect(),
    )
}

/// How an account's scan went, in one line of the organisation summary.
pub fn line(scan: &AccountScan) -> String {
    match scan {
        AccountScan::Unassumable(why) => {
            format!("not scanned, the member role cannot be assumed: {why}")
        }
        AccountScan::Failed(why) | AccountScan::Outside(why) => format!("not scanned: {why}"),
        AccountScan::Scanned(report) => {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            let mut unfinished = 0;
            for s in &report.steps {
                match s.outcome {
                    Outcome::Applied { .. } | Outcome::Duplicate | Outcome::Planned => {
                        *counts.entry(s.step.action.name()).or_default() += 1;
                    }
                    Outcome::Failed { .. } | Outcome::InProgress { .. } => unfinished += 1,
                    _ => {}
                }
            }
            let mut parts: Vec<String> = [
                ("send_email", "emails"),
                ("deactivate_key", "keys deactivated"),
                ("delete_key", "keys deleted"),
            ]
            .iter()
            .map(|(action, words)| format!("{} {words}", counts.get(action).copied().unwrap_or(0)))
            .collect();
            if unfinished > 0 {
                parts.push(format!("{unfinished} steps not done"));
            }
            if let Decision::Failed { why } = &report.decision {
                parts.push(format!("not finished: {why}"));
            }
            parts.join(", ")
        }
    }
}

/// The organisation's summary for the day's scan, once every account is in: one notice,
/// a fact per account, its idempotency key the scan's, so a second finisher (a retried
/// message, a redelivered batch) finds it sent.
pub fn org_summary(scan: &str, lines: &BTreeMap<String, String>) -> Plan {
    let mut notice = Notice::new(
        Severity::Info,
        format!(
            "age-rotation: the organisation's daily scan ({} accounts)",
            lines.len()
        ),
    );
    // A notice is one SNS message (256 KB at most): past a few dozen accounts, those
    // where nothing happened are counted, not listed, and at most MAX_LINES are named.
    let listed: Vec<(&String, &String)> = if lines.len() > MAX_LINES / 4 {
        lines.iter().filter(|(_, l)| l.as_str() != QUIET).collect()
    } else {
        lines.iter().collect()
    };
    for (account, line) in listed.iter().take(MAX_LINES) {
        notice = notice.fact(&format!("account {account}"), line.as_str());
    }
    let quiet = lines.len() - listed.len();
    if quiet > 0 {
        notice = notice.fact("accounts with nothing to do", quiet.to_string());
    }
    if listed.len() > MAX_LINES {
        notice = notice.fact(
            "accounts not listed",
            format!(
                "{} more with something to say: see each account's own summary",
                listed.len() - MAX_LINES
            ),
        );
    }
    let mut plan = Plan::for_event(FUNCTION, Decision::Act, scan.to_owned());
    plan.steps.push(Step {
        replaces: None,
        action: Action::Notify { notice },
        reason: format!("every account of scan {scan} is in: the organisation's summary"),
        idempotency_key: format!("{FUNCTION}:notify:org-summary:{scan}"),
        window: None,
        after: None,
        scope: None,
    });
    plan
}

/// The batch's report: every account's steps and the messages to deliver again.
pub fn batch_report(
    dry_run: bool,
    scans: Vec<(String, AccountScan)>,
    again: Vec<String>,
    dropped: Vec<String>,
) -> Report {
    let mut report = super::combine("sqs-batch", dry_run, scans);
    if !dropped.is_empty() {
        let why = format!("messages dropped: {}", dropped.join("; "));
        report.decision = match report.decision {
            Decision::Failed { why: first } => Decision::Failed {
                why: format!("{first}; {why}"),
            },
            other if other == Decision::Act => other,
            _ => Decision::NothingToDo { why },
        };
    }
    report.batch_item_failures = Some(
        again
            .into_iter()
            .map(|item_identifier| BatchItemFailure { item_identifier })
            .collect(),
    );
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(id: &str, body: &str, receives: &str) -> Value {
        json!({"messageId": id, "receiptHandle": "h", "body": body, "eventSource": "aws:sqs",
               "eventSourceARN": "arn:aws:sqs:us-east-1:111111111111:keyguard-age-rotation-accounts",
               "attributes": {"ApproximateReceiveCount": receives}})
    }

    #[test]
    fn a_batch_is_read_message_by_message_and_a_bad_one_named() {
        let good = json!({"scan": "sched-1", "account": "222222222222"}).to_string();
        let raw = json!({"Records": [
            record("m1", &good, "2"),
            record("m2", "{\"scan\": \"s\", \"account\": \"22\"}", "1"),
            record("m3", "not json", "1"),
            record("m4", &"x".repeat(5000), "1"),
        ]});
        let items = batch(&raw).unwrap();
        assert_eq!(items[0].message_id, "m1");
        assert_eq!(items[0].receives, 2);
        assert_eq!(
            items[0].message.as_ref().unwrap().account.as_str(),
            "222222222222"
        );
        assert!(items[1].message.as_ref().unwrap_err().contains("12 digits"));
        assert!(items[2].message.is_err());
        assert!(items[3]
            .message
            .as_ref()
            .unwrap_err()
            .contains("5000 bytes"));
        // Not a batch: a schedule, an empty list, a record from elsewhere.
        assert!(batch(&json!({"detail-type": "Scheduled Event"})).is_none());
        assert!(batch(&json!({"Records": []})).is_none());
        assert!(batch(&json!({"Records": [{"eventSource": "aws:s3"}]})).is_none());
    }

    #[test]
    fn only_the_account_queue_is_the_fan_outs() {
        let url = "https://sqs.us-east-1.amazonaws.com/111111111111/keyguard-age-rotation-accounts";
        let arn = "arn:aws:sqs:us-east-1:111111111111:keyguard-age-rotation-accounts";
        assert!(from_queue(arn, url));
        assert!(from_queue(arn, &format!("{url}/")));
        assert!(!from_queue(
            "arn:aws:sqs:us-east-1:222222222222:keyguard-age-rotation-accounts",
            url
        ));
        assert!(!from_queue("arn:aws:sqs:us-east-1:111111111111:other", url));
        assert!(!from_queue("", url));
        assert!(!from_queue(arn, "nonsense"));
    }

    #[test]
    fn an_account_whose_steps_did_not_all_go_through_is_retried_and_says_so() {
        let failed = crate::report::Report::invalid(FUNCTION, false, "x")
            .failed_also("3 users could not be read".into());
        let scan = AccountScan::Scanned(failed);
        assert!(scan.wants_retry());
        assert!(
            line(&scan).contains("not finished: 3 users could not be read"),
            "{}",
            line(&scan)
        );
        assert!(!AccountScan::Outside("gone".into()).wants_retry());
        assert!(AccountScan::Failed("throttled".into()).wants_retry());
    }

    #[test]
    fn the_summary_has_a_line_per_account_and_one_key_per_scan() {
        let lines = BTreeMap::from([
            (
                "222222222222".to_owned(),
                "1 emails, 0 keys deactivated, 0 keys deleted".to_owned(),
            ),
            (
                "333333333333".to_owned(),
                "not scanned: throttled".to_owned(),
            ),
        ]);
        let plan = org_summary("sched-1", &lines);
        let [step] = &plan.steps[..] else {
            panic!("{plan:#?}")
        };
        assert_eq!(
            step.idempotency_key,
            "age-rotation:notify:org-summary:sched-1"
        );
        let Action::Notify { notice } = &step.action else {
            panic!()
        };
        assert_eq!(
            notice.facts["account 333333333333"],
            "not scanned: throttled"
        );
        assert_eq!(notice.facts.len(), 2);
    }

    #[test]
    fn a_large_organisation_is_summarised_within_one_message() {
        let mut lines: BTreeMap<String, String> = (0..1000)
            .map(|i| (format!("{:012}", 200_000_000_000_u64 + i), QUIET.to_owned()))
            .collect();
        for i in 0..300 {
            lines.insert(
                format!("{:012}", 300_000_000_000_u64 + i),
                "1 emails, 1 keys deactivated, 0 keys deleted".into(),
            );
        }
        let plan = org_summary("sched-2", &lines);
        let Action::Notify { notice } = &plan.steps[0].action else {
            panic!()
        };
        let named = notice
            .facts
            .keys()
            .filter(|k| k.starts_with("account "))
            .count();
        assert_eq!(named, MAX_LINES);
        assert_eq!(notice.facts["accounts with nothing to do"], "1000");
        assert!(notice.facts["accounts not listed"].starts_with("100 more"));
        assert!(serde_json::to_string(notice).unwrap().len() < 64 * 1024);
        // A small organisation is listed whole, quiet accounts included.
        let small: BTreeMap<String, String> = lines.into_iter().take(3).collect();
        let Action::Notify { notice } = &org_summary("s", &small).steps[0].action else {
            panic!()
        };
        assert_eq!(notice.facts.len(), 3);
    }

    #[test]
    fn the_batch_report_names_the_messages_to_deliver_again() {
        let report = batch_report(
            false,
            vec![(
                "222222222222".into(),
                AccountScan::Failed("throttled".into()),
            )],
            vec!["m1".into()],
            vec![],
        );
        let v = serde_json::to_value(&report).unwrap();
        assert_eq!(v["batchItemFailures"], json!([{"itemIdentifier": "m1"}]));
        assert_eq!(report.status_code, 500);
    }
}
