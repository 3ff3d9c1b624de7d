//! IAM key lifecycle for secrets-rotator: create and delete keys, and the inventory of
//! every user's keys (with last use and tags) that the scheduled sweep reads.
//!
//! The sweep reads only the users it needs (the credential report's candidates and the
//! users of managed secrets): per user one `ListAccessKeys`, one `ListUserTags` and one
//! `GetAccessKeyLastUsed` per key.

use crate::error::effect_error;
use crate::iam::status_of;
use crate::Iam;
use keyguard_core::policy::containment::IamReader;
use keyguard_core::policy::sweep::{KeyFacts, UserFacts};
use keyguard_core::unread::Unread;
use keyguard_core::{AccessKeyId, EffectError, ErrorKind, Principal, Timestamp, UserName};

/// A new key's id and secret. The secret is only ever handed to Secrets Manager; this
/// type neither prints nor serialises it.
pub struct NewKey {
    pub key_id: String,
    pub secret: String,
}

impl NewKey {
    /// The secret value keyguard stores for a user's key, as secrets-rotator reads it:
    /// `{"UserName", "AccessKeyId", "SecretAccessKey"}`. Only for Secrets Manager.
    pub fn secret_value(&self, user: &UserName) -> String {
        serde_json::json!({
            "UserName": user.as_str(),
            "AccessKeyId": self.key_id,
            "SecretAccessKey": self.secret,
        })
        .to_string()
    }
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewKey({}, secret redacted)", self.key_id)
    }
}

pub(crate) fn timestamp(t: Option<&aws_smithy_types::DateTime>) -> Option<Timestamp> {
    let t = t?;
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

impl Iam {
    pub async fn create_key(&self, user: &UserName) -> Result<NewKey, EffectError> {
        let out = self
            .client
            .create_access_key()
            .user_name(user.as_str())
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        let key = out.access_key().ok_or_else(|| {
            EffectError::new(ErrorKind::Other, None, "CreateAccessKey returned no key")
        })?;
        Ok(NewKey {
            key_id: key.access_key_id().to_owned(),
            secret: key.secret_access_key().to_owned(),
        })
    }

    /// `DeleteAccessKey` for exactly this key.
    pub async fn delete_key(
        &self,
        user: &UserName,
        key_id: &AccessKeyId,
    ) -> Result<(), EffectError> {
        self.client
            .delete_access_key()
            .user_name(user.as_str())
            .access_key_id(key_id.as_str())
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(())
    }

    /// These users' keys, last use and tags, a few users at a time
    /// ([`crate::users::read_each`]): a user deleted meanwhile is skipped, one whose
    /// reads fail (a `GetAccessKeyLastUsed` throttled past the SDK's retries, say) is set
    /// apart and named, and the sweep goes on for the rest.
    pub async fn sweep_users(&self, names: &[String]) -> (Vec<UserFacts>, Vec<Unread>) {
        crate::users::read_each(names, |name| self.sweep_user(name)).await
    }

    async fn sweep_user(&self, name: &str) -> Result<Option<UserFacts>, EffectError> {
        let Ok(user) = UserName::parse(name) else {
            return Ok(None);
        };
        let Some(keys) = self.key_facts(name).await? else {
            return Ok(None);
        };
        let Some(tags) = self.tags(&Principal::User(user)).await? else {
            return Ok(None);
        };
        Ok(Some(UserFacts {
            name: name.to_owned(),
            tags,
            keys,
        }))
    }

    async fn key_facts(&self, user: &str) -> Result<Option<Vec<KeyFacts>>, EffectError> {
        let Some(listed) = self.access_keys(user).await? else {
            return Ok(None);
        };
        let mut keys = Vec::with_capacity(listed.len());
        for meta in listed {
            let (Some(key_id), Some(created)) =
                (meta.access_key_id(), timestamp(meta.create_date()))
            else {
                continue;
            };
            let used = self
                .client
                .get_access_key_last_used()
                .access_key_id(key_id)
                .send()
                .await
                .map_err(|e| effect_error(&e))?;
            keys.push(KeyFacts {
                key_id: key_id.to_owned(),
                status: status_of(&meta),
                created,
                last_used: timestamp(used.access_key_last_used().and_then(|u| u.last_used_date())),
            });
        }
        Ok(Some(keys))
    }
}
