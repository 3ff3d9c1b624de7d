//! createkey-detector's memory (`keyguard_core::policy::detector::memory`) in the
//! ledger's table: one item per account and created key, created user, or key whose
//! launches are counted. Items carry none of the ledger's index attributes, so
//! `keyguard audit` never lists them, and expire through the table's TTL.

use crate::error::effect_error;
use crate::ledger::{is_condition_failure, n, s};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use keyguard_core::policy::detector::memory::{
    self, Ask, KeyCreation, Launch, Memo, Recall, SessionMint, UserCreation,
};
use keyguard_core::{AccessKeyId, AccountId, EffectError, ErrorKind, Timestamp};
use std::collections::HashMap;

/// The attribute holding a memo (JSON) and the map of launches (event id → JSON).
const MEMO: &str = "memo";
const LAUNCHES: &str = "launches";
/// How long an item outlives its window: delivery can lag the event by minutes, and
/// DynamoDB deletes expired items within days anyway (reads check the time themselves).
const TTL_MARGIN_SECONDS: i64 = 86_400;
/// Stale launches removed from an item at most per call (the expression stays small).
const PRUNED_PER_CALL: usize = 50;
/// Launches one key's item keeps at most: about 140 bytes each, far under DynamoDB's
/// 400 KB item limit. A key past it has launched far more than `MANY_INSTANCES` within
/// the window; its further launches are counted with the kept ones, not written.
const LAUNCHES_KEPT: usize = 1_000;

#[derive(Clone)]
pub struct Memory {
    /// Whose table the memory lives in.
    ledger: crate::DynamoLedger,
    launches_kept: usize,
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String, EffectError> {
    serde_json::to_string(value)
        .map_err(|e| EffectError::new(ErrorKind::Other, None, e.to_string()))
}

/// The launches an item's map holds; an entry that does not read back counts nothing.
fn launches_of(item: Option<&HashMap<String, AttributeValue>>) -> Vec<Launch> {
    let Some(AttributeValue::M(map)) = item.and_then(|i| i.get(LAUNCHES)) else {
        return Vec::new();
    };
    map.values()
        .filter_map(|v| match v {
            AttributeValue::S(json) => serde_json::from_str(json).ok(),
            _ => None,
        })
        .collect()
}

impl Memory {
    pub fn new(ledger: &crate::DynamoLedger) -> Self {
        Self {
            ledger: ledger.clone(),
            launches_kept: LAUNCHES_KEPT,
        }
    }

    /// The same memory keeping at most `n` launches a key (tests reach the limit with it).
    pub fn keeping_launches(self, n: usize) -> Self {
        Self {
            launches_kept: n,
            ..self
        }
    }

    async fn get(
        &self,
        item: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, EffectError> {
        self.ledger.item(item).await
    }

    /// A memo kept under `item`; one that does not read back is not remembered.
    async fn memo<T: serde::de::DeserializeOwned>(
        &self,
        item: &str,
    ) -> Result<Option<T>, EffectError> {
        Ok(self.get(item).await?.and_then(|i| match i.get(MEMO) {
            Some(AttributeValue::S(json)) => serde_json::from_str(json).ok(),
            _ => None,
        }))
    }

    /// What the memory holds for one record. With `count`, its launch is counted as it
    /// is read (one conditional write that returns the key's launches, see the core
    /// module); without (a dry run, a plan), it is only put beside them.
    pub async fn recall(
        &self,
        ask: &Ask,
        minutes: u32,
        count: bool,
    ) -> Result<Recall, EffectError> {
        // Which key minted the signing session comes first: a launch is counted under it.
        let session_parent = match &ask.session {
            Some((account, key)) => {
                self.memo::<SessionMint>(&memory::session_item(account, key))
                    .await?
            }
            None => None,
        };
        let signer = async {
            match &ask.signer {
                Some((account, key)) => {
                    self.memo::<KeyCreation>(&memory::key_item(account, key))
                        .await
                }
                None => Ok(None),
            }
        };
        let user = async {
            match &ask.created_user {
                Some(name) => {
                    self.memo::<UserCreation>(&memory::user_item(&ask.account, name.as_str()))
                        .await
                }
                None => Ok(None),
            }
        };
        let launches = async {
            match &ask.launch {
                None => Ok(Vec::new()),
                Some((signer, launch)) => {
                    let key = memory::counted_under(signer, session_parent.as_ref());
                    let all = if !count {
                        let mut all = launches_of(
                            self.get(&memory::launches_item(&ask.account, key))
                                .await?
                                .as_ref(),
                        );
                        all.retain(|l| l.event_id != launch.event_id);
                        all.push(launch.clone());
                        all
                    } else {
                        self.count(&ask.account, key, launch, minutes).await?
                    };
                    Ok(memory::within(all, launch.at, minutes))
                }
            }
        };
        let (signer_created, user_created, launches) = futures::try_join!(signer, user, launches)?;
        Ok(Recall {
            signer_created,
            user_created,
            session_parent,
            launches,
        })
    }

    /// Adds one launch to the key's item, keyed by its event (a redelivery counts once),
    /// and returns every launch the item then holds. The map is created by the first
    /// launch; a launch that finds it created meanwhile adds itself again. A full item
    /// takes no more: the launch is counted beside what it holds.
    async fn count(
        &self,
        account: &AccountId,
        key: &AccessKeyId,
        launch: &Launch,
        minutes: u32,
    ) -> Result<Vec<Launch>, EffectError> {
        let item = memory::launches_item(account, key);
        let entry = encode(launch)?;
        let expires = expiry(launch.at, minutes);
        for _ in 0..3 {
            let added = self
                .ledger
                .client()
                .update_item()
                .table_name(self.ledger.table())
                .key(crate::ledger::KEY, s(&item))
                .update_expression("SET #l.#e = :v, expires_at = :x")
                .condition_expression(
                    "attribute_exists(#l) AND (size(#l) < :cap OR attribute_exists(#l.#e))",
                )
                .expression_attribute_names("#l", LAUNCHES)
                .expression_attribute_names("#e", &launch.event_id)
                .expression_attribute_values(":v", s(&entry))
                .expression_attribute_values(":x", n(expires))
                .expression_attribute_values(
                    ":cap",
                    n(i64::try_from(self.launches_kept).unwrap_or(i64::MAX)),
                )
                .return_values(ReturnValue::AllNew)
                .send()
                .await
                .map_err(|e| effect_error(&e));
            match added {
                Ok(out) => {
                    let all = launches_of(out.attributes.as_ref());
                    self.prune(&item, &all, launch.at, minutes).await;
                    return Ok(all);
                }
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(e),
            }
            let first = self
                .ledger
                .client()
                .put_item()
                .table_name(self.ledger.table())
                .item(crate::ledger::KEY, s(&item))
                .item("kind", s("memory"))
                .item(
                    LAUNCHES,
                    AttributeValue::M(HashMap::from([(launch.event_id.clone(), s(&entry))])),
                )
                .item("expires_at", n(expires))
                .condition_expression("attribute_not_exists(#k)")
                .expression_attribute_names("#k", crate::ledger::KEY)
                .send()
                .await
                .map_err(|e| effect_error(&e));
            match first {
                Ok(_) => return Ok(vec![launch.clone()]),
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(e),
            }
            // The item exists, so the update found it full (or lost a race with the first
            // launch's write: then the next round adds this one).
            let mut held = launches_of(self.get(&item).await?.as_ref());
            if held.len() >= self.launches_kept {
                held.retain(|l| l.event_id != launch.event_id);
                held.push(launch.clone());
                self.prune(&item, &held, launch.at, minutes).await;
                return Ok(held);
            }
        }
        Err(EffectError::new(
            ErrorKind::Other,
            None,
            format!("the launches of key {key} changed under every attempt to count one"),
        ))
    }

    /// Removes launches no window can reach any more, so a key's item stays small. Best
    /// effort: a failure leaves them for the next launch, and the count is right either way.
    async fn prune(&self, item: &str, all: &[Launch], at: Timestamp, minutes: u32) {
        let reach = chrono::Duration::minutes(2 * i64::from(minutes));
        let Some(stale_before) = at.checked_sub_signed(reach) else {
            return;
        };
        let stale: Vec<&Launch> = all
            .iter()
            .filter(|l| l.at < stale_before)
            .take(PRUNED_PER_CALL)
            .collect();
        if stale.is_empty() {
            return;
        }
        let mut update = self
            .ledger
            .client()
            .update_item()
            .table_name(self.ledger.table())
            .key(crate::ledger::KEY, s(item))
            .expression_attribute_names("#l", LAUNCHES);
        let mut paths = Vec::new();
        for (i, launch) in stale.iter().enumerate() {
            update = update.expression_attribute_names(format!("#s{i}"), &launch.event_id);
            paths.push(format!("#l.#s{i}"));
        }
        // Never an item of its own: an update on a key that is gone would create one.
        if let Err(e) = update
            .condition_expression("attribute_exists(#l)")
            .update_expression(format!("REMOVE {}", paths.join(", ")))
            .send()
            .await
        {
            tracing::warn!(error = %effect_error(&e), "stale launches not removed; the next launch tries again");
        }
    }

    /// Keeps a memo until `until`, unless a later event's is kept
    /// ([`crate::ledger::put_latest`]). Returns whether this one was kept.
    pub async fn remember(
        &self,
        account: &AccountId,
        memo: &Memo,
        until: Timestamp,
    ) -> Result<bool, EffectError> {
        let json = match memo {
            Memo::KeyCreated(k) => encode(k)?,
            Memo::UserCreated(u) => encode(u)?,
            Memo::SessionMinted(s) => encode(s)?,
        };
        crate::ledger::put_latest(
            self.ledger.client(),
            self.ledger.table(),
            memo.item(account),
            memo.at().timestamp(),
            vec![
                ("kind", s("memory")),
                (MEMO, s(json)),
                ("expires_at", n(until.timestamp() + TTL_MARGIN_SECONDS)),
            ],
        )
        .await
    }
}

/// When a launches item may go: a window after the later of its event and now.
fn expiry(at: Timestamp, minutes: u32) -> i64 {
    let latest = at.max(chrono::Utc::now()).timestamp();
    latest + i64::from(minutes) * 60 + TTL_MARGIN_SECONDS
}
