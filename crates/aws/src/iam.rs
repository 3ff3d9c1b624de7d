//! IAM: the reads containment needs and the two writes it makes.

use crate::error::effect_error;
use aws_sdk_iam::types::{AccessKeyMetadata, StatusType, Tag};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use keyguard_core::policy::containment::{IamReader, KeyStatus, UserKeys};
use keyguard_core::{AccessKeyId, EffectError, ErrorKind, Principal, Timestamp, UserName};
use std::collections::BTreeMap;

#[derive(Clone)]
pub struct Iam {
    pub(crate) client: aws_sdk_iam::Client,
}

/// IAM answers "no such user/role" with NoSuchEntity: that is a fact (`None`), not a failure.
fn none_if_missing<T>(e: EffectError) -> Result<Option<T>, EffectError> {
    match e.kind {
        ErrorKind::NotFound => Ok(None),
        _ => Err(e),
    }
}

/// The inline policy AWS documents for revoking a role's sessions: deny everything to
/// any credential whose token was issued before the cut-off. Long-term keys carry no
/// `aws:TokenIssueTime`, so a user's own key is not affected.
pub fn revoke_policy(issued_before: Timestamp) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "KeyguardRevokeOlderSessions",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": issued_before.format("%Y-%m-%dT%H:%M:%SZ").to_string()}}
        }]
    })
    .to_string()
}

impl Iam {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self::from_client(aws_sdk_iam::Client::new(config))
    }

    /// IAM through a client built elsewhere (e.g. with another account's credentials).
    pub fn from_client(client: aws_sdk_iam::Client) -> Self {
        Self { client }
    }

    /// `UpdateAccessKey Status=Inactive` for exactly this key of this user.
    pub async fn deactivate_key(
        &self,
        user: &UserName,
        key_id: &AccessKeyId,
    ) -> Result<(), EffectError> {
        self.client
            .update_access_key()
            .user_name(user.as_str())
            .access_key_id(key_id.as_str())
            .status(StatusType::Inactive)
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(())
    }

    pub async fn revoke_sessions(
        &self,
        principal: &Principal,
        issued_before: Timestamp,
        policy_name: &str,
    ) -> Result<(), EffectError> {
        let document = revoke_policy(issued_before);
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
}

impl IamReader for Iam {
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
