//! `--facts`: what a function would read from AWS, supplied as a file, so a plan can be
//! made offline. The same [`gather`] the Lambda uses reads it through [`IamReader`].
//!
//! ```json
//! {
//!   "users": {"bob": {"keys": {"AKIAIOSFODNN7EXAMPLE": "Active"}, "tags": {"Email": "bob@example.com"}}},
//!   "roles": {"app-role": {"tags": {}}},
//!   "me": {"key_id": "ASIA...", "user": null, "role": "keyguard-deactivate-key"},
//!   "env": {"EXEMPT_USERS": "breakglass"}
//! }
//! ```

use crate::InputError;
use keyguard_core::credential_report;
use keyguard_core::guard::HandoffCheck;
use keyguard_core::policy::age::{self, AgeConfig, KeyAge, Person};
use keyguard_core::policy::containment::{
    self, ContainmentConfig, IamReader, KeyStatus, SelfIdentity, UserKeys,
};
use keyguard_core::policy::detector::{self, DetectorConfig};
use keyguard_core::policy::rotation::{self, HeldKey, RotatorConfig, SecretFacts};
use keyguard_core::policy::translator::{self, TranslatorConfig};
use keyguard_core::{
    AccessKeyId, Decision, EffectError, Plan, Principal, Timestamp, Trigger, UserName,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Supplied {
    #[serde(default)]
    users: BTreeMap<String, SuppliedUser>,
    #[serde(default)]
    roles: BTreeMap<String, SuppliedRole>,
    #[serde(default)]
    me: SuppliedSelf,
    /// Plan a hand-off as if KMS verified its MAC (offline, nothing can check it).
    #[serde(default)]
    handoff_verified: bool,
    /// Secrets Manager secrets by ARN, for secrets-rotator.
    #[serde(default)]
    secrets: BTreeMap<String, SuppliedSecret>,
    /// A saved IAM credential report (CSV text), for age-rotation: only the users it
    /// points at are planned, as in the Lambda.
    #[serde(default)]
    credential_report: Option<String>,
    /// Configuration variables as the function would see them.
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuppliedUser {
    #[serde(default)]
    keys: BTreeMap<String, SuppliedKey>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuppliedRole {
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuppliedSecret {
    #[serde(default)]
    tags: BTreeMap<String, String>,
    /// Version id → staging labels.
    #[serde(default)]
    versions: BTreeMap<String, Vec<String>>,
    /// What `AWSCURRENT` holds.
    current: Option<SuppliedHeld>,
    /// What `AWSPENDING` holds, by token.
    #[serde(default)]
    pending: BTreeMap<String, SuppliedHeld>,
    /// What `AWSPREVIOUS` holds.
    #[serde(default)]
    previous: Option<SuppliedHeld>,
}

/// A secret value as keyguard stores it, without the secret.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct SuppliedHeld {
    user_name: Option<String>,
    access_key_id: Option<String>,
}

impl From<&SuppliedHeld> for HeldKey {
    fn from(h: &SuppliedHeld) -> Self {
        HeldKey {
            user: h.user_name.clone(),
            key_id: h.access_key_id.clone(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuppliedSelf {
    key_id: Option<String>,
    user: Option<String>,
    role: Option<String>,
    /// The account keyguard runs in; without it, every credential is foreign.
    #[serde(default)]
    account: Option<keyguard_core::AccountId>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
enum SuppliedStatus {
    Active,
    Inactive,
    Expired,
}

/// A key's status alone (`"Active"`), or with its creation time for age-rotation
/// (`{"status": "Active", "created": "2026-08-01T00:00:00Z"}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum SuppliedKey {
    Status(SuppliedStatus),
    Dated {
        status: SuppliedStatus,
        created: String,
        /// When keyguard last deactivated it, if it did.
        #[serde(default)]
        deactivated_at: Option<String>,
        /// When deactivate-key or the runbook contained it, if they did.
        #[serde(default)]
        contained_at: Option<String>,
    },
}

impl SuppliedKey {
    fn status(&self) -> KeyStatus {
        let s = match self {
            Self::Status(s) | Self::Dated { status: s, .. } => s,
        };
        match s {
            SuppliedStatus::Active => KeyStatus::Active,
            SuppliedStatus::Inactive => KeyStatus::Inactive,
            SuppliedStatus::Expired => KeyStatus::Expired,
        }
    }
}

impl Supplied {
    pub fn read(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

impl IamReader for Supplied {
    async fn key_owner(&self, key_id: &AccessKeyId) -> Result<Option<UserName>, EffectError> {
        Ok(self
            .users
            .iter()
            .find(|(_, u)| u.keys.contains_key(key_id.as_str()))
            .and_then(|(name, _)| UserName::parse(name).ok()))
    }

    async fn user_keys(&self, user: &UserName) -> Result<Option<UserKeys>, EffectError> {
        // IAM finds a user whatever the case of the name asked for.
        Ok(self
            .users
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(user.as_str()))
            .map(|(name, u)| UserKeys {
                user: UserName::parse(name).ok(),
                keys: u
                    .keys
                    .iter()
                    .map(|(k, s)| (k.clone(), s.status()))
                    .collect(),
            }))
    }

    async fn pause(&self, _wait: std::time::Duration) {}

    async fn tags(
        &self,
        principal: &Principal,
    ) -> Result<Option<BTreeMap<String, String>>, EffectError> {
        // IAM finds a principal whatever the case of the name asked for.
        let same = |name: &str, wanted: &str| name.eq_ignore_ascii_case(wanted);
        Ok(match principal {
            Principal::User(u) => self
                .users
                .iter()
                .find(|(n, _)| same(n, u.as_str()))
                .map(|(_, u)| u.tags.clone()),
            Principal::Role(r) => self
                .roles
                .iter()
                .find(|(n, _)| same(n, r.as_str()))
                .map(|(_, r)| r.tags.clone()),
        })
    }
}

impl Supplied {
    fn me(&self) -> SelfIdentity {
        SelfIdentity {
            key_id: self.me.key_id.clone(),
            user: self.me.user.clone(),
            role: self.me.role.clone(),
            account: self.me.account.clone(),
        }
    }

    /// A hand-off's MAC cannot be checked offline: the facts file says what KMS would.
    fn handoff_check(&self, trigger: &Trigger) -> Option<HandoffCheck> {
        matches!(trigger, Trigger::Handoff(_)).then(|| {
            if self.handoff_verified {
                HandoffCheck::Verified
            } else {
                HandoffCheck::Rejected(
                    "offline, its MAC cannot be checked; set \"handoff_verified\": true in the facts to plan it as if KMS verified it".into(),
                )
            }
        })
    }

    fn var(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
}

fn config_error(e: keyguard_core::config::ConfigError) -> InputError {
    InputError(format!("facts env: {e}"))
}

/// A facts file says what IAM holds; it does not change between two reads.
const NO_RECHECK: containment::Recheck = containment::Recheck {
    delay: std::time::Duration::ZERO,
};

fn gather(
    lookup: &containment::Lookup,
    facts: &Supplied,
) -> Result<containment::Facts, InputError> {
    futures::executor::block_on(containment::gather(lookup, facts, NO_RECHECK))
        .map_err(|e| InputError(e.to_string()))
}

pub fn plan_containment(
    trigger: &Trigger,
    raw: &Value,
    facts: &Supplied,
    now: Timestamp,
) -> Result<Plan, InputError> {
    let env = |name: &str| facts.var(name);
    let cfg = ContainmentConfig::from_env(&env, facts.me()).map_err(config_error)?;
    let event_ref = keyguard_core::event_ref(trigger, raw);
    let check = facts.handoff_check(trigger);
    let target = match containment::target(trigger, &cfg, &event_ref, check.as_ref()) {
        Ok(t) => t,
        Err(plan) => return Ok(*plan),
    };
    let all = target
        .lookups()
        .iter()
        .map(|l| gather(l, facts))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(containment::decide(&target, &cfg, &all, now))
}

/// Offline, `RESPONSE_PLAN_ARN` may be left out of the facts' env: a placeholder ARN
/// stands in, and the plan shows it.
pub const PLACEHOLDER_PLAN: &str = "arn:aws:ssm-incidents::000000000000:response-plan/unset";

pub fn plan_translator(
    trigger: &Trigger,
    raw: &Value,
    facts: &Supplied,
    now: Timestamp,
) -> Result<Plan, InputError> {
    let env = |name: &str| {
        facts
            .var(name)
            .or_else(|| (name == "RESPONSE_PLAN_ARN").then(|| PLACEHOLDER_PLAN.to_owned()))
    };
    let cfg = TranslatorConfig::from_env(&env, facts.me()).map_err(config_error)?;
    let event_ref = keyguard_core::event_ref(trigger, raw);
    let target = match translator::target(trigger, &cfg, &event_ref) {
        Ok(t) => t,
        Err(plan) => return Ok(*plan),
    };
    Ok(translator::decide(
        &target,
        &cfg,
        &gather(&target.lookup(), facts)?,
        now,
    ))
}

pub fn plan_rotator(
    trigger: &Trigger,
    raw: &Value,
    facts: &Supplied,
    now: Timestamp,
) -> Result<Plan, InputError> {
    let env = |name: &str| facts.var(name);
    let cfg = RotatorConfig::from_env(&env, facts.me()).map_err(config_error)?;
    let event_ref = keyguard_core::event_ref(trigger, raw);
    // The function's own first question, so the plan shows what it would do.
    if let Some(decision) = rotation::gate(trigger, &cfg) {
        return Ok(Plan::for_event(rotation::FUNCTION, decision, event_ref));
    }
    let Trigger::Rotation(event) = trigger else {
        return Err(InputError(
            "keyguard plans secrets-rotator's rotation steps; the sweep reads every user's keys and is not planned offline".into(),
        ));
    };
    let Some(secret) = facts.secrets.get(&event.secret_id) else {
        let plan = Plan::for_event(
            rotation::FUNCTION,
            Decision::NotFound {
                what: format!("no secret {} in the facts", event.secret_id),
            },
            event_ref,
        );
        return Ok(plan);
    };
    let mut secret_facts = SecretFacts {
        arn: event.secret_id.clone(),
        tags: secret.tags.clone(),
        versions: secret.versions.clone(),
        current: secret.current.as_ref().map(HeldKey::from),
        pending: secret
            .pending
            .get(&event.client_request_token)
            .map(HeldKey::from),
        previous: secret.previous.as_ref().map(HeldKey::from),
        user_keys: None,
        user_tags: BTreeMap::new(),
        contained: BTreeMap::new(),
    };
    if let Some(user) = secret_facts
        .user(&cfg)
        .and_then(|u| UserName::parse(&u).ok())
    {
        secret_facts.user_keys = futures::executor::block_on(facts.user_keys(&user))
            .map_err(|e| InputError(e.to_string()))?
            .map(|k| k.keys);
        secret_facts.user_tags =
            futures::executor::block_on(facts.tags(&Principal::User(user.clone())))
                .map_err(|e| InputError(e.to_string()))?
                .unwrap_or_default();
    }
    Ok(rotation::decide_step(event, &cfg, &secret_facts, now))
}

pub fn plan_age(
    trigger: &Trigger,
    raw: &Value,
    facts: &Supplied,
    now: Timestamp,
) -> Result<Plan, InputError> {
    let env = |name: &str| facts.var(name);
    let cfg = AgeConfig::from_env(&env, facts.me()).map_err(config_error)?;
    // The function's own first question, so the plan shows what it would do: an
    // untrusted schedule refused, any other event ignored.
    if let Some(decision) = age::gate(trigger, &cfg) {
        let event_ref = keyguard_core::event_ref(trigger, raw);
        return Ok(Plan::for_event(age::FUNCTION, decision, event_ref));
    }
    let names: Vec<String> = match &facts.credential_report {
        Some(csv) => {
            let rows =
                credential_report::parse(csv.as_bytes()).map_err(|e| InputError(e.to_string()))?;
            credential_report::candidates(&rows, cfg.warn_days, now)
        }
        None => facts.users.keys().cloned().collect(),
    };
    let mut people = Vec::new();
    for name in names {
        let Some(user) = facts.users.get(&name) else {
            continue;
        };
        let mut keys = Vec::new();
        for (id, key) in &user.keys {
            let SuppliedKey::Dated {
                created,
                deactivated_at,
                contained_at,
                ..
            } = key
            else {
                return Err(InputError(format!(
                    "users.{name}.keys.{id}: age-rotation needs {{\"status\", \"created\"}}"
                )));
            };
            let time = |raw: &str| {
                keyguard_core::parse_time(raw).ok_or_else(|| {
                    InputError(format!("users.{name}.keys.{id}: not a time: {raw:?}"))
                })
            };
            keys.push(KeyAge {
                key_id: id.clone(),
                status: key.status(),
                created: time(created)?,
                deactivated_at: deactivated_at.as_deref().map(time).transpose()?,
                contained_at: contained_at.as_deref().map(time).transpose()?,
            });
        }
        people.push(Person {
            user: name.clone(),
            tags: user.tags.clone(),
            keys,
        });
    }
    let event_ref = keyguard_core::event_ref(trigger, raw);
    Ok(age::decide_scan(&event_ref, &cfg, &people, now))
}

pub fn plan_detector(trigger: &Trigger, raw: &Value, facts: &Supplied) -> Result<Plan, InputError> {
    let env = |name: &str| facts.var(name);
    let cfg = DetectorConfig::from_env(&env, facts.me()).map_err(config_error)?;
    Ok(detector::decide(
        trigger,
        &cfg,
        &keyguard_core::event_ref(trigger, raw),
    ))
}
