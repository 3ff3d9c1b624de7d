//! keyguard's record of who set each principal's exemption tag
//! (`keyguard_core::exemption`), one item per principal in the ledger's table, the
//! latest call winning. createkey-detector writes it; containment reads it for a
//! principal tagged exempt. It has no TTL: a tag lasts until someone removes it.

use crate::error::effect_error;
use crate::ledger::s;
use aws_sdk_dynamodb::types::AttributeValue;
use keyguard_core::exemption::{ledger_key, Provenance};
use keyguard_core::{AccountId, EffectError, ErrorKind, Principal};

#[derive(Clone)]
pub struct Exemptions {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// The account reads are about: keyguard's own, or the member a credential is in.
    account: Option<AccountId>,
}

impl Exemptions {
    pub fn new(ledger: &crate::DynamoLedger, account: Option<AccountId>) -> Self {
        Self {
            client: ledger.client().clone(),
            table: ledger.table().to_owned(),
            account,
        }
    }

    /// The same record, read about `account` (a member account's principals).
    pub fn in_account(&self, account: &AccountId) -> Self {
        Self {
            account: Some(account.clone()),
            ..self.clone()
        }
    }

    /// Keeps who set the tag, unless a call made later is already kept (EventBridge does
    /// not deliver in order). Returns whether this one was kept.
    pub async fn record(
        &self,
        account: Option<&AccountId>,
        principal: &Principal,
        p: &Provenance,
    ) -> Result<bool, EffectError> {
        let json = serde_json::to_string(p)
            .map_err(|e| EffectError::new(ErrorKind::Other, None, e.to_string()))?;
        let at = keyguard_core::parse_time(&p.at).map_or(0, |t| t.timestamp());
        crate::ledger::put_latest(
            &self.client,
            &self.table,
            ledger_key(account, principal),
            at,
            vec![("kind", s("exemption")), ("provenance", s(&json))],
        )
        .await
    }

    /// Who set the principal's tag in this record's account, if keyguard saw it set.
    pub async fn read(&self, principal: &Principal) -> Result<Option<Provenance>, EffectError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(
                crate::ledger::KEY,
                s(ledger_key(self.account.as_ref(), principal)),
            )
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        // An item that is there but does not read back vouches for nothing.
        Ok(out.item.as_ref().map(|i| match i.get("provenance") {
            Some(AttributeValue::S(json)) => {
                serde_json::from_str(json).unwrap_or_else(|_| Provenance::unreadable())
            }
            _ => Provenance::unreadable(),
        }))
    }
}
