//! IAM for canaries (`keyguard canary`, the hourly last-use check): make one, find them,
//! remove one. What makes a user a canary is `keyguard_core::canary`.

use crate::error::effect_error;
use crate::iam::{status_of, Iam};
use crate::keys::{timestamp, NewKey};
use aws_sdk_iam::types::Tag;
use keyguard_core::canary::{self, CanaryKey};
use keyguard_core::policy::containment::IamReader;
use keyguard_core::{AccessKeyId, EffectError, ErrorKind, Principal, UserName};

/// What IAM holds under a canary's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Nothing,
    /// A user of that name that is not a canary (no tag): never keyguard's to touch.
    NotACanary,
    /// A canary, with its keys and whether its deny is in place and denies everything.
    Canary {
        keys: Vec<AccessKeyId>,
        denied: bool,
    },
}

fn other(message: impl Into<String>) -> EffectError {
    EffectError::new(ErrorKind::Other, None, message)
}

impl Iam {
    /// What IAM holds under `user`.
    pub async fn canary(&self, user: &UserName) -> Result<Found, EffectError> {
        let Some(tags) = self.tags(&Principal::User(user.clone())).await? else {
            return Ok(Found::Nothing);
        };
        if !canary::is_canary(user.as_str(), &tags) {
            return Ok(Found::NotACanary);
        }
        let keys = self
            .access_keys(user.as_str())
            .await?
            .unwrap_or_default()
            .iter()
            .filter_map(|k| k.access_key_id().and_then(|id| AccessKeyId::parse(id).ok()))
            .collect();
        // In place and still denying everything: a deny rewritten into an allow is no deny.
        let denied = self.canary_denied(user).await?;
        Ok(Found::Canary { keys, denied })
    }

    /// A new canary user under keyguard's path, tagged, denied everything, then its one
    /// key. The deny is in place before the key exists, so the key never works.
    pub async fn create_canary(&self, user: &UserName) -> Result<NewKey, EffectError> {
        let tag = Tag::builder()
            .key(canary::TAG.0)
            .value(canary::TAG.1)
            .build()
            .map_err(|e| other(format!("the canary tag: {e}")))?;
        self.client
            .create_user()
            .user_name(user.as_str())
            .path(canary::PATH)
            .tags(tag)
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        self.client
            .put_user_policy()
            .user_name(user.as_str())
            .policy_name(canary::DENY_POLICY_NAME)
            .policy_document(canary::DENY_DOCUMENT)
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        self.create_key(user).await
    }

    /// Every canary (a user with a canary's name, on any path, and its tag), whether it
    /// can still do nothing, and each of its keys with their last use.
    pub async fn canaries(&self) -> Result<Vec<CanaryKey>, EffectError> {
        // Every user, not only those under the canary path: a user named like a canary
        // anywhere is alerted on, so it is checked here too (by name, then its tag).
        let users = self
            .client
            .list_users()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| effect_error(&e))?;
        let mut found = Vec::new();
        for u in users {
            if !canary::named(u.user_name()) {
                continue;
            }
            let Ok(user) = UserName::parse(u.user_name()) else {
                continue;
            };
            let tags = self.tags(&Principal::User(user.clone())).await?;
            if !tags.is_some_and(|t| canary::is_canary(user.as_str(), &t)) {
                continue;
            }
            let denied = self.canary_denied(&user).await?;
            for meta in self.access_keys(user.as_str()).await?.unwrap_or_default() {
                let Some(key_id) = meta
                    .access_key_id()
                    .and_then(|k| AccessKeyId::parse(k).ok())
                else {
                    continue;
                };
                // A canary deleted between the listing and this read is simply gone.
                let used = match self
                    .client
                    .get_access_key_last_used()
                    .access_key_id(key_id.as_str())
                    .send()
                    .await
                {
                    Ok(used) => used,
                    Err(e) => match effect_error(&e) {
                        e if e.kind == ErrorKind::NotFound => continue,
                        e => return Err(e),
                    },
                };
                let last = used.access_key_last_used();
                found.push(CanaryKey {
                    user: user.clone(),
                    status: meta.status().map_or_else(
                        || format!("{:?}", status_of(&meta)),
                        |s| s.as_str().to_owned(),
                    ),
                    created: timestamp(meta.create_date()),
                    last_used: timestamp(last.and_then(|l| l.last_used_date())),
                    service: last.map(|l| l.service_name().to_owned()),
                    region: last.map(|l| l.region().to_owned()),
                    denied,
                    key_id,
                });
            }
        }
        Ok(found)
    }

    /// Removes a canary: its keys, its deny policy, then the user. Only a canary: the
    /// caller checks [`Iam::canary`] first.
    pub async fn delete_canary(
        &self,
        user: &UserName,
        keys: &[AccessKeyId],
    ) -> Result<(), EffectError> {
        for key in keys {
            self.delete_key(user, key).await?;
        }
        // The policy of that name, whatever it says now (an allow in its place too);
        // none at all is fine.
        if let Err(e) = self
            .client
            .delete_user_policy()
            .user_name(user.as_str())
            .policy_name(canary::DENY_POLICY_NAME)
            .send()
            .await
        {
            let e = effect_error(&e);
            if e.kind != ErrorKind::NotFound {
                return Err(e);
            }
        }
        self.client
            .delete_user()
            .user_name(user.as_str())
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(())
    }
}

/// Whether a Secrets Manager secret of this name or ARN exists (a deleted one that is
/// scheduled for deletion counts: its name cannot be reused yet).
pub async fn secret_exists(sdk: &aws_config::SdkConfig, id: &str) -> Result<bool, EffectError> {
    match aws_sdk_secretsmanager::Client::new(sdk)
        .describe_secret()
        .secret_id(id)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => {
            let e = effect_error(&e);
            match e.kind {
                ErrorKind::NotFound => Ok(false),
                _ => Err(e),
            }
        }
    }
}

/// A new secret holding the canary's credentials, in the shape secrets-rotator uses. Not
/// tagged for rotation: a canary's key never changes.
pub async fn store(
    sdk: &aws_config::SdkConfig,
    id: &str,
    user: &UserName,
    key: &NewKey,
) -> Result<(), EffectError> {
    let value = key.secret_value(user);
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(id)
        .description("keyguard canary: decoy credentials, any use of which is an alarm")
        .secret_string(value)
        .send()
        .await
        .map_err(|e| effect_error(&e))?;
    Ok(())
}
