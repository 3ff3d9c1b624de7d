//! A ledger in memory with the DynamoDB ledger's rules, branch for branch (see
//! `keyguard_aws::ledger`): a step is claimed when absent or failed, or, if repeating it is
//! harmless, when its claim is older than the lease; a claim still in its lease is
//! `InProgress`; a stale claim of a step that must not repeat is marked `unknown` once
//! (`Unsettled`) and taken ever after; a window is held unless absent, failed, expired or
//! held by the same step. `crates/aws/tests/ledger.rs` runs one suite against both, so
//! the two cannot drift. For tests and for `keyguard plan`-like dry use; not durable.

use super::{Claim, EffectError, Ledger, LedgerEntry, Prior};
use crate::report::Outcome;
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub status: String,
    pub claimed_at: i64,
    /// When the step was claimed (its entry's time), as the DynamoDB row's `at`.
    pub at: Option<Timestamp>,
    /// For a window: the step holding it, and until when.
    pub held_by: Option<String>,
    pub held_until: Option<i64>,
    /// What the step's write replaced, kept before it was made.
    pub prior: Option<Prior>,
    /// For a window: how many steps it kept quiet.
    pub held_off: u32,
}

pub struct MemoryLedger {
    rows: Mutex<BTreeMap<String, Row>>,
    lease_seconds: i64,
}

impl MemoryLedger {
    pub fn new(lease_seconds: u32) -> Self {
        Self {
            rows: Mutex::new(BTreeMap::new()),
            lease_seconds: i64::from(lease_seconds),
        }
    }

    fn rows(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Row>> {
        // A test that panicked while holding the lock leaves the rows as they were.
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The row under `key`, as the DynamoDB ledger's `rows()` would show it.
    pub fn row(&self, key: &str) -> Option<Row> {
        self.rows().get(key).cloned()
    }

    /// Whether no step has been claimed at all.
    pub fn is_empty(&self) -> bool {
        self.rows().is_empty()
    }

    /// As `DynamoLedger::done_at`: when the step was done, or claimed and never settled.
    pub fn done_at(&self, key: &str) -> Option<Timestamp> {
        self.row(key)
            .filter(|r| ["done", "claimed", "unknown"].contains(&r.status.as_str()))
            .and_then(|r| r.at)
    }

    fn set_status(&self, key: &str, status: &str) {
        if let Some(row) = self.rows().get_mut(key) {
            row.status = status.to_owned();
        }
    }
}

impl Ledger for MemoryLedger {
    async fn claim(&self, entry: &LedgerEntry) -> Result<Claim, EffectError> {
        let now = entry.at.timestamp();
        let stale = now - self.lease_seconds;
        let mut rows = self.rows();
        let key = &entry.idempotency_key;
        let free = match rows.get(key) {
            None => true,
            Some(r) if r.status == "failed" => true,
            Some(r) => entry.repeatable && r.status == "claimed" && r.claimed_at < stale,
        };
        if !free {
            let Some(row) = rows.get_mut(key) else {
                return Ok(Claim::Taken);
            };
            if row.status == "rejected" || row.status == "unknown" {
                return Ok(Claim::SettledUndone);
            }
            if row.status != "claimed" {
                return Ok(Claim::Taken);
            }
            if row.claimed_at >= stale || entry.repeatable {
                return Ok(Claim::InProgress);
            }
            row.status = "unknown".into();
            return Ok(Claim::Unsettled);
        }
        let after_failure = rows.get(key).is_some_and(|r| r.status == "failed");
        let won = if after_failure {
            Claim::Retry
        } else {
            Claim::Won
        };
        // A retry keeps the snapshot its first attempt took, as the DynamoDB ledger does.
        let prior = rows
            .get(key)
            .and_then(|r| r.prior.clone())
            .or_else(|| entry.prior.clone());
        rows.insert(
            key.clone(),
            Row {
                status: "claimed".into(),
                claimed_at: now,
                at: Some(entry.at),
                prior,
                ..Row::default()
            },
        );
        let Some(window) = &entry.window else {
            return Ok(won);
        };
        let open = match rows.get(&window.key) {
            None => true,
            Some(w) => {
                w.status == "failed"
                    || w.held_until.is_some_and(|until| until <= now)
                    || w.held_by.as_deref() == Some(key.as_str())
            }
        };
        let held_off = rows
            .get(&window.key)
            .filter(|w| w.held_by.as_deref() != Some(key.as_str()))
            .map_or(0, |w| w.held_off);
        if open {
            rows.insert(
                window.key.clone(),
                Row {
                    status: "claimed".into(),
                    claimed_at: now,
                    at: Some(entry.at),
                    held_by: Some(key.clone()),
                    held_until: Some(window.until.timestamp()),
                    prior: None,
                    held_off: 0,
                },
            );
            // The count matters more: the notice that says it is the step's effect.
            Ok(if held_off > 0 {
                Claim::WonAfterHeld(held_off)
            } else {
                won
            })
        } else {
            if let Some(row) = rows.get_mut(key) {
                row.status = "suppressed".into();
            }
            if let Some(w) = rows.get_mut(&window.key) {
                w.held_off += 1;
            }
            Ok(Claim::Held)
        }
    }

    async fn settle(&self, entry: &LedgerEntry, outcome: &Outcome) -> Result<(), EffectError> {
        let status = outcome.ledger_status();
        self.set_status(&entry.idempotency_key, status);
        if let Some(window) = &entry.window {
            // A failed step frees its window, so the next finding (or a retry) can act.
            self.set_status(&window.key, status);
        }
        Ok(())
    }

    async fn record_prior(&self, entry: &LedgerEntry, prior: &Prior) -> Result<(), EffectError> {
        match self.rows().get_mut(&entry.idempotency_key) {
            Some(row) if row.status == "claimed" => {
                row.prior.get_or_insert_with(|| prior.clone());
                Ok(())
            }
            _ => Err(EffectError::new(
                crate::effects::ErrorKind::Conflict,
                Some("ConditionalCheckFailedException"),
                "the step is no longer claimed: its snapshot is not kept",
            )),
        }
    }
}
