//! The ledger: a DynamoDB table that makes every step happen once and records why.
//!
//! One item per step, keyed by the step's idempotency key. Claiming is a conditional put
//! that succeeds only when the key is absent, its last attempt failed, or its claim is
//! older than the lease (the claimant died mid-step). A step that failed is marked so
//! a retry can act; items expire through DynamoDB TTL (`expires_at`).

use crate::error::effect_error;
use aws_sdk_dynamodb::types::AttributeValue;
use keyguard_core::{Claim, EffectError, Ledger, LedgerEntry, Outcome};
use std::collections::HashMap;

pub const KEY: &str = "idempotency_key";

#[derive(Clone)]
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
    ttl_seconds: i64,
    lease_seconds: i64,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Applied { .. } => "done",
        Outcome::Planned => "planned",
        Outcome::Duplicate => "duplicate",
        Outcome::NotFound { .. } | Outcome::Failed { .. } => "failed",
    }
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
        Self {
            client: aws_sdk_dynamodb::Client::new(config),
            table: table.to_owned(),
            ttl_seconds: i64::from(ttl_days) * 86_400,
            lease_seconds: i64::from(lease_seconds),
        }
    }

    /// Creates the table as infra/ does (on-demand, TTL on `expires_at`). For local runs
    /// and tests; deployed stacks own the table.
    pub async fn create_table(&self) -> Result<(), EffectError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
            TimeToLiveSpecification,
        };
        let build = |e: aws_sdk_dynamodb::error::BuildError| {
            EffectError::new(keyguard_core::ErrorKind::Other, None, e.to_string())
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(KEY)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(KEY)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(build)?,
            )
            .send()
            .await;
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
        self.client
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

    /// Every row, for tests and the demo's audit table.
    pub async fn rows(&self) -> Result<Vec<HashMap<String, String>>, EffectError> {
        let items = self
            .client
            .scan()
            .table_name(&self.table)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(items
            .into_iter()
            .map(|item| {
                item.into_iter()
                    .filter_map(|(k, v)| match v {
                        AttributeValue::S(s) | AttributeValue::N(s) => Some((k, s)),
                        _ => None,
                    })
                    .collect()
            })
            .collect())
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
            .item("claimed_at", n(now))
            .item("expires_at", n(now + self.ttl_seconds))
            .condition_expression(
                "attribute_not_exists(#k) OR #s = :failed OR (#s = :claimed AND claimed_at < :stale)",
            )
            .expression_attribute_names("#k", KEY)
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":claimed", s("claimed"))
            .expression_attribute_values(":stale", n(now - self.lease_seconds));
        for (name, value) in [
            ("event_id", &entry.event_id),
            ("classifier_source", &entry.classifier_source),
            ("user", &entry.user),
            ("key_id", &entry.key_id),
        ] {
            if let Some(v) = value {
                put = put.item(name, s(v));
            }
        }
        match put.send().await {
            Ok(_) => Ok(Claim::Won),
            Err(e) => {
                let err = effect_error(&e);
                if err.code.as_deref() == Some("ConditionalCheckFailedException") {
                    Ok(Claim::Taken)
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn settle(&self, idempotency_key: &str, outcome: &Outcome) -> Result<(), EffectError> {
        let detail = serde_json::to_string(outcome).unwrap_or_default();
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(idempotency_key))
            .update_expression("SET #s = :s, outcome = :o")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", s(outcome_name(outcome)))
            .expression_attribute_values(":o", s(detail))
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(())
    }
}
