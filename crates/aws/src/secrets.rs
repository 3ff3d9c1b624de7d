//! Secrets Manager for secrets-rotator: the facts a rotation step needs, storing and
//! promoting versions, testing a pending key, and the managed secrets the sweep reads.
//!
//! Every read names its version stage explicitly: after a stage move, moto (unlike AWS)
//! still answers an unqualified read with the old value, and being explicit is right
//! against AWS too. A secret value is parsed for `UserName` and `AccessKeyId` only; the
//! secret access key is read solely to sign the test call and is dropped after it.

use crate::error::effect_error;
use crate::keys::{timestamp, NewKey};
use keyguard_core::policy::rotation::{HeldKey, SecretFacts, CURRENT, PENDING, PREVIOUS};
use keyguard_core::policy::sweep::ManagedSecret;
use keyguard_core::{EffectError, ErrorKind, UserName};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone)]
pub struct Secrets {
    client: aws_sdk_secretsmanager::Client,
    sdk: aws_config::SdkConfig,
    /// How often, and how far apart, `testSecret` tries the new key: IAM is eventually
    /// consistent, and a key seconds old may not sign in yet.
    test_attempts: u32,
    test_delay: Duration,
}

/// The parts of a secret value keyguard reads. `SecretAccessKey` is not one of them.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Held {
    user_name: Option<String>,
    access_key_id: Option<String>,
}

/// Metadata of a secret: its ARN, tags, versions and their stages, when rotated.
pub struct Described {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
    pub versions: BTreeMap<String, Vec<String>>,
    pub last_rotated: Option<keyguard_core::Timestamp>,
}

fn not_there(e: &EffectError) -> bool {
    // No such secret or version, or a stage not on that version: a fact, not a failure.
    e.kind == ErrorKind::NotFound || e.code.as_deref() == Some("InvalidRequestException")
}

impl Secrets {
    pub fn new(config: &aws_config::SdkConfig, test_attempts: u32, test_delay: Duration) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(config),
            sdk: config.clone(),
            test_attempts: test_attempts.max(1),
            test_delay,
        }
    }

    pub async fn describe(&self, id: &str) -> Result<Option<Described>, EffectError> {
        let out = match self.client.describe_secret().secret_id(id).send().await {
            Ok(out) => out,
            Err(e) => {
                let e = effect_error(&e);
                return if e.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        let arn = out.arn().unwrap_or(id).to_owned();
        let tags = out
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
            .collect();
        let versions = out
            .version_ids_to_stages()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        Ok(Some(Described {
            arn,
            tags,
            versions,
            last_rotated: timestamp(out.last_rotated_date()),
        }))
    }

    /// What a version holds, by stage (and version id when given); `None` if nothing.
    pub async fn held(
        &self,
        id: &str,
        stage: &str,
        version: Option<&str>,
    ) -> Result<Option<HeldKey>, EffectError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .version_stage(stage)
            .set_version_id(version.map(str::to_owned))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                let e = effect_error(&e);
                return if not_there(&e) { Ok(None) } else { Err(e) };
            }
        };
        // A value that is not keyguard's JSON holds no key (e.g. a fresh placeholder).
        let held: Option<Held> = out
            .secret_string()
            .and_then(|s| serde_json::from_str(s).ok());
        Ok(Some(HeldKey {
            user: held.as_ref().and_then(|h| h.user_name.clone()),
            key_id: held.and_then(|h| h.access_key_id),
        }))
    }

    /// Everything a rotation step decides on from Secrets Manager, for `token`. The
    /// user's keys are IAM's to fill in.
    pub async fn rotation_facts(
        &self,
        id: &str,
        token: &str,
    ) -> Result<Option<SecretFacts>, EffectError> {
        let meta = match self.describe(id).await {
            Ok(Some(meta)) => meta,
            Ok(None) => return Ok(None),
            // The role may describe only secrets tagged for keyguard, and AWS answers
            // AccessDenied for one it may not read, existing or not: for a rotation step
            // that is no secret of keyguard's (moto, which checks no permission, answers
            // ResourceNotFound). Logged with AWS's words, since it may also be a policy
            // that denies what should be allowed. The sweep keeps it an error.
            Err(e) if e.code.as_deref() == Some("AccessDeniedException") => {
                tracing::warn!(secret = id, error = %e, "rotation step for a secret keyguard may not describe");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let current = self.held(&meta.arn, CURRENT, None).await?;
        let pending = self.held(&meta.arn, PENDING, Some(token)).await?;
        let has_previous = meta
            .versions
            .values()
            .any(|stages| stages.iter().any(|s| s == PREVIOUS));
        let previous = if has_previous {
            self.held(&meta.arn, PREVIOUS, None).await?
        } else {
            None
        };
        Ok(Some(SecretFacts {
            arn: meta.arn,
            tags: meta.tags,
            versions: meta.versions,
            current,
            pending,
            previous,
            user_keys: None,
            user_tags: Default::default(),
            contained: Default::default(),
        }))
    }

    /// The new key as the `AWSPENDING` version for `token`.
    pub async fn store_pending(
        &self,
        id: &str,
        token: &str,
        user: &UserName,
        key: &NewKey,
    ) -> Result<(), EffectError> {
        let value = key.secret_value(user);
        self.client
            .put_secret_value()
            .secret_id(id)
            .client_request_token(token)
            .secret_string(value)
            .version_stages(PENDING)
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(())
    }

    /// `AWSCURRENT` to `token`; the service moves the old current to `AWSPREVIOUS`.
    pub async fn promote(
        &self,
        id: &str,
        token: &str,
        from: Option<&str>,
    ) -> Result<(), EffectError> {
        self.client
            .update_secret_version_stage()
            .secret_id(id)
            .version_stage(CURRENT)
            .move_to_version_id(token)
            .set_remove_from_version_id(from.map(str::to_owned))
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(())
    }

    /// Signs `sts:GetCallerIdentity` with the pending key until it answers as `user`, at
    /// most `test_attempts` times. Returns the ARN it answered with.
    pub async fn test_pending(
        &self,
        id: &str,
        token: &str,
        user: &UserName,
    ) -> Result<String, EffectError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .version_id(token)
            .version_stage(PENDING)
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Signing {
            access_key_id: String,
            secret_access_key: String,
        }
        let signing: Signing = out
            .secret_string()
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| {
                EffectError::new(
                    ErrorKind::Other,
                    None,
                    format!("the AWSPENDING value of {id} is not keyguard's key JSON"),
                )
            })?;
        let credentials = aws_sdk_sts::config::Credentials::new(
            signing.access_key_id,
            signing.secret_access_key,
            None,
            None,
            "keyguard-pending-key",
        );
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&self.sdk)
                .credentials_provider(credentials)
                .build(),
        );
        let mut last = String::new();
        for attempt in 1..=self.test_attempts {
            match sts.get_caller_identity().send().await {
                Ok(me) => {
                    let arn = me.arn().unwrap_or_default().to_owned();
                    if crate::identity::user_from_arn(&arn)
                        .is_some_and(|u| keyguard_core::guard::same_name(u, user.as_str()))
                    {
                        return Ok(arn);
                    }
                    last = format!("the pending key signs in as {arn}, not as user {user}");
                    // A wrong identity will not become right by waiting.
                    break;
                }
                Err(e) => last = effect_error(&e).to_string(),
            }
            if attempt < self.test_attempts {
                tokio::time::sleep(self.test_delay).await;
            }
        }
        Err(EffectError::new(
            ErrorKind::Other,
            Some("PendingKeyTestFailed"),
            format!("testSecret after {} attempt(s): {last}", self.test_attempts),
        ))
    }

    /// Every secret tagged `tag`, with the keys its current and previous versions hold.
    pub async fn managed(&self, tag: &str) -> Result<Vec<ManagedSecret>, EffectError> {
        use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
        let listed = self
            .client
            .list_secrets()
            .filters(
                Filter::builder()
                    .key(FilterNameStringType::TagKey)
                    .values(tag)
                    .build(),
            )
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| effect_error(&e))?;
        let mut all = Vec::new();
        for entry in listed.iter().flat_map(|page| page.secret_list()) {
            let Some(arn) = entry.arn() else { continue };
            let Some(user) = entry
                .tags()
                .iter()
                .find(|t| {
                    t.key()
                        .is_some_and(|k| keyguard_core::guard::same_name(k, tag))
                })
                .and_then(|t| t.value())
            else {
                continue;
            };
            let Some(meta) = self.describe(arn).await? else {
                continue;
            };
            let key = |h: Option<HeldKey>| h.and_then(|h| h.key_id);
            let current = key(self.held(arn, CURRENT, None).await?);
            let previous = key(self.held(arn, PREVIOUS, None).await?);
            // Rotated when the current version took over: LastRotatedDate when the
            // service set it, else that version's creation.
            let last_rotated = match meta.last_rotated {
                Some(t) => Some(t),
                None => self.current_since(arn).await?,
            };
            all.push(ManagedSecret {
                arn: arn.to_owned(),
                user: user.to_owned(),
                current_key: current,
                previous_key: previous,
                last_rotated,
                // The ledger's to say (secrets-rotator fills them in).
                previous_retired_at: None,
                previous_contained_at: None,
            });
        }
        Ok(all)
    }

    async fn current_since(
        &self,
        arn: &str,
    ) -> Result<Option<keyguard_core::Timestamp>, EffectError> {
        let versions = self
            .client
            .list_secret_version_ids()
            .secret_id(arn)
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(versions
            .iter()
            .flat_map(|page| page.versions())
            .find(|v| v.version_stages().iter().any(|s| s == CURRENT))
            .and_then(|v| timestamp(v.created_date())))
    }
}
