//! age-rotation's organisation scan through SQS: the schedule's messages, one per
//! account (`SendMessageBatch`, at most ten a call as SQS allows), and the fan-in in the
//! ledger's table that says when the last account is in.
//!
//! The scan's record (`fanout:SCAN`) holds how many accounts the scan has
//! (`account_total`), which it sent (`accounts_out`), and which are in so far
//! (`accounts_in`, a string set: a retried or redelivered message adds its account once).
//! Each account's line for the organisation summary is an item of its own
//! (`fanout:SCAN#ACCOUNT`), written (only for an account the record says the scan sent)
//! before its account is counted in, and read back
//! a hundred at a time once the last is in. The lines are kept apart because a DynamoDB
//! item holds 400 KB and each write costs the size of the item it changes: a record that
//! also held every line refused a large organisation's last accounts, and the record is
//! now about 26 bytes an account. `fanout:latest` names the last scan dispatched, for the
//! next one to send its summary if it never did ([`FanOut::late`]). None of these items
//! carries the index attributes, so
//! `keyguard audit` does not list them, and they expire with the ledger's TTL.

use crate::error::effect_error;
use crate::ledger::{n, s};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use keyguard_core::policy::age::fanout::Message;
use keyguard_core::{AccountId, EffectError, ErrorKind};
use std::collections::{BTreeMap, HashMap};

/// SQS takes at most ten messages in one `SendMessageBatch`.
const BATCH: usize = 10;
/// How often the entries SQS refused in a batch are sent again before the schedule fails.
const SEND_ATTEMPTS: usize = 3;
/// How long the fan-in is kept: a day's scan, and its retries.
const KEEP_SECONDS: i64 = 3 * 24 * 3600;
/// `BatchGetItem` takes at most 100 keys.
const BATCH_GET: usize = 100;
/// How often the keys `BatchGetItem` left unprocessed are asked for again.
const GET_ATTEMPTS: u32 = 5;
/// The attribute of an account's item that holds its line.
const LINE: &str = "summary_line";
/// The item naming the last scan dispatched, for the next one to look back on.
const LATEST: &str = "fanout:latest";
/// How old a scan must be before the next one sends its summary in its place: most of a
/// day, the schedule's own period, so that a long scan (thousands of accounts, ten at a
/// time, each message delivered up to `MAX_RECEIVES` times) is never summarised while it
/// still runs, and the next daily scan always looks back.
const LATE_AFTER_SECONDS: i64 = 20 * 3600;
/// The line of an account whose message never finished.
pub const NO_RESULT: &str =
    "no result: its message was never processed to the end (see keyguard-age-rotation-accounts-failed)";

pub struct FanOut {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    /// Whose table the fan-in lives in.
    ledger: crate::DynamoLedger,
}

fn record_key(scan: &str) -> String {
    format!("fanout:{scan}")
}

/// An account id is twelve digits, so no scan's key can pass for another's.
fn line_key(scan: &str, account: &str) -> String {
    format!("fanout:{scan}#{account}")
}

fn not_sent(scan: &str, account: &AccountId, code: Option<&str>) -> EffectError {
    EffectError::new(
        ErrorKind::NotFound,
        code,
        format!("scan {scan} has no fan-out record naming account {account} (expired, or not sent by this scan's schedule)"),
    )
}

fn other(why: impl Into<String>) -> EffectError {
    EffectError::new(ErrorKind::Other, None, why.into())
}

impl FanOut {
    pub fn new(sdk: &aws_config::SdkConfig, queue_url: &str, ledger: &crate::DynamoLedger) -> Self {
        Self {
            sqs: aws_sdk_sqs::Client::new(sdk),
            queue_url: queue_url.to_owned(),
            ledger: ledger.clone(),
        }
    }

    /// Keeps the scan's accounts (unless a first delivery of the schedule did), then
    /// sends one message per account. A redelivered schedule sends them again: each
    /// account's steps are in the ledger, so a second scan of it finds them done.
    pub async fn dispatch(&self, scan: &str, accounts: &[AccountId]) -> Result<(), EffectError> {
        let now = chrono::Utc::now().timestamp();
        let total = i64::try_from(accounts.len()).unwrap_or(i64::MAX);
        let mut put = self
            .ledger
            .client()
            .put_item()
            .table_name(self.ledger.table())
            .item(crate::ledger::KEY, s(record_key(scan)))
            .item("kind", s("fanout"))
            .item("account_total", n(total))
            .item("dispatched_at", n(now))
            .item("expires_at", n(now + KEEP_SECONDS))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", crate::ledger::KEY);
        // The accounts sent: only they can count towards the scan (a string set cannot
        // be empty, and with no account nothing is sent).
        if !accounts.is_empty() {
            put = put.item(
                "accounts_out",
                AttributeValue::Ss(accounts.iter().map(ToString::to_string).collect()),
            );
        }
        let kept = put.send().await.map_err(|e| effect_error(&e));
        match kept {
            Ok(_) => {}
            Err(e) if crate::ledger::is_condition_failure(&e) => {}
            Err(e) => return Err(e),
        }
        for chunk in accounts.chunks(BATCH) {
            self.send_batch(scan, chunk).await?;
        }
        Ok(())
    }

    /// One `SendMessageBatch` of at most ten accounts. SQS may take some entries and
    /// refuse others (an answer of 200 with `Failed`): the refused ones alone are sent
    /// again, up to [`SEND_ATTEMPTS`] times; still refused, each is named, and the
    /// schedule's invocation fails, so that Lambda's retry sends them.
    async fn send_batch(&self, scan: &str, chunk: &[AccountId]) -> Result<(), EffectError> {
        let mut pending: Vec<usize> = (0..chunk.len()).collect();
        let mut refused = Vec::new();
        for _ in 0..SEND_ATTEMPTS {
            let mut entries = Vec::with_capacity(pending.len());
            for &i in &pending {
                let body = serde_json::to_string(&Message {
                    scan: scan.to_owned(),
                    account: chunk[i].clone(),
                })
                .map_err(|e| EffectError::new(ErrorKind::Other, None, e.to_string()))?;
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .message_body(body)
                    .build()
                    .map_err(|e| EffectError::new(ErrorKind::Other, None, e.to_string()))?;
                entries.push(entry);
            }
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| effect_error(&e))?;
            refused = out
                .failed()
                .iter()
                .filter_map(|f| {
                    let i: usize = f.id().strip_prefix('m')?.parse().ok()?;
                    let why = format!("{} {}", f.code(), f.message().unwrap_or_default());
                    (i < chunk.len()).then_some((i, why))
                })
                .collect();
            if refused.is_empty() {
                return Ok(());
            }
            pending = refused.iter().map(|(i, _)| *i).collect();
        }
        let named: Vec<String> = refused
            .iter()
            .map(|(i, why)| format!("account {}: {why}", chunk[*i]))
            .collect();
        Err(EffectError::new(
            ErrorKind::Other,
            None,
            format!("SQS did not take the messages of {}", named.join("; ")),
        ))
    }

    /// Records `account`'s line; every account's lines when this one was the last in.
    /// `Ok(None)` while some are still out. The line is written before the account is
    /// counted, so a count that is complete has every line behind it; a redelivered
    /// message counts nothing more, but answers with the lines again once all are in, so
    /// that a summary that did not go out is sent by the retry.
    pub async fn finish(
        &self,
        scan: &str,
        account: &AccountId,
        line: &str,
    ) -> Result<Option<BTreeMap<String, String>>, EffectError> {
        self.keep_line(scan, account, line).await?;
        let out = self
            .ledger
            .client()
            .update_item()
            .table_name(self.ledger.table())
            .key(crate::ledger::KEY, s(record_key(scan)))
            .update_expression("ADD #in :one")
            .condition_expression("attribute_exists(#k) AND contains(#out, :acct)")
            .expression_attribute_names("#k", crate::ledger::KEY)
            .expression_attribute_names("#out", "accounts_out")
            .expression_attribute_values(":acct", s(account.as_str()))
            .expression_attribute_names("#in", "accounts_in")
            .expression_attribute_values(":one", AttributeValue::Ss(vec![account.to_string()]))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| {
                let e = effect_error(&e);
                if crate::ledger::is_condition_failure(&e) {
                    not_sent(scan, account, e.code.as_deref())
                } else {
                    e
                }
            })?;
        let item = out.attributes().cloned().unwrap_or_default();
        let total = item
            .get("account_total")
            .and_then(|v| v.as_n().ok())
            .and_then(|t| t.parse::<usize>().ok())
            .unwrap_or(usize::MAX);
        let finished = item
            .get("accounts_in")
            .and_then(|v| v.as_ss().ok())
            .map_or(0, Vec::len);
        if finished < total {
            return Ok(None);
        }
        let accounts = item
            .get("accounts_out")
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default();
        self.lines(scan, &accounts).await.map(Some)
    }

    /// Writes `account`'s line, but only for an account the scan sent: a message naming
    /// another (or a scan that is not there) writes nothing and is `NotFound`. The record
    /// is read, not locked: the accounts it sent never change once it is written, and a
    /// transaction checking it would conflict with every other account's count.
    async fn keep_line(
        &self,
        scan: &str,
        account: &AccountId,
        line: &str,
    ) -> Result<(), EffectError> {
        if !self.was_sent(scan, account).await? {
            return Err(not_sent(scan, account, None));
        }
        self.ledger
            .client()
            .put_item()
            .table_name(self.ledger.table())
            .item(crate::ledger::KEY, s(line_key(scan, account.as_str())))
            .item("kind", s("fanout"))
            .item(LINE, s(line))
            .item(
                "expires_at",
                n(chrono::Utc::now().timestamp() + KEEP_SECONDS),
            )
            .send()
            .await
            .map_err(|e| effect_error(&e))
            .map(|_| ())
    }

    /// Whether the scan's record names `account` among those it sent.
    async fn was_sent(&self, scan: &str, account: &AccountId) -> Result<bool, EffectError> {
        Ok(self
            .read(&record_key(scan))
            .await?
            .get("accounts_out")
            .and_then(|v| v.as_ss().ok())
            .is_some_and(|sent| sent.iter().any(|a| a == account.as_str())))
    }

    /// The previous scan's summary lines, when it never sent its own: the scan the last
    /// dispatch named, if it is not `scan`, was dispatched more than
    /// [`LATE_AFTER_SECONDS`] before `now`, and is still kept (not past its expiry, which
    /// DynamoDB's TTL may take days to delete). An account with no line
    /// (its every delivery timed out, so its message went to the dead letters unrecorded)
    /// reads [`NO_RESULT`]. Whether the summary went out already is the ledger's to say:
    /// the summary's idempotency key is the scan's.
    pub async fn late(
        &self,
        scan: &str,
        now: i64,
    ) -> Result<Option<(String, BTreeMap<String, String>)>, EffectError> {
        let latest = self.read(LATEST).await?;
        let Some(previous) = latest.get("scan").and_then(|v| v.as_s().ok()) else {
            return Ok(None);
        };
        if previous == scan {
            return Ok(None);
        }
        let record = self.read(&record_key(previous)).await?;
        let dispatched = record
            .get("dispatched_at")
            .and_then(|v| v.as_n().ok())
            .and_then(|t| t.parse::<i64>().ok());
        let expired = record
            .get("expires_at")
            .and_then(|v| v.as_n().ok())
            .and_then(|t| t.parse::<i64>().ok())
            .is_some_and(|t| t <= now);
        // A record from before `dispatched_at` was kept is as old as its expiry allows.
        let young = dispatched.is_some_and(|t| now - t < LATE_AFTER_SECONDS);
        if record.is_empty() || expired || young {
            return Ok(None);
        }
        let accounts: Vec<String> = record
            .get("accounts_out")
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default();
        let mut lines = self.read_lines(previous, &accounts).await?;
        for account in accounts {
            lines.entry(account).or_insert_with(|| NO_RESULT.to_owned());
        }
        Ok(Some((previous.clone(), lines)))
    }

    /// Names `scan`, dispatched at `now`, the last dispatched, for the next scan's
    /// [`Self::late`]; never a scan older than the one named (an old event replayed).
    pub async fn mark_latest(&self, scan: &str, now: i64) -> Result<(), EffectError> {
        let put = self
            .ledger
            .client()
            .put_item()
            .table_name(self.ledger.table())
            .item(crate::ledger::KEY, s(LATEST))
            .item("kind", s("fanout"))
            .item("scan", s(scan))
            .item("dispatched_at", n(now))
            .item("expires_at", n(now + KEEP_SECONDS))
            .condition_expression("attribute_not_exists(#k) OR #at <= :now")
            .expression_attribute_names("#k", crate::ledger::KEY)
            .expression_attribute_names("#at", "dispatched_at")
            .expression_attribute_values(":now", n(now))
            .send()
            .await
            .map_err(|e| effect_error(&e));
        match put {
            Err(e) if !crate::ledger::is_condition_failure(&e) => Err(e),
            _ => Ok(()),
        }
    }

    /// One item, read consistently (empty when absent).
    async fn read(&self, key: &str) -> Result<HashMap<String, AttributeValue>, EffectError> {
        Ok(self.ledger.item(key).await?.unwrap_or_default())
    }

    /// Every account's line, read a hundred at a time, the keys DynamoDB leaves
    /// unprocessed asked for again. A line that cannot be read fails the run, so the
    /// message comes back and the summary is never sent short.
    async fn lines(
        &self,
        scan: &str,
        accounts: &[String],
    ) -> Result<BTreeMap<String, String>, EffectError> {
        let lines = self.read_lines(scan, accounts).await?;
        if lines.len() < accounts.len() {
            return Err(other(format!(
                "scan {scan}: {} of {} accounts' summary lines could be read",
                lines.len(),
                accounts.len()
            )));
        }
        Ok(lines)
    }

    /// The lines there are of `accounts` (the keys DynamoDB leaves unprocessed asked for
    /// again, [`GET_ATTEMPTS`] times).
    async fn read_lines(
        &self,
        scan: &str,
        accounts: &[String],
    ) -> Result<BTreeMap<String, String>, EffectError> {
        let mut lines = BTreeMap::new();
        for chunk in accounts.chunks(BATCH_GET) {
            let keys = chunk
                .iter()
                .map(|a| HashMap::from([(crate::ledger::KEY.to_owned(), s(line_key(scan, a)))]))
                .collect();
            let mut ask = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| other(e.to_string()))?;
            for attempt in 0..GET_ATTEMPTS {
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                let out = self
                    .ledger
                    .client()
                    .batch_get_item()
                    .request_items(self.ledger.table(), ask.clone())
                    .send()
                    .await
                    .map_err(|e| effect_error(&e))?;
                let read = out.responses().and_then(|r| r.get(self.ledger.table()));
                for item in read.into_iter().flatten() {
                    let account = item
                        .get(crate::ledger::KEY)
                        .and_then(|v| v.as_s().ok())
                        .and_then(|k| k.rsplit_once('#'))
                        .map(|(_, a)| a.to_owned());
                    let line = item.get(LINE).and_then(|v| v.as_s().ok());
                    if let (Some(account), Some(line)) = (account, line) {
                        lines.insert(account, line.clone());
                    }
                }
                match out
                    .unprocessed_keys()
                    .and_then(|u| u.get(self.ledger.table()))
                {
                    Some(left) if !left.keys().is_empty() => {
                        if attempt + 1 == GET_ATTEMPTS {
                            // Not read is not absent: a line left unread must not pass
                            // for an account with no result.
                            return Err(other(format!(
                                "scan {scan}: DynamoDB left {} summary lines unread after {GET_ATTEMPTS} attempts",
                                left.keys().len()
                            )));
                        }
                        ask = left.clone();
                    }
                    _ => break,
                }
            }
        }
        Ok(lines)
    }
}
