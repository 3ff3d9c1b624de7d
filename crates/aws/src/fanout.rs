//! age-rotation's organisation scan through SQS: the schedule's messages, one per
//! account (`SendMessageBatch`, at most ten a call as SQS allows), and the fan-in
//! record in the ledger's table that says when the last account is in.
//!
//! The record (`fanout:SCAN`) holds how many accounts the scan has (`account_total`), the
//! accounts in so far (`accounts_in`, a string set: a retried or redelivered message adds
//! its account once), and each one's line for the organisation summary (`account_lines`). It carries none of the index attributes, so
//! `keyguard audit` does not list it, and expires with the ledger's TTL.

use crate::error::effect_error;
use crate::ledger::{n, s};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use keyguard_core::policy::age::fanout::Message;
use keyguard_core::{AccountId, EffectError, ErrorKind};
use std::collections::BTreeMap;

/// SQS takes at most ten messages in one `SendMessageBatch`.
const BATCH: usize = 10;
/// How often the entries SQS refused in a batch are sent again before the schedule fails.
const SEND_ATTEMPTS: usize = 3;
/// How long the fan-in record is kept: a day's scan, and its retries.
const KEEP_SECONDS: i64 = 3 * 24 * 3600;

pub struct FanOut {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    ddb: aws_sdk_dynamodb::Client,
    table: String,
}

fn record_key(scan: &str) -> String {
    format!("fanout:{scan}")
}

impl FanOut {
    pub fn new(sdk: &aws_config::SdkConfig, queue_url: &str, ledger: &crate::DynamoLedger) -> Self {
        Self {
            sqs: aws_sdk_sqs::Client::new(sdk),
            queue_url: queue_url.to_owned(),
            ddb: ledger.client().clone(),
            table: ledger.table().to_owned(),
        }
    }

    /// Keeps the scan's accounts (unless a first delivery of the schedule did), then
    /// sends one message per account. A redelivered schedule sends them again: each
    /// account's steps are in the ledger, so a second scan of it finds them done.
    pub async fn dispatch(&self, scan: &str, accounts: &[AccountId]) -> Result<(), EffectError> {
        let now = chrono::Utc::now().timestamp();
        let total = i64::try_from(accounts.len()).unwrap_or(i64::MAX);
        let mut put = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .item(crate::ledger::KEY, s(record_key(scan)))
            .item("kind", s("fanout"))
            .item("account_total", n(total))
            .item("account_lines", AttributeValue::M(Default::default()))
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
    /// `Ok(None)` while some are still out.
    pub async fn finish(
        &self,
        scan: &str,
        account: &AccountId,
        line: &str,
    ) -> Result<Option<BTreeMap<String, String>>, EffectError> {
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key(crate::ledger::KEY, s(record_key(scan)))
            .update_expression("SET #lines.#a = :line ADD #in :one")
            .condition_expression("attribute_exists(#k) AND contains(#out, :acct)")
            .expression_attribute_names("#k", crate::ledger::KEY)
            .expression_attribute_names("#out", "accounts_out")
            .expression_attribute_values(":acct", s(account.as_str()))
            .expression_attribute_names("#a", account.as_str())
            // Named, not written: DynamoDB reserves many plain words (`lines` among them).
            .expression_attribute_names("#lines", "account_lines")
            .expression_attribute_names("#in", "accounts_in")
            .expression_attribute_values(":line", s(line))
            .expression_attribute_values(":one", AttributeValue::Ss(vec![account.to_string()]))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| {
                let e = effect_error(&e);
                if crate::ledger::is_condition_failure(&e) {
                    EffectError::new(
                        ErrorKind::NotFound,
                        e.code.as_deref(),
                        format!("scan {scan} has no fan-out record naming account {account} (expired, or not sent by this scan's schedule)"),
                    )
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
        let lines = item
            .get("account_lines")
            .and_then(|v| v.as_m().ok())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(lines))
    }
}
