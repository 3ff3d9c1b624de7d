//! The ledger: a DynamoDB table that makes every step happen once and records why.
//!
//! One item per step, keyed by the step's idempotency key. Claiming is a conditional put
//! that succeeds only when the key is absent, its last attempt failed, or its claim is
//! older than the lease (the claimant died mid-step). A step that failed is marked so
//! a retry can act; items expire through DynamoDB TTL (`expires_at`).
//!
//! A step that names a window also claims the window's own item, which holds until
//! `held_until`. When the window is held by another step, this step's item is marked
//! `suppressed` so that a redelivery of its event stays quiet after the window ends.

use crate::error::effect_error;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use keyguard_core::{Claim, EffectError, Ledger, LedgerEntry, Outcome, Prior};
use std::collections::HashMap;

pub const KEY: &str = "idempotency_key";

/// Attempts per ledger call (the SDK's default is 3).
const LEDGER_ATTEMPTS: u32 = 6;
/// The ledger's retry quota: ten times the SDK's default bucket, refilled over time. Its
/// calls are small and a claim that cannot be written holds its step back, so the
/// ledger retries where a bulk caller would back off.
const LEDGER_RETRY_QUOTA: usize = 5_000;
const LEDGER_QUOTA_REFILL_PER_SECOND: f32 = 50.0;

/// What a ledger row says of how its step ended ([`DynamoLedger::outcome_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOutcome {
    /// No such row (never claimed, or expired).
    Missing,
    /// Claimed and not settled yet: its step may be running now.
    Unsettled,
    /// Settled: the outcome it recorded (JSON for a step that ran, text for one held).
    Settled(String),
}

#[derive(Clone)]
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
    ttl_seconds: i64,
    lease_seconds: i64,
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl DynamoLedger {
    /// `ttl_days`: how long the audit row lives; `lease_seconds`: after how long an
    /// unsettled claim is presumed dead (longer than the function's timeout).
    pub fn new(
        config: &aws_config::SdkConfig,
        table: &str,
        ttl_days: u32,
        lease_seconds: u32,
    ) -> Self {
        // Every ledger write is conditional or sets a final status, so retrying it is
        // safe, and a settle that gives up leaves a step claimed: retry longer than the
        // SDK's default, from a token bucket of the ledger's own so a burst of failing
        // actions cannot use up the retries the ledger needs.
        let retry = config
            .retry_config()
            .cloned()
            .unwrap_or_else(aws_smithy_types::retry::RetryConfig::standard);
        let attempts = retry.max_attempts().max(LEDGER_ATTEMPTS);
        let retry = retry.with_max_attempts(attempts);
        use aws_sdk_dynamodb::config::retry::{RetryPartition, TokenBucket};
        let quota = TokenBucket::builder()
            .capacity(LEDGER_RETRY_QUOTA)
            .refill_rate(LEDGER_QUOTA_REFILL_PER_SECOND)
            .build();
        let ledger_config = aws_sdk_dynamodb::config::Builder::from(config)
            .retry_config(retry)
            .retry_partition(
                RetryPartition::custom("keyguard-ledger")
                    .token_bucket(quota)
                    .build(),
            )
            .build();
        Self {
            client: aws_sdk_dynamodb::Client::from_conf(ledger_config),
            table: table.to_owned(),
            ttl_seconds: i64::from(ttl_days) * 86_400,
            lease_seconds: i64::from(lease_seconds),
        }
    }

    /// The ledger the function's configuration names.
    pub fn configured(
        config: &aws_config::SdkConfig,
        common: &keyguard_core::config::Common,
    ) -> Self {
        Self::new(
            config,
            &common.ledger_table,
            common.ledger_ttl_days,
            common.ledger_lease_seconds,
        )
    }

    /// Creates the table as infra/ does (on-demand, TTL on `expires_at`). For local runs
    /// and tests; deployed stacks own the table.
    /// The client for the table's set-up and the audit dump, which tests, the demo and
    /// operators call, never a function: it signs as `keyguard-fixture`, so the check of
    /// each function's requests against its role does not count these.
    pub(crate) fn fixture_client(&self) -> aws_sdk_dynamodb::Client {
        let config = self.client.config().to_builder();
        match aws_config::AppName::new(crate::FIXTURE_APP) {
            Ok(name) => aws_sdk_dynamodb::Client::from_conf(config.app_name(name).build()),
            Err(_) => self.client.clone(),
        }
    }

    pub async fn create_table(&self) -> Result<(), EffectError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
            Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
        };
        let build = |e: aws_sdk_dynamodb::error::BuildError| {
            EffectError::new(keyguard_core::ErrorKind::Other, None, e.to_string())
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(build)
        };
        let client = self.fixture_client();
        let mut create = client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(KEY, KeyType::Hash)?);
        let indexed = crate::history::INDEXES.iter().map(|(_, a)| *a);
        for attribute in [KEY, "at"].into_iter().chain(indexed) {
            create = create.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attribute)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build)?,
            );
        }
        // As infra/shared's table: the indexes `keyguard audit` and `undo` query.
        for (index, attribute) in crate::history::INDEXES {
            create = create.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index)
                    .key_schema(key(attribute, KeyType::Hash)?)
                    .key_schema(key("at", KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(build)?,
            );
        }
        let created = create.send().await;
        match created {
            Ok(_) => {}
            Err(e) => {
                let err = effect_error(&e);
                if err.code.as_deref() != Some("ResourceInUseException") {
                    return Err(err);
                }
                return Ok(());
            }
        }
        client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .map_err(build)?,
            )
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(())
    }

    /// When the step under `key` was done, if it was (for rules that need the past,
    /// such as a grace period after keyguard's own deactivation). A claim that was never
    /// settled counts as done at its claim: the step may well have happened, and for a
    /// grace period the cautious reading is the later one.
    pub async fn done_at(
        &self,
        key: &str,
    ) -> Result<Option<keyguard_core::Timestamp>, EffectError> {
        let Some(item) = self.item(key).await? else {
            return Ok(None);
        };
        let done = matches!(item.get("status"), Some(AttributeValue::S(v))
            if ["done", "claimed", "unknown"].contains(&v.as_str()));
        Ok(match item.get("at") {
            Some(AttributeValue::S(at)) if done => keyguard_core::parse_time(at),
            _ => None,
        })
    }

    /// How the step or window under `key` ended, as far as its row says: what a later
    /// step reads back from an earlier one (the incident a retry did not open).
    pub async fn outcome_of(&self, key: &str) -> Result<RowOutcome, EffectError> {
        let Some(item) = self.item(key).await? else {
            return Ok(RowOutcome::Missing);
        };
        let claimed = matches!(item.get("status"), Some(AttributeValue::S(v)) if v == "claimed");
        Ok(match item.get("outcome") {
            Some(AttributeValue::S(o)) if !claimed => RowOutcome::Settled(o.clone()),
            _ => RowOutcome::Unsettled,
        })
    }

    /// Until when the window under `key` holds, if a step holds it or held it and did
    /// not fail (the hourly canary check reads the live alerts' windows so).
    pub async fn held_until(
        &self,
        key: &str,
    ) -> Result<Option<keyguard_core::Timestamp>, EffectError> {
        let Some(item) = self.item(key).await? else {
            return Ok(None);
        };
        // A window freed by its step's failure reported nothing.
        if matches!(item.get("status"), Some(AttributeValue::S(v)) if v == "failed") {
            return Ok(None);
        }
        Ok(match item.get("held_until") {
            Some(AttributeValue::N(n)) => n
                .parse::<i64>()
                .ok()
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
            _ => None,
        })
    }

    /// Every row, for tests and the demo's audit table.
    pub async fn rows(&self) -> Result<Vec<HashMap<String, String>>, EffectError> {
        let items = self
            .fixture_client()
            .scan()
            .table_name(&self.table)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(items.into_iter().map(strings).collect())
    }

    pub(crate) fn table(&self) -> &str {
        &self.table
    }

    pub(crate) fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }
}

impl Ledger for DynamoLedger {
    async fn claim(&self, entry: &LedgerEntry) -> Result<Claim, EffectError> {
        let now = entry.at.timestamp();
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY, s(&entry.idempotency_key))
            .item("status", s("claimed"))
            .item("action", s(entry.action))
            .item("function", s(&entry.function))
            .item("reason", s(&entry.reason))
            .item("at", s(entry.at.to_rfc3339()))
            // The steps of one run share `at` (the time they were planned); the clock
            // when each was claimed orders them as they ran, for the audit.
            .item(
                "ran_at",
                s(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
            )
            .item("claimed_at", n(now))
            .item("expires_at", n(now + self.ttl_seconds))
            .expression_attribute_names("#k", KEY)
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":failed", s("failed"));
        // What the write replaces, when the plan knew it: kept by the claim itself.
        if let Some(prior) = &entry.prior {
            let prior = serde_json::to_string(prior).map_err(|e| {
                EffectError::new(keyguard_core::ErrorKind::Other, None, e.to_string())
            })?;
            put = put.item("replaces", s(prior));
        }
        // A stale claim is taken over only for a step that is harmless to repeat.
        put = if entry.repeatable {
            put.condition_expression(
                "attribute_not_exists(#k) OR #s = :failed OR (#s = :claimed AND claimed_at < :stale)",
            )
            .expression_attribute_values(":claimed", s("claimed"))
            .expression_attribute_values(":stale", n(now - self.lease_seconds))
        } else {
            put.condition_expression("attribute_not_exists(#k) OR #s = :failed")
        };
        // What the audit's indexes are keyed on: IAM names are unique whatever their
        // case, so a user is found by its name in lower case.
        let user_key = entry.user.as_deref().map(str::to_ascii_lowercase);
        let day = Some(entry.at.format("%Y-%m-%d").to_string());
        for (name, value) in [
            ("event_id", &entry.event_id),
            ("classifier_source", &entry.classifier_source),
            ("user", &entry.user),
            ("user_key", &user_key),
            ("key_id", &entry.key_id),
            ("account", &entry.account),
            ("day", &day),
        ] {
            if let Some(v) = value {
                put = put.item(name, s(v));
            }
        }
        // What the item held before: a retry (after a failure, or of a stale claim) keeps
        // the snapshot its first attempt took before writing, which is what the step
        // replaced; a second read could find the first attempt's own write.
        let won = match put.return_values(ReturnValue::AllOld).send().await {
            Ok(out) => {
                if let Some(AttributeValue::S(first)) =
                    out.attributes.as_ref().and_then(|old| old.get("replaces"))
                {
                    if let Err(e) = self.keep_prior(&entry.idempotency_key, first).await {
                        // The step is not taken: release the claim, so the retry takes it
                        // instead of finding it claimed, unsettled, and never repeating it.
                        self.set_status(&entry.idempotency_key, "failed", &e.to_string())
                            .await?;
                        return Err(e);
                    }
                }
                let old_status = out.attributes.as_ref().and_then(|old| old.get("status"));
                if matches!(old_status, Some(AttributeValue::S(s)) if s == "failed") {
                    Claim::Retry
                } else {
                    Claim::Won
                }
            }
            Err(e) => {
                let err = effect_error(&e);
                if !is_condition_failure(&err) {
                    return Err(err);
                }
                return match self.held_claim(&entry.idempotency_key, now).await? {
                    Held::Settled => Ok(Claim::Taken),
                    Held::Undone => Ok(Claim::SettledUndone),
                    Held::Running => Ok(Claim::InProgress),
                    // Only a step that must not repeat gets here stale (a repeatable one
                    // would have been taken over by the put itself).
                    Held::Stale if entry.repeatable => Ok(Claim::InProgress),
                    Held::Stale => self.mark_unsettled(entry, now).await,
                };
            }
        };
        let Some(window) = &entry.window else {
            return Ok(won);
        };
        let held = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY, s(&window.key))
            .item("status", s("claimed"))
            .item("held_by", s(&entry.idempotency_key))
            .item("function", s(&entry.function))
            .item("at", s(entry.at.to_rfc3339()))
            .item("claimed_at", n(now))
            .item("held_until", n(window.until.timestamp()))
            .item(
                "expires_at",
                n(window.until.timestamp().max(now) + self.ttl_seconds),
            )
            // A step taking over its own stale claim holds its own window still: it is
            // the same step, not another one the window keeps out.
            .condition_expression(
                "attribute_not_exists(#k) OR #s = :failed OR held_until <= :now OR held_by = :me",
            )
            .expression_attribute_values(":me", s(&entry.idempotency_key))
            .expression_attribute_names("#k", KEY)
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match held {
            // How many steps the window it replaces kept quiet (not its own, retaken).
            Ok(out) => Ok(match out.attributes.as_ref() {
                Some(old) if !matches!(old.get("held_by"), Some(AttributeValue::S(by)) if by == &entry.idempotency_key) => {
                    match old.get("held_off") {
                        Some(AttributeValue::N(count)) => match count.parse::<u32>() {
                            Ok(held) if held > 0 => Claim::WonAfterHeld(held),
                            _ => won,
                        },
                        _ => won,
                    }
                }
                _ => won,
            }),
            Err(e) => {
                let err = effect_error(&e);
                if !is_condition_failure(&err) {
                    // Release this step's claim: the window could not be read, so a retry
                    // must be able to try again.
                    self.set_status(&entry.idempotency_key, "failed", &err.to_string())
                        .await?;
                    return Err(err);
                }
                self.set_status(
                    &entry.idempotency_key,
                    "suppressed",
                    &format!("window {} held", window.key),
                )
                .await?;
                // Counted on the window, for the next step that takes it over to say. A
                // count lost (the window expired meanwhile) only leaves that number out.
                let _ = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key(KEY, s(&window.key))
                    .update_expression("ADD held_off :one")
                    .condition_expression("attribute_exists(#k)")
                    .expression_attribute_names("#k", KEY)
                    .expression_attribute_values(":one", n(1))
                    .send()
                    .await;
                Ok(Claim::Held)
            }
        }
    }

    async fn settle(&self, entry: &LedgerEntry, outcome: &Outcome) -> Result<(), EffectError> {
        let detail = serde_json::to_string(outcome).unwrap_or_default();
        let status = outcome.ledger_status();
        self.set_status(&entry.idempotency_key, status, &detail)
            .await?;
        // A failed step frees its window, so the next finding (or a retry) can act; the
        // key's record keeps a contained key as evidence. Each is written whatever
        // became of the other, and the first failure is the settle's.
        let window = match &entry.window {
            Some(window) => self.set_status(&window.key, status, &detail).await,
            None => Ok(()),
        };
        let record = match outcome {
            Outcome::Applied { .. } => self.note_deactivation(entry, Landed::Yes).await,
            // A write whose answer never came may have landed all the same (a timeout, a
            // connection lost after IAM acted): what keyguard decides from the key's state
            // later must know that keyguard may have made it so.
            Outcome::Failed { .. } => self.note_deactivation(entry, Landed::Maybe).await,
            _ => Ok(()),
        };
        window.and(record)
    }

    async fn record_prior(&self, entry: &LedgerEntry, prior: &Prior) -> Result<(), EffectError> {
        let prior = serde_json::to_string(prior)
            .map_err(|e| EffectError::new(keyguard_core::ErrorKind::Other, None, e.to_string()))?;
        // Only onto this step's own claim (a row settled meanwhile keeps what it has), and
        // only the first snapshot: one an earlier attempt kept stays.
        let kept = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(&entry.idempotency_key))
            .update_expression("SET replaces = :p")
            .condition_expression("#s = :claimed AND attribute_not_exists(replaces)")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":claimed", s("claimed"))
            .expression_attribute_values(":p", s(prior))
            .send()
            .await;
        match kept {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = effect_error(&e);
                let first_kept = is_condition_failure(&err)
                    && self.item(&entry.idempotency_key).await?.is_some_and(|item| {
                        matches!(item.get("status"), Some(AttributeValue::S(v)) if v == "claimed")
                            && item.contains_key("replaces")
                    });
                if first_kept {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }
}

/// An item's string and number attributes, as text.
pub(crate) fn strings(item: HashMap<String, AttributeValue>) -> HashMap<String, String> {
    item.into_iter()
        .filter_map(|(k, v)| match v {
            AttributeValue::S(s) | AttributeValue::N(s) => Some((k, s)),
            _ => None,
        })
        .collect()
}

/// A record of the ledger's table kept under `key` (with `attributes`) unless one made
/// by a later event is there already: EventBridge does not deliver in order. The event's
/// time counts as at most five minutes ahead of now, or a time from the future would
/// hold the item against every later one. Returns whether this one was kept.
pub(crate) async fn put_latest(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key: String,
    at: i64,
    attributes: Vec<(&str, AttributeValue)>,
) -> Result<bool, EffectError> {
    let at = at.min(chrono::Utc::now().timestamp() + 300);
    let mut put = client
        .put_item()
        .table_name(table)
        .item(KEY, s(key))
        .item("set_at", n(at))
        .condition_expression("attribute_not_exists(#k) OR set_at <= :t")
        .expression_attribute_names("#k", KEY)
        .expression_attribute_values(":t", n(at));
    for (name, value) in attributes {
        put = put.item(name, value);
    }
    match put.send().await.map_err(|e| effect_error(&e)) {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failure(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) fn is_condition_failure(err: &EffectError) -> bool {
    err.code.as_deref() == Some("ConditionalCheckFailedException")
}

/// What holds a step's item when a claim of it was refused.
enum Held {
    /// Settled: done, suppressed (or gone since: a race that the retry settles).
    Settled,
    /// Settled without being done: rejected, or unknown.
    Undone,
    /// Claimed, its lease running: another invocation may be doing it right now.
    Running,
    /// Claimed, its lease over: its claimant ended without a word.
    Stale,
}

/// The item that remembers, per key, keyguard's latest deactivation of it by any
/// function, and its latest containment (deactivate-key, the translator's runbook).
/// Key ids are unique across accounts, so the key id alone names it.
pub fn deactivation_record(key_id: &str) -> String {
    format!("keyguard:deactivated:{key_id}")
}

/// When keyguard last deactivated a key, and last contained it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deactivations {
    pub last: Option<keyguard_core::Timestamp>,
    pub contained: Option<keyguard_core::Timestamp>,
    /// When secrets-rotator retired it (a rotation replaced it).
    pub retired: Option<keyguard_core::Timestamp>,
    /// When a deactivation (of any function) last failed, and a containment last failed:
    /// the write may have landed although no answer said so.
    pub tried: Option<keyguard_core::Timestamp>,
    pub tried_to_contain: Option<keyguard_core::Timestamp>,
}

impl Deactivations {
    /// When keyguard last deactivated the key, or may have: for a key that is Inactive
    /// now, a failed attempt is the likeliest reason, and a grace period counted from it
    /// is never shorter than one counted from nothing. (For an Active key only a
    /// deactivation that landed counts: it was re-activated since.)
    pub fn last_or_tried(&self) -> Option<keyguard_core::Timestamp> {
        self.last.max(self.tried)
    }

    /// When keyguard last contained the key, or may have: evidence is kept from either.
    pub fn contained_or_tried(&self) -> Option<keyguard_core::Timestamp> {
        self.contained.max(self.tried_to_contain)
    }
}

/// Whether a deactivation step is known to have landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Landed {
    Yes,
    /// It failed, and may have landed before the answer was lost.
    Maybe,
}

impl DynamoLedger {
    /// Records that a step deactivated a key (a deactivation, or the runbook that
    /// deactivates it), or failed to and may have, so age-rotation's grace and a
    /// contained key's retention count from it, whichever function did it.
    async fn note_deactivation(
        &self,
        entry: &LedgerEntry,
        landed: Landed,
    ) -> Result<(), EffectError> {
        let (Some(key_id), true) = (
            entry.key_id.as_deref(),
            matches!(entry.action, "deactivate_key" | "start_runbook"),
        ) else {
            return Ok(());
        };
        let at = entry.at.to_rfc3339();
        let containment = matches!(
            entry.function.as_str(),
            "deactivate-key" | "guardduty-translator"
        );
        // A rotation's retirement that may not have landed is not one: the sweep deletes
        // only what the rotation is known to have retired.
        let retirement = entry.function == "secrets-rotator"
            && !keyguard_core::policy::sweep::is_unused_key_deactivation(&entry.idempotency_key);
        let fields = match (landed, containment, retirement) {
            (Landed::Yes, true, _) => {
                "last_deactivated = :at, contained_at = :at, last_function = :f"
            }
            (Landed::Yes, false, true) => {
                "last_deactivated = :at, retired_at = :at, last_function = :f"
            }
            (Landed::Yes, false, _) => "last_deactivated = :at, last_function = :f",
            (Landed::Maybe, true, _) => {
                "tried_at = :at, tried_to_contain_at = :at, tried_function = :f"
            }
            (Landed::Maybe, false, _) => "tried_at = :at, tried_function = :f",
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(deactivation_record(key_id)))
            .expression_attribute_values(":at", s(&at))
            .expression_attribute_values(":f", s(&entry.function))
            .expression_attribute_values(":exp", n(entry.at.timestamp() + self.ttl_seconds));
        update = update.update_expression(format!("SET {fields}, expires_at = :exp"));
        update.send().await.map_err(|e| effect_error(&e))?;
        Ok(())
    }

    /// What [`Self::note_deactivation`] recorded for a key.
    pub async fn deactivations(&self, key_id: &str) -> Result<Deactivations, EffectError> {
        let Some(item) = self.item(&deactivation_record(key_id)).await? else {
            return Ok(Deactivations::default());
        };
        let time = |name: &str| match item.get(name) {
            Some(AttributeValue::S(t)) => keyguard_core::parse_time(t),
            _ => None,
        };
        Ok(Deactivations {
            last: time("last_deactivated"),
            contained: time("contained_at"),
            retired: time("retired_at"),
            tried: time("tried_at"),
            tried_to_contain: time("tried_to_contain_at"),
        })
    }

    /// One item, read consistently (a claim that beat ours may be milliseconds old).
    /// One item of the table, read consistently; `None` when it is not there.
    pub(crate) async fn item(
        &self,
        key: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, EffectError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(out.item)
    }

    /// Reads the item a claim was refused on (consistently: the claim that beat this one
    /// may be milliseconds old).
    async fn held_claim(&self, key: &str, now: i64) -> Result<Held, EffectError> {
        let Some(item) = self.item(key).await? else {
            return Ok(Held::Settled);
        };
        match item.get("status") {
            Some(AttributeValue::S(v)) if v == "rejected" || v == "unknown" => {
                return Ok(Held::Undone)
            }
            Some(AttributeValue::S(v)) if v == "claimed" => {}
            _ => return Ok(Held::Settled),
        }
        let at = match item.get("claimed_at") {
            Some(AttributeValue::N(n)) => n.parse::<i64>().unwrap_or(now),
            _ => now,
        };
        Ok(if at < now - self.lease_seconds {
            Held::Stale
        } else {
            Held::Running
        })
    }

    /// A step that must not repeat, found claimed: when the claim is stale, its outcome
    /// is unknown; mark it so (once, whoever gets there first) and say so.
    async fn mark_unsettled(&self, entry: &LedgerEntry, now: i64) -> Result<Claim, EffectError> {
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(&entry.idempotency_key))
            .update_expression("SET #s = :unknown, outcome = :o")
            .condition_expression("#s = :claimed AND claimed_at < :stale")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":unknown", s("unknown"))
            .expression_attribute_values(":claimed", s("claimed"))
            .expression_attribute_values(":stale", n(now - self.lease_seconds))
            .expression_attribute_values(
                ":o",
                s("claimed, never settled: may have happened; not repeated"),
            )
            .send()
            .await;
        match marked {
            Ok(_) => Ok(Claim::Unsettled),
            Err(e) => {
                let err = effect_error(&e);
                if is_condition_failure(&err) {
                    // Another copy marked it first, or it was settled meanwhile.
                    Ok(Claim::Taken)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Puts an earlier attempt's snapshot back on the claim that just replaced its item.
    async fn keep_prior(&self, key: &str, prior: &str) -> Result<(), EffectError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(key))
            .update_expression("SET replaces = :p")
            .condition_expression("#s = :claimed")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":claimed", s("claimed"))
            .expression_attribute_values(":p", s(prior))
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(())
    }

    async fn set_status(&self, key: &str, status: &str, outcome: &str) -> Result<(), EffectError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(key))
            .update_expression("SET #s = :s, outcome = :o")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", s(status))
            .expression_attribute_values(":o", s(outcome))
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(())
    }
}
