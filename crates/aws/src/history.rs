//! The ledger's history, by key, user, event or day: a DynamoDB `Query` on one of the
//! table's global secondary indexes (never a `Scan`), all pages, oldest first.

use crate::error::effect_error;
use crate::ledger::DynamoLedger;
use aws_sdk_dynamodb::types::AttributeValue;
use keyguard_core::history::{timeline, Record};
use keyguard_core::{EffectError, Timestamp};
use std::collections::HashMap;

/// Each index and the attribute it is keyed on (its sort key is `at`). The shared
/// template and the tests' table declare the same.
pub const INDEXES: [(&str, &str); 4] = [
    ("by-key", "key_id"),
    ("by-user", "user_key"),
    ("by-event", "event_id"),
    ("by-day", "day"),
];

/// Whose history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Find {
    Key(String),
    /// IAM user names are unique whatever their case: found in lower case.
    User(String),
    Event(String),
    /// Every step from this time on, a day's index partition at a time.
    Since(Timestamp),
}

/// How many days `Since` reads at most: the ledger keeps no row longer than its TTL,
/// and a query per day beyond a year would read nothing.
pub const MOST_DAYS: i64 = 400;

impl DynamoLedger {
    /// The steps found, in time order; `Since` also stops at `now`.
    pub async fn history(&self, find: &Find, now: Timestamp) -> Result<Vec<Record>, EffectError> {
        let mut rows = Vec::new();
        match find {
            Find::Key(k) => rows.extend(self.query("by-key", "key_id", k, None).await?),
            Find::User(u) => rows.extend(
                self.query("by-user", "user_key", &u.to_ascii_lowercase(), None)
                    .await?,
            ),
            Find::Event(e) => rows.extend(self.query("by-event", "event_id", e, None).await?),
            Find::Since(since) => {
                let first = since.date_naive();
                let days = (now.date_naive() - first).num_days().clamp(0, MOST_DAYS);
                for d in 0..=days {
                    let day = (first + chrono::Duration::days(d))
                        .format("%Y-%m-%d")
                        .to_string();
                    rows.extend(self.query("by-day", "day", &day, Some(*since)).await?);
                }
            }
        }
        Ok(timeline(&rows))
    }

    async fn query(
        &self,
        index: &str,
        attribute: &str,
        value: &str,
        from: Option<Timestamp>,
    ) -> Result<Vec<HashMap<String, String>>, EffectError> {
        let mut query = self
            .fixture_client()
            .query()
            .table_name(self.table())
            .index_name(index)
            .expression_attribute_names("#h", attribute)
            .expression_attribute_values(":h", AttributeValue::S(value.to_owned()));
        query = match from {
            Some(t) => query
                .key_condition_expression("#h = :h AND #at >= :from")
                .expression_attribute_names("#at", "at")
                .expression_attribute_values(":from", AttributeValue::S(t.to_rfc3339())),
            None => query.key_condition_expression("#h = :h"),
        };
        let items = query
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(items.into_iter().map(crate::ledger::strings).collect())
    }
}
