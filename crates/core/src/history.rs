//! The ledger read back: one [`Record`] per step, as `keyguard audit` prints them and
//! `keyguard undo` reasons over them.

use crate::effects::Prior;
use crate::time::{parse_time, Timestamp};
use serde::Serialize;
use std::collections::HashMap;

/// The function name an undo's steps are recorded under.
pub const UNDO: &str = "keyguard-undo";

/// One step's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// When the step was planned (every step of a run shares it).
    pub at: Timestamp,
    /// When it was claimed: the order the steps of a run ran in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ran_at: Option<Timestamp>,
    pub function: String,
    pub action: String,
    /// `claimed`, `done`, `failed`, `suppressed`, `unknown`.
    pub status: String,
    pub reason: String,
    /// How the step ended, as the report said it (JSON text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The rule or source that named the credential; for an undo, who undid it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// What the step's write replaced, kept before it was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Prior>,
    pub idempotency_key: String,
}

/// A row that is not a step's (a window, a key's deactivation record) or that lacks
/// what every step's row has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ledger row {key}: {why}")]
pub struct NotAStep {
    pub key: String,
    pub why: String,
}

impl Record {
    /// A row's string attributes, as the ledger holds them.
    pub fn from_row(row: &HashMap<String, String>) -> Result<Self, NotAStep> {
        let key = row.get("idempotency_key").cloned().unwrap_or_default();
        let fail = |why: &str| NotAStep {
            key: key.clone(),
            why: why.to_owned(),
        };
        let need = |name: &str| {
            row.get(name)
                .cloned()
                .ok_or_else(|| fail(&format!("no {name}")))
        };
        let at = need("at")?;
        let replaces = match row.get("replaces") {
            Some(raw) => Some(
                serde_json::from_str(raw)
                    .map_err(|e| fail(&format!("replaces is not a snapshot: {e}")))?,
            ),
            None => None,
        };
        Ok(Self {
            at: parse_time(&at).ok_or_else(|| fail("at is not a time"))?,
            ran_at: row.get("ran_at").and_then(|t| parse_time(t)),
            function: need("function")?,
            action: need("action")?,
            status: need("status")?,
            reason: row.get("reason").cloned().unwrap_or_default(),
            outcome: row.get("outcome").cloned(),
            event_id: row.get("event_id").cloned(),
            classifier_source: row.get("classifier_source").cloned(),
            user: row.get("user").cloned(),
            key_id: row.get("key_id").cloned(),
            account: row.get("account").cloned(),
            replaces,
            idempotency_key: key.clone(),
        })
    }

    /// The detail the step's effect reported, when it was applied.
    pub fn detail(&self) -> Option<String> {
        let outcome: serde_json::Value = serde_json::from_str(self.outcome.as_deref()?).ok()?;
        outcome["detail"].as_str().map(str::to_owned)
    }
}

/// Rows in time order, the steps only: what the audit prints.
pub fn timeline(rows: &[HashMap<String, String>]) -> Vec<Record> {
    let mut records: Vec<Record> = rows
        .iter()
        .filter_map(|r| Record::from_row(r).ok())
        .collect();
    records.sort_by(|a, b| {
        (a.at, a.ran_at, &a.idempotency_key).cmp(&(b.at, b.ran_at, &b.idempotency_key))
    });
    records
}
