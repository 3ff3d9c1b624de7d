//! IAM: the reads containment needs and the two writes it makes.

use crate::error::effect_error;
use aws_sdk_iam::types::{AccessKeyMetadata, StatusType, Tag};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use keyguard_core::policy::containment::{IamReader, KeyStatus, UserKeys};
use keyguard_core::{
    revocation, AccessKeyId, EffectError, ErrorKind, Principal, Timestamp, UserName,
};
use std::collections::BTreeMap;

#[derive(Clone)]
pub struct Iam {
    pub(crate) client: aws_sdk_iam::Client,
    /// keyguard's record of who set exemption tags, for the functions that contain.
    exemptions: Option<crate::Exemptions>,
}

/// IAM answers "no such user/role" with NoSuchEntity: that is a fact (`None`), not a failure.
fn none_if_missing<T>(e: EffectError) -> Result<Option<T>, EffectError> {
    match e.kind {
        ErrorKind::NotFound => Ok(None),
        _ => Err(e),
    }
}

impl Iam {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self::from_client(aws_sdk_iam::Client::new(config))
    }

    /// IAM through a client built elsewhere (e.g. with another account's credentials).
    pub fn from_client(client: aws_sdk_iam::Client) -> Self {
        Self {
            client,
            exemptions: None,
        }
    }

    /// This IAM view, reading keyguard's record of who set exemption tags as well.
    pub fn with_exemptions(mut self, exemptions: crate::Exemptions) -> Self {
        self.exemptions = Some(exemptions);
        self
    }

    /// `UpdateAccessKey Status=Inactive` for exactly this key of this user.
    pub async fn deactivate_key(
        &self,
        user: &UserName,
        key_id: &AccessKeyId,
    ) -> Result<(), EffectError> {
        self.set_status(user, key_id, StatusType::Inactive).await
    }

    /// `UpdateAccessKey Status=Active`: only `keyguard undo` calls it.
    pub async fn reactivate_key(
        &self,
        user: &UserName,
        key_id: &AccessKeyId,
    ) -> Result<(), EffectError> {
        self.set_status(user, key_id, StatusType::Active).await
    }

    async fn set_status(
        &self,
        user: &UserName,
        key_id: &AccessKeyId,
        status: StatusType,
    ) -> Result<(), EffectError> {
        self.client
            .update_access_key()
            .user_name(user.as_str())
            .access_key_id(key_id.as_str())
            .status(status)
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(())
    }

    /// `PutUserPolicy` or `PutRolePolicy`.
    async fn put_policy(
        &self,
        principal: &Principal,
        policy_name: &str,
        document: String,
    ) -> Result<(), EffectError> {
        match principal {
            Principal::Role(role) => self
                .client
                .put_role_policy()
                .role_name(role.as_str())
                .policy_name(policy_name)
                .policy_document(document)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| effect_error(&e)),
            Principal::User(user) => self
                .client
                .put_user_policy()
                .user_name(user.as_str())
                .policy_name(policy_name)
                .policy_document(document)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| effect_error(&e)),
        }
    }

    /// The user's inline policy put back: this document, or none at all (a policy
    /// already gone is what was asked for).
    pub async fn restore_user_policy(
        &self,
        user: &UserName,
        policy_name: &str,
        document: Option<&str>,
    ) -> Result<(), EffectError> {
        let done = match document {
            Some(d) => {
                self.put_policy(&Principal::User(user.clone()), policy_name, d.to_owned())
                    .await
            }
            None => self
                .client
                .delete_user_policy()
                .user_name(user.as_str())
                .policy_name(policy_name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| effect_error(&e)),
        };
        match done {
            Err(e) if document.is_none() && e.kind == ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// The key's status as the user's listing says it, for the ledger before the key
    /// is changed. NotFound when the user does not hold it.
    pub async fn key_status(
        &self,
        user: &UserName,
        key_id: &AccessKeyId,
    ) -> Result<String, EffectError> {
        let keys = self.access_keys(user.as_str()).await?.unwrap_or_default();
        keys.iter()
            .find(|m| m.access_key_id() == Some(key_id.as_str()))
            .map(|m| m.status().map_or("unknown", |s| s.as_str()).to_owned())
            .ok_or_else(|| {
                EffectError::new(
                    ErrorKind::NotFound,
                    Some("NoSuchEntity"),
                    format!("user {user} has no access key {key_id}"),
                )
            })
    }

    /// The principal's inline policy of this name, as plain JSON; `None` when it has
    /// none. IAM returns the document URL-encoded (RFC 3986).
    pub async fn inline_policy(
        &self,
        principal: &Principal,
        policy_name: &str,
    ) -> Result<Option<String>, EffectError> {
        let document = match principal {
            Principal::User(user) => self
                .client
                .get_user_policy()
                .user_name(user.as_str())
                .policy_name(policy_name)
                .send()
                .await
                .map(|o| o.policy_document)
                .map_err(|e| effect_error(&e)),
            Principal::Role(role) => self
                .client
                .get_role_policy()
                .role_name(role.as_str())
                .policy_name(policy_name)
                .send()
                .await
                .map(|o| o.policy_document)
                .map_err(|e| effect_error(&e)),
        };
        match document {
            Ok(d) => Ok(Some(plain_policy(&d))),
            // No such policy; a missing principal fails the write that follows, as it should.
            Err(e) => none_if_missing(e),
        }
    }

    /// Puts the revocation policy on the principal, with the cut-off
    /// [`keyguard_core::revocation::cut_off`] picks from the plan's, now, and the one
    /// already in force (`prior`). Returns the cut-off written.
    pub async fn revoke_sessions(
        &self,
        principal: &Principal,
        issued_before: Timestamp,
        policy_name: &str,
        prior: Option<&str>,
    ) -> Result<Timestamp, EffectError> {
        let cut_off = revocation::cut_off(issued_before, chrono::Utc::now(), prior);
        self.put_policy(principal, policy_name, revocation::policy_document(cut_off))
            .await?;
        Ok(cut_off)
    }
}

/// A policy document as IAM returns it (URL-encoded) made plain JSON again. A document
/// that already parses as JSON (moto returns them so) is kept as it is.
pub fn plain_policy(raw: &str) -> String {
    if serde_json::from_str::<serde_json::Value>(raw).is_ok() {
        return raw.to_owned();
    }
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_or_else(|_| raw.to_owned(), |d| d.into_owned())
}

impl IamReader for Iam {
    async fn exemption_set(
        &self,
        principal: &Principal,
    ) -> Result<Option<keyguard_core::exemption::Provenance>, EffectError> {
        match &self.exemptions {
            Some(record) => record.read(principal).await,
            None => Ok(None),
        }
    }

    async fn key_owner(&self, key_id: &AccessKeyId) -> Result<Option<UserName>, EffectError> {
        let out = match self
            .client
            .get_access_key_last_used()
            .access_key_id(key_id.as_str())
            .send()
            .await
        {
            Ok(out) => Some(out),
            Err(e) => none_if_missing(effect_error(&e))?,
        };
        Ok(out
            .and_then(|o| o.user_name)
            .and_then(|name| UserName::parse(&name).ok()))
    }

    async fn key_last_used(&self, key_id: &AccessKeyId) -> Result<Option<Timestamp>, EffectError> {
        match self
            .client
            .get_access_key_last_used()
            .access_key_id(key_id.as_str())
            .send()
            .await
        {
            Ok(out) => Ok(crate::keys::timestamp(
                out.access_key_last_used().and_then(|u| u.last_used_date()),
            )),
            Err(e) => none_if_missing(effect_error(&e)),
        }
    }

    async fn canary_denied(&self, user: &UserName) -> Result<bool, EffectError> {
        Ok(self
            .inline_policy(
                &Principal::User(user.clone()),
                keyguard_core::canary::DENY_POLICY_NAME,
            )
            .await?
            .is_some_and(|d| keyguard_core::canary::denies_everything(&d)))
    }

    async fn revocation_cut_off(
        &self,
        principal: &Principal,
        policy_name: &str,
    ) -> Result<Option<Timestamp>, EffectError> {
        Ok(self
            .inline_policy(principal, policy_name)
            .await?
            .as_deref()
            .and_then(revocation::cut_off_of))
    }

    async fn user_keys(&self, user: &UserName) -> Result<Option<UserKeys>, EffectError> {
        Ok(self.access_keys(user.as_str()).await?.map(|keys| UserKeys {
            // The name as IAM spells it, which is the one to act on.
            user: keys
                .iter()
                .find_map(|m| m.user_name())
                .and_then(|n| UserName::parse(n).ok()),
            keys: keys
                .iter()
                .filter_map(|m| Some((m.access_key_id()?.to_owned(), status_of(m))))
                .collect(),
        }))
    }

    async fn pause(&self, wait: std::time::Duration) {
        tokio::time::sleep(wait).await;
    }

    async fn tags(
        &self,
        principal: &Principal,
    ) -> Result<Option<BTreeMap<String, String>>, EffectError> {
        match principal {
            Principal::User(user) => {
                let pages = self
                    .client
                    .list_user_tags()
                    .user_name(user.as_str())
                    .into_paginator();
                tag_map(pages.items().send().collect().await)
            }
            Principal::Role(role) => {
                let pages = self
                    .client
                    .list_role_tags()
                    .role_name(role.as_str())
                    .into_paginator();
                tag_map(pages.items().send().collect().await)
            }
        }
    }
}

impl Iam {
    /// The user's keys, all pages (at most two keys per user, but never trust a first
    /// page); `None` when there is no such user.
    pub(crate) async fn access_keys(
        &self,
        user: &str,
    ) -> Result<Option<Vec<AccessKeyMetadata>>, EffectError> {
        let listed = self
            .client
            .list_access_keys()
            .user_name(user)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await;
        match listed {
            Ok(keys) => Ok(Some(keys)),
            Err(e) => none_if_missing(effect_error(&e)),
        }
    }
}

/// The status as IAM says it. Only `Inactive` is Inactive: an `Expired` key, or a status
/// this SDK does not know yet, is never taken for a contained one.
pub(crate) fn status_of(meta: &AccessKeyMetadata) -> KeyStatus {
    match meta.status() {
        Some(StatusType::Active) => KeyStatus::Active,
        Some(StatusType::Inactive) => KeyStatus::Inactive,
        Some(other) => KeyStatus::from_iam(other.as_str()),
        None => KeyStatus::Other,
    }
}

/// All pages of a principal's tags; `None` when the principal does not exist.
fn tag_map<E, R>(
    items: Vec<Result<Tag, SdkError<E, R>>>,
) -> Result<Option<BTreeMap<String, String>>, EffectError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let mut tags = BTreeMap::new();
    for item in items {
        match item {
            Ok(t) => {
                tags.insert(t.key, t.value);
            }
            Err(e) => return none_if_missing(effect_error(&e)),
        }
    }
    Ok(Some(tags))
}

#[cfg(test)]
mod tests {
    use super::plain_policy;

    #[test]
    fn a_policy_document_iam_url_encoded_reads_as_json_again() {
        let json = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Deny%22%2C%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D";
        assert_eq!(plain_policy(encoded), json);
        assert_eq!(plain_policy(json), json);
    }
}
