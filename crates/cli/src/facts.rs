//! `--facts`: what a function would read from AWS, supplied as a file, so a plan can be
//! made offline. The file is a [`Source`] for each function's policy, and `keyguard plan`
//! runs the same pipeline as the function (`keyguard_core::pipeline::plan`); the IAM
//! reads go through the same `gather` the Lambda uses, via [`IamReader`].
//!
//! For age-rotation and the sweep, keys are dated: `{"status", "created",
//! "deactivated_at"?, "contained_at"?, "last_used"?}`; secrets may say `last_rotated` and
//! `previous_retired_at`; a saved `credential_report` (CSV) picks the users read. A user
//! may say `sessions_denied_before`, the cut-off of keyguard's revocation policy on it,
//! which with its key's `last_used` decides whether an Inactive key's sessions are
//! revoked again. A user may say `canary_denied: true`: its canary deny policy is in
//! place, so with a canary's name and tag containment leaves it alone. A user or role
//! tagged exempt may say `exemption_set_by` (`{set_by, own, long_term_key, call, at,
//! event_id}`), who set the tag as createkey-detector recorded it. For
//! createkey-detector's hourly check, `canaries` lists the canary keys
//! as `keyguard canary list` prints them (`user`, `key_id`, `status`, `created`,
//! `last_used`, `service`, `region`), and `canary_windows` until when each key's live
//! alert window holds (`{"AKIA…": "2026-12-04T10:15:00Z"}`). For a CloudTrail record,
//! `memory` is what the detector remembers of earlier ones: `created_keys` (by key id:
//! `{key_id, user, created_by, source_ip?, user_agent?, at, event_id}`), `created_users`
//! (by name: `{user, created_by, at, event_id}`), `launches` (by key id: a list of
//! `{event_id, at, count}`) and `sessions` (by session key id: `{session_key, parent_key,
//! user, at, until, event_id}`); the record's own launch is counted with them, as the
//! function counts it.
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
use keyguard_core::canary::CanaryKey;
use keyguard_core::credential_report;
use keyguard_core::guard::HandoffCheck;
use keyguard_core::pipeline::{self, Policy, Source};
use keyguard_core::policy::age::{AgeConfig, KeyAge, Person};
use keyguard_core::policy::containment::{
    self, ContainmentConfig, IamReader, KeyStatus, SelfIdentity, UserKeys,
};
use keyguard_core::policy::detector::canary_check::CanaryFacts;
use keyguard_core::policy::detector::memory;
use keyguard_core::policy::detector::DetectorConfig;
use keyguard_core::policy::policies::{
    DetectorFacts, DetectorTarget, RotatorFacts, RotatorTarget, Scan, ScanTarget, SweepFacts,
};
use keyguard_core::policy::rotation::{HeldKey, RotatorConfig, SecretFacts};
use keyguard_core::policy::sweep::{KeyFacts, ManagedSecret, UserFacts};
use keyguard_core::policy::translator::{self, TranslatorConfig};
use keyguard_core::{AccessKeyId, EffectError, Plan, Principal, Timestamp, Trigger, UserName};
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
    /// Every canary key with its last use (`keyguard canary list` prints them so), for
    /// createkey-detector's hourly check.
    #[serde(default)]
    canaries: Vec<CanaryKey>,
    /// Until when a live `canary-key-used` alert's window holds, by key id (what the
    /// function reads from its ledger).
    #[serde(default)]
    canary_windows: BTreeMap<String, Timestamp>,
    /// What createkey-detector remembers of earlier CloudTrail records.
    #[serde(default)]
    memory: SuppliedMemory,
    /// Organisation mode (deactivate-key): the member accounts the organisation has as
    /// ACTIVE, each with its own `users` and `roles` (the rest of an entry is unused). Any
    /// other account but keyguard's own is planned as the organisation not having it.
    #[serde(default)]
    members: BTreeMap<keyguard_core::AccountId, Supplied>,
    /// What `sts:GetAccessKeyInfo` answers, by key id, for keys no `users` entry lists (a
    /// role's session keys): whose a key is, where an event names two accounts for it or
    /// (organisation mode) another account than the key's.
    #[serde(default)]
    key_accounts: BTreeMap<String, keyguard_core::AccountId>,
    /// Configuration variables as the function would see them.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// The first thing a read found wrong in the file.
    #[serde(skip)]
    mistake: std::sync::Mutex<Option<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuppliedUser {
    #[serde(default)]
    keys: BTreeMap<String, SuppliedKey>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    /// The cut-off of keyguard's revocation policy on the user, when it has one.
    #[serde(default)]
    sessions_denied_before: Option<String>,
    /// The user's `keyguard-canary-deny-all` policy denies everything (a canary that can
    /// do nothing, which containment leaves alone).
    #[serde(default)]
    canary_denied: bool,
    /// Who set its exemption tag, as createkey-detector recorded it.
    #[serde(default)]
    exemption_set_by: Option<keyguard_core::exemption::Provenance>,
}

/// createkey-detector's memory, in the home account (or the record's).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuppliedMemory {
    #[serde(default)]
    created_keys: BTreeMap<String, memory::KeyCreation>,
    #[serde(default)]
    created_users: BTreeMap<String, memory::UserCreation>,
    #[serde(default)]
    launches: BTreeMap<AccessKeyId, Vec<memory::Launch>>,
    /// Session tokens and the long-term key that minted each, by session key id.
    #[serde(default)]
    sessions: BTreeMap<String, memory::SessionMint>,
}

impl SuppliedMemory {
    /// What the function would recall: the memory as the ledger would hold it, asked
    /// the same way.
    fn recall(&self, ask: &memory::Ask, minutes: u32) -> memory::Recall {
        let mut held = memory::InProcess::default();
        let key_account = ask.signer.as_ref().map_or(&ask.account, |(a, _)| a);
        for created in self.created_keys.values() {
            held.remember(key_account, &memory::Memo::KeyCreated(created.clone()));
        }
        for created in self.created_users.values() {
            held.remember(&ask.account, &memory::Memo::UserCreated(created.clone()));
        }
        let session_account = ask.session.as_ref().map_or(&ask.account, |(a, _)| a);
        for minted in self.sessions.values() {
            held.remember(
                session_account,
                &memory::Memo::SessionMinted(minted.clone()),
            );
        }
        for (key, launches) in &self.launches {
            for launch in launches {
                held.launched(&ask.account, key, launch.clone());
            }
        }
        held.recall(ask, minutes)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuppliedRole {
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    exemption_set_by: Option<keyguard_core::exemption::Provenance>,
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
    /// For the sweep: when the secret was last rotated (RFC 3339).
    #[serde(default)]
    last_rotated: Option<String>,
    /// For the sweep: when keyguard's own rotation retired the `AWSPREVIOUS` key, as
    /// the function's ledger would say; without it that key is never deleted.
    #[serde(default)]
    previous_retired_at: Option<String>,
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
        /// For the sweep: `GetAccessKeyLastUsed` (absent: never used).
        #[serde(default)]
        last_used: Option<String>,
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

    async fn key_last_used(&self, key_id: &AccessKeyId) -> Result<Option<Timestamp>, EffectError> {
        let used = self.users.iter().find_map(|(name, u)| {
            let key = u.keys.get(key_id.as_str())?;
            match key {
                SuppliedKey::Dated {
                    last_used: Some(raw),
                    ..
                } => Some((name, raw)),
                _ => None,
            }
        });
        used.map(|(name, raw)| {
            keyguard_core::parse_time(raw).ok_or_else(|| {
                self.facts_error(format!(
                    "users.{name}.keys.{key_id}.last_used: not a time: {raw:?}"
                ))
            })
        })
        .transpose()
    }

    async fn revocation_cut_off(
        &self,
        principal: &Principal,
        _policy_name: &str,
    ) -> Result<Option<Timestamp>, EffectError> {
        let Principal::User(user) = principal else {
            return Ok(None);
        };
        let found = self
            .users
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(user.as_str()));
        let Some((name, Some(raw))) = found.map(|(n, u)| (n, u.sessions_denied_before.as_ref()))
        else {
            return Ok(None);
        };
        keyguard_core::parse_time(raw).map(Some).ok_or_else(|| {
            self.facts_error(format!(
                "users.{name}.sessions_denied_before: not a time: {raw:?}"
            ))
        })
    }

    async fn canary_denied(&self, user: &UserName) -> Result<bool, EffectError> {
        Ok(self
            .users
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(user.as_str()))
            .is_some_and(|(_, u)| u.canary_denied))
    }

    async fn exemption_set(
        &self,
        principal: &Principal,
    ) -> Result<Option<keyguard_core::exemption::Provenance>, EffectError> {
        let same = |name: &String, other: &str| name.eq_ignore_ascii_case(other);
        Ok(match principal {
            Principal::User(u) => self
                .users
                .iter()
                .find(|(name, _)| same(name, u.as_str()))
                .and_then(|(_, u)| u.exemption_set_by.clone()),
            Principal::Role(r) => self
                .roles
                .iter()
                .find(|(name, _)| same(name, r.as_str()))
                .and_then(|(_, r)| r.exemption_set_by.clone()),
        })
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

/// Offline, `RESPONSE_PLAN_ARN` may be left out of the facts' env: a placeholder ARN
/// stands in, and the plan shows it.
pub const PLACEHOLDER_PLAN: &str = "arn:aws:ssm-incidents::000000000000:response-plan/unset";

/// The plan `function` would make for `raw`: its own configuration, read from the facts'
/// env, run through the same pipeline as the function, over the facts instead of AWS.
pub fn plan(
    function: crate::Function,
    trigger: &Trigger,
    raw: &Value,
    facts: &Supplied,
    now: Timestamp,
) -> Result<Plan, InputError> {
    use crate::Function as F;
    let env = |name: &str| {
        facts.var(name).or_else(|| {
            (matches!(function, F::GuarddutyTranslator) && name == "RESPONSE_PLAN_ARN")
                .then(|| PLACEHOLDER_PLAN.to_owned())
        })
    };
    facts.check()?;
    let me = facts.me();
    let event_ref = keyguard_core::event_ref(trigger, raw);
    let event = (trigger, event_ref.as_str());
    match function {
        F::DeactivateKey => run(
            &ContainmentConfig::deactivate_key_from_env(&env, me),
            event,
            facts,
            now,
        ),
        F::GuarddutyTranslator => run(&TranslatorConfig::from_env(&env, me), event, facts, now),
        F::SecretsRotator => run(&RotatorConfig::from_env(&env, me), event, facts, now),
        F::AgeRotation => run(&AgeConfig::from_env(&env, me), event, facts, now),
        F::CreatekeyDetector => run(&DetectorConfig::from_env(&env, me), event, facts, now),
    }
}

fn run<P: Policy>(
    policy: &Result<P, keyguard_core::config::ConfigError>,
    (trigger, event_ref): (&Trigger, &str),
    facts: &Supplied,
    now: Timestamp,
) -> Result<Plan, InputError>
where
    Supplied: Source<P>,
{
    let policy = policy.as_ref().map_err(|e| config_error(e.clone()))?;
    let plan = futures::executor::block_on(pipeline::plan(policy, facts, trigger, event_ref, now));
    // A read that found the facts file wanting is the operator's mistake, named, not a
    // failed read to plan around.
    let mistake = facts
        .mistake
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    match mistake {
        Some(why) => Err(InputError(format!("facts: {why}"))),
        None => Ok(plan),
    }
}

impl Source<ContainmentConfig> for Supplied {
    async fn door(
        &self,
        cfg: &ContainmentConfig,
        trigger: &Trigger,
        now: Timestamp,
    ) -> Result<Option<HandoffCheck>, String> {
        Ok(cfg
            .stale_handoff(trigger, now)
            .or_else(|| self.handoff_check(trigger)))
    }

    /// As deactivate-key reads: each credential in its own account (organisation mode),
    /// a key's account as the facts hold it standing for what STS would say.
    async fn lookup(
        &self,
        cfg: &ContainmentConfig,
        target: &containment::Target,
        _: Timestamp,
    ) -> Result<Vec<containment::Facts>, EffectError> {
        containment::gather_each(self, cfg, target).await
    }
}

/// One credential's facts, as the functions read them: in its own account (organisation
/// mode), or not at all for an account not acted in.
impl containment::InAccount for Supplied {
    async fn gather_in_account(
        &self,
        cfg: &ContainmentConfig,
        credential: &containment::Credential,
        lookup: &containment::Lookup,
        _: &str,
    ) -> Result<containment::Facts, EffectError> {
        let outside = |why| containment::Facts {
            outside: Some(why),
            ..Default::default()
        };
        // The facts file stands in for STS: a key is the account's whose facts list it.
        let key_account = credential
            .key_to_ask(lookup)
            .and_then(|key_id| self.owner(&key_id).cloned());
        let credential = match credential.to_read(key_account.as_ref(), &cfg.guard) {
            Ok(c) => c,
            Err(nowhere) => return Ok(*nowhere),
        };
        let credential = &*credential;
        let account = credential.scope.as_ref().map(|s| &s.account);
        let reader = match (&cfg.guard.organization, account) {
            (Some(_), Some(account)) if *lookup != containment::Lookup::Nothing => {
                match self.reach(account, credential.subject.key_id()) {
                    Ok(reader) => reader,
                    Err(why) => return Ok(outside(why)),
                }
            }
            _ => self,
        };
        let facts = containment::gather(lookup, reader, NO_RECHECK, cfg.reads()).await?;
        Ok(containment::Facts {
            key_account,
            ..facts
        })
    }
}

impl Supplied {
    /// The account a key belongs to, as STS would say: `key_accounts`, else the account
    /// whose facts list it (keyguard's own first).
    fn owner(&self, key: &AccessKeyId) -> Option<&keyguard_core::AccountId> {
        let holds = |f: &Self| f.users.values().any(|u| u.keys.contains_key(key.as_str()));
        self.key_accounts.get(key.as_str()).or_else(|| {
            self.me
                .account
                .as_ref()
                .filter(|_| holds(self))
                .or_else(|| self.members.iter().find(|(_, f)| holds(f)).map(|(a, _)| a))
        })
    }

    /// The facts of `account` (keyguard's own, or a member's), or why it is not acted in.
    fn reach(
        &self,
        account: &keyguard_core::AccountId,
        key: Option<&AccessKeyId>,
    ) -> Result<&Self, String> {
        let home = self.me.account.as_ref();
        if let Some(key) = key {
            if let Some(why) = self
                .owner(key)
                .and_then(|o| keyguard_core::organization::key_elsewhere(account, key, o))
            {
                return Err(why);
            }
        }
        if home == Some(account) {
            return Ok(self);
        }
        self.members
            .get(account)
            .ok_or_else(|| keyguard_core::organization::not_a_member(account))
    }
}

impl Source<TranslatorConfig> for Supplied {
    async fn lookup(
        &self,
        cfg: &TranslatorConfig,
        target: &translator::Target,
        _: Timestamp,
    ) -> Result<containment::Facts, EffectError> {
        containment::InAccount::gather_in_account(
            self,
            &cfg.containment,
            &target.credential(),
            &target.lookup(),
            &target.event_ref,
        )
        .await
    }
}

impl Source<RotatorConfig> for Supplied {
    async fn lookup(
        &self,
        cfg: &RotatorConfig,
        target: &RotatorTarget,
        now: Timestamp,
    ) -> Result<RotatorFacts, EffectError> {
        match target {
            RotatorTarget::Step { event, .. } => Ok(RotatorFacts::Step(
                self.secret_facts(cfg, &event.secret_id, &event.client_request_token)
                    .await?
                    .map(Box::new),
            )),
            RotatorTarget::Sweep { .. } => Ok(RotatorFacts::Sweep(self.sweep_facts(cfg, now)?)),
        }
    }
}

impl Source<DetectorConfig> for Supplied {
    async fn lookup(
        &self,
        cfg: &DetectorConfig,
        target: &DetectorTarget,
        _: Timestamp,
    ) -> Result<DetectorFacts, EffectError> {
        Ok(match target {
            DetectorTarget::Canaries { .. } => DetectorFacts::Canaries(CanaryFacts {
                keys: self.canaries.clone(),
                alerted_until: self.canary_windows.clone(),
            }),
            DetectorTarget::Recall { ask, .. } => {
                DetectorFacts::Recall(Box::new(self.memory.recall(ask, cfg.correlation_minutes)))
            }
        })
    }
}

impl Source<AgeConfig> for Supplied {
    async fn lookup(
        &self,
        cfg: &AgeConfig,
        _: &ScanTarget,
        now: Timestamp,
    ) -> Result<Scan, EffectError> {
        let names =
            self.report_names(|rows| credential_report::candidates(rows, cfg.warn_days, now))?;
        let mut people = Vec::new();
        for name in names {
            let Some(user) = self.users.get(&name) else {
                continue;
            };
            let mut keys = Vec::new();
            for (id, key) in &user.keys {
                let dated = key.dated(self, &name, id, "age-rotation")?;
                keys.push(KeyAge {
                    key_id: id.clone(),
                    status: key.status(),
                    created: dated.created,
                    deactivated_at: dated.deactivated_at,
                    contained_at: dated.contained_at,
                });
            }
            people.push(Person {
                user: name.clone(),
                tags: user.tags.clone(),
                keys,
            });
        }
        Ok(Scan {
            people,
            unread: Vec::new(),
        })
    }
}

/// A key's times, read from the facts file.
struct Dated {
    created: Timestamp,
    deactivated_at: Option<Timestamp>,
    contained_at: Option<Timestamp>,
    last_used: Option<Timestamp>,
}

impl SuppliedKey {
    fn dated(
        &self,
        facts: &Supplied,
        name: &str,
        id: &str,
        function: &str,
    ) -> Result<Dated, EffectError> {
        let Self::Dated {
            created,
            deactivated_at,
            contained_at,
            last_used,
            ..
        } = self
        else {
            return Err(facts.facts_error(format!(
                "users.{name}.keys.{id}: {function} needs {{\"status\", \"created\"}}"
            )));
        };
        let time = |raw: &str| {
            keyguard_core::parse_time(raw).ok_or_else(|| {
                facts.facts_error(format!("users.{name}.keys.{id}: not a time: {raw:?}"))
            })
        };
        Ok(Dated {
            created: time(created)?,
            deactivated_at: deactivated_at.as_deref().map(time).transpose()?,
            contained_at: contained_at.as_deref().map(time).transpose()?,
            last_used: last_used.as_deref().map(time).transpose()?,
        })
    }
}

impl Supplied {
    /// What the offline reads could not make sense of in the file, kept to be named.
    fn facts_error(&self, why: String) -> EffectError {
        self.mistake
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_or_insert_with(|| why.clone());
        EffectError::new(keyguard_core::ErrorKind::Other, Some("FactsFile"), why)
    }

    /// Every time in the file parses: a mistake in the facts is named before anything
    /// is planned.
    fn check(&self) -> Result<(), InputError> {
        for (name, user) in &self.users {
            for (id, key) in &user.keys {
                if let SuppliedKey::Dated { .. } = key {
                    key.dated(self, name, id, "keyguard")
                        .map_err(|e| InputError(format!("facts: {}", e.message)))?;
                }
            }
        }
        for (arn, secret) in &self.secrets {
            for (field, raw) in [
                ("last_rotated", &secret.last_rotated),
                ("previous_retired_at", &secret.previous_retired_at),
            ] {
                if let Some(t) = raw {
                    if keyguard_core::parse_time(t).is_none() {
                        return Err(InputError(format!(
                            "facts: secrets.{arn}.{field}: not a time: {t:?}"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The users a scan reads: those the saved credential report points at, as in the
    /// function; every user in the facts when there is none.
    fn report_names(
        &self,
        pick: impl FnOnce(&[credential_report::ReportRow]) -> Vec<String>,
    ) -> Result<Vec<String>, EffectError> {
        Ok(match &self.credential_report {
            Some(csv) => {
                let rows = credential_report::parse(csv.as_bytes())
                    .map_err(|e| self.facts_error(format!("credential_report: {e}")))?;
                pick(&rows)
            }
            None => self.users.keys().cloned().collect(),
        })
    }

    async fn secret_facts(
        &self,
        cfg: &RotatorConfig,
        secret_id: &str,
        token: &str,
    ) -> Result<Option<SecretFacts>, EffectError> {
        let Some(secret) = self.secrets.get(secret_id) else {
            return Ok(None);
        };
        let mut facts = SecretFacts {
            arn: secret_id.to_owned(),
            tags: secret.tags.clone(),
            versions: secret.versions.clone(),
            current: secret.current.as_ref().map(HeldKey::from),
            pending: secret.pending.get(token).map(HeldKey::from),
            previous: secret.previous.as_ref().map(HeldKey::from),
            user_keys: None,
            user_tags: BTreeMap::new(),
            contained: BTreeMap::new(),
        };
        if let Some(user) = facts.user(cfg).and_then(|u| UserName::parse(&u).ok()) {
            facts.user_keys = self.user_keys(&user).await?.map(|k| k.keys);
            facts.user_tags = self
                .tags(&Principal::User(user.clone()))
                .await?
                .unwrap_or_default();
            let held = facts.current.as_ref().and_then(|c| c.key_id.clone());
            for (key, _) in facts.user_keys.iter().flatten() {
                if Some(key) == held.as_ref() {
                    continue;
                }
                if let Some(at) = self.contained_at(key)? {
                    facts.contained.insert(key.clone(), at);
                }
            }
        }
        Ok(Some(facts))
    }

    /// When keyguard contained a key, as the facts say (the function reads its ledger).
    fn contained_at(&self, key_id: &str) -> Result<Option<Timestamp>, EffectError> {
        for (name, user) in &self.users {
            if let Some(key) = user.keys.get(key_id) {
                if let SuppliedKey::Dated { .. } = key {
                    return Ok(key
                        .dated(self, name, key_id, "secrets-rotator")?
                        .contained_at);
                }
            }
        }
        Ok(None)
    }

    /// The sweep's facts: the managed secrets (those tagged with the user tag), and the
    /// users it can act on, chosen as the function chooses them.
    fn sweep_facts(&self, cfg: &RotatorConfig, now: Timestamp) -> Result<SweepFacts, EffectError> {
        let mut secrets = Vec::new();
        for (arn, secret) in &self.secrets {
            let Some(user) = secret
                .tags
                .iter()
                .find(|(k, _)| keyguard_core::guard::same_name(k, &cfg.secret_user_tag))
                .map(|(_, v)| v.clone())
            else {
                continue;
            };
            let time = |raw: &Option<String>, field: &str| {
                raw.as_deref()
                    .map(|t| {
                        keyguard_core::parse_time(t).ok_or_else(|| {
                            self.facts_error(format!("secrets.{arn}.{field}: not a time: {t:?}"))
                        })
                    })
                    .transpose()
            };
            let previous_key = secret
                .previous
                .as_ref()
                .and_then(|p| p.access_key_id.clone());
            let previous_contained_at = match &previous_key {
                Some(k) => self.contained_at(k)?,
                None => None,
            };
            secrets.push(ManagedSecret {
                arn: arn.clone(),
                user,
                current_key: secret
                    .current
                    .as_ref()
                    .and_then(|c| c.access_key_id.clone()),
                previous_key,
                last_rotated: time(&secret.last_rotated, "last_rotated")?,
                previous_retired_at: time(&secret.previous_retired_at, "previous_retired_at")?,
                previous_contained_at,
            });
        }
        let unused_days = cfg.unused_days;
        let mut names =
            self.report_names(|rows| credential_report::unused_candidates(rows, unused_days, now))?;
        for secret in secrets.iter().filter(|s| s.previous_retired_at.is_some()) {
            if !names
                .iter()
                .any(|n| keyguard_core::guard::same_name(n, &secret.user))
            {
                names.push(secret.user.clone());
            }
        }
        let mut users = Vec::new();
        for name in names {
            let Some((real, user)) = self
                .users
                .iter()
                .find(|(n, _)| keyguard_core::guard::same_name(n, &name))
            else {
                continue;
            };
            let mut keys = Vec::new();
            for (id, key) in &user.keys {
                let dated = key.dated(self, real, id, "the sweep")?;
                keys.push(KeyFacts {
                    key_id: id.clone(),
                    status: key.status(),
                    created: dated.created,
                    last_used: dated.last_used,
                });
            }
            users.push(UserFacts {
                name: real.clone(),
                tags: user.tags.clone(),
                keys,
            });
        }
        Ok(SweepFacts {
            users,
            unread: Vec::new(),
            secrets,
        })
    }
}
