//! secrets-rotator: the four Secrets Manager rotation steps for a secret that holds one
//! IAM user's access key, and the scheduled sweep (retired keys past their grace period
//! deleted, unused keys deactivated or reported).
//!
//! The secret access key itself never enters this module: the adapter creates the key
//! and stores it in the same call, and reads only `UserName`/`AccessKeyId` back.
//!
//! - `createSecret`: nothing if `AWSPENDING` already holds a key for this token. IAM
//!   allows two keys per user: the one the secret does not hold is deleted first only if
//!   it is Inactive; an Active one stops the rotation, naming it, with nothing changed.
//! - `setSecret`: an IAM key is live the moment it is created, so there is nothing to
//!   set; the step announces the new key (its id is known from `AWSPENDING` by now).
//! - `testSecret`: `sts:GetCallerIdentity` signed with the pending key must name the user.
//! - `finishSecret`: `AWSCURRENT` moves to the new version; the previous key is set
//!   Inactive. It is deleted after `DELETE_GRACE_DAYS`, by the sweep or the next rotation.

use crate::config::{self, ConfigError, Env};
use crate::events::{RotationEvent, RotationStep};
use crate::guard::same_name;
use crate::key::{AccessKeyId, UserName};
use crate::notice::{Notice, Severity};
use crate::plan::{Action, Decision, Plan, Step};
use crate::policy::containment::{KeyStatus, SelfIdentity};
use crate::step_key;
use crate::time::Timestamp;
use std::collections::BTreeMap;

pub const FUNCTION: &str = "secrets-rotator";
pub const CURRENT: &str = "AWSCURRENT";
pub const PENDING: &str = "AWSPENDING";
pub const PREVIOUS: &str = "AWSPREVIOUS";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatorConfig {
    /// `SECRET_USER_TAG` (default `keyguard:iam-user`): the tag naming a managed secret's user.
    pub secret_user_tag: String,
    /// `DELETE_GRACE_DAYS` (default 7): a retired key is deleted this long after rotation.
    pub grace_days: u32,
    /// `UNUSED_KEY_DAYS` (default 90): a key unused this long is deactivated or reported.
    pub unused_days: u32,
    /// `USER_TYPE_TAG` (default `UserType`): `employee` keys are deactivated, others reported.
    pub user_type_tag: String,
    /// `CONTAINED_KEY_RETENTION_DAYS` (default 30): a key keyguard contained this recently is
    /// evidence, never deleted to make room for a new one.
    pub retention_days: u32,
    /// Who is never touched (exemptions, keyguard's own) and which sources are believed:
    /// containment's guard, read from the same variables.
    pub guard: crate::guard::Guard,
}

impl RotatorConfig {
    pub fn from_env(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        Ok(Self {
            secret_user_tag: config::string(env, "SECRET_USER_TAG", "keyguard:iam-user"),
            grace_days: config::number(env, "DELETE_GRACE_DAYS", 7)?,
            unused_days: config::number(env, "UNUSED_KEY_DAYS", 90)?,
            user_type_tag: config::string(env, "USER_TYPE_TAG", "UserType"),
            retention_days: config::number(env, "CONTAINED_KEY_RETENTION_DAYS", 30)?,
            guard: crate::guard::Guard::from_env(env, me)?,
        })
    }

    /// Organisation mode (`None`: off): the sweep runs in every member account too. A
    /// rotation step stays keyguard's own account's, whatever it names.
    pub fn in_organization(mut self, org: Option<crate::organization::Organization>) -> Self {
        self.guard = self.guard.with_organization(org);
        self
    }

    pub(crate) fn exempt(&self, user: &str, tags: &BTreeMap<String, String>) -> bool {
        self.guard.user_untouchable(user, tags)
    }
}

/// The user and key a secret version holds (never its secret).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldKey {
    pub user: Option<String>,
    pub key_id: Option<String>,
}

/// What Secrets Manager and IAM said about a rotation's secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretFacts {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
    /// Version id → its staging labels.
    pub versions: BTreeMap<String, Vec<String>>,
    pub current: Option<HeldKey>,
    /// What `AWSPENDING` holds for this rotation's token, if anything.
    pub pending: Option<HeldKey>,
    /// What `AWSPREVIOUS` holds: the key the last rotation retired.
    pub previous: Option<HeldKey>,
    /// The user's keys; `None` when there is no such user.
    pub user_keys: Option<Vec<(String, KeyStatus)>>,
    /// The user's tags (the exemption tag).
    pub user_tags: BTreeMap<String, String>,
    /// When keyguard contained each of the user's keys, for those it did (the ledger's
    /// per-key record).
    pub contained: BTreeMap<String, Timestamp>,
}

impl SecretFacts {
    /// The user this secret manages: its tag's, and only its tag's. Whoever may write the
    /// secret's value could otherwise retarget the rotation at any user (the value is
    /// checked against the tag instead, see [`decide_step`]).
    pub fn user(&self, cfg: &RotatorConfig) -> Option<String> {
        crate::guard::tag_value(&self.tags, &cfg.secret_user_tag).map(str::to_owned)
    }

    fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(v, _)| v.as_str())
    }
}

struct Builder {
    plan: Plan,
    secret: String,
    token: String,
}

impl Builder {
    fn new(secret: &str, token: &str) -> Self {
        let plan = Plan::for_event(FUNCTION, Decision::Act, token.to_owned());
        Self {
            plan,
            secret: secret.to_owned(),
            token: token.to_owned(),
        }
    }

    /// Each step is named by the secret and, when it acts on a key, by that key: two
    /// keys deleted in one step never share a ledger row.
    /// Adds a step; returns its ledger key, for a notice that must wait for it.
    fn step(&mut self, action: Action, reason: String) -> String {
        let subject = match action.key_id() {
            Some(k) => step_key::Subject::other(&self.secret).with_key(k.as_str()),
            None => step_key::Subject::other(&self.secret),
        };
        let idempotency_key = step_key::step(FUNCTION, action.name(), None, &subject, &self.token);
        self.plan.steps.push(Step {
            replaces: None,
            after: None,
            scope: None,
            action,
            reason,
            idempotency_key: idempotency_key.clone(),
            window: None,
        });
        idempotency_key
    }

    fn done(mut self, decision: Decision) -> Plan {
        self.plan.decision = decision;
        self.plan
    }

    /// Refused, with a notice: a rotation that stops must never stop silently.
    fn refuse(mut self, user: Option<&UserName>, why: String) -> Plan {
        let notice = Notice::new(Severity::High, "Secret rotation refused")
            .user(user.cloned())
            .fact("secret_arn", self.secret.clone())
            .fact("why", why.clone());
        self.step(Action::Notify { notice }, why.clone());
        self.done(Decision::Refused { why })
    }
}

fn parse_user(raw: &str) -> Result<UserName, Decision> {
    UserName::parse(raw).map_err(|e| Decision::Invalid {
        why: format!("the secret's user: {e}"),
    })
}

fn parse_key(raw: &str, what: &str) -> Result<AccessKeyId, Decision> {
    AccessKeyId::parse(raw).map_err(|e| Decision::Invalid {
        why: format!("{what}: {e}"),
    })
}

/// Whether secrets-rotator acts on this event at all: the decision when it does not (its
/// schedule from an untrusted source is refused, anything but a rotation step or the
/// schedule ignored). The function and `keyguard plan` both ask this first.
pub fn gate(trigger: &crate::Trigger, cfg: &RotatorConfig) -> Option<Decision> {
    match trigger {
        crate::Trigger::Rotation(event) => {
            foreign_secret(event, cfg).map(|why| Decision::ForeignAccount { why })
        }
        crate::Trigger::Scheduled { .. } => cfg
            .guard
            .untrusted(trigger, None)
            .map(|why| Decision::Refused { why }),
        _ => Some(Decision::Ignored {
            why: format!("{FUNCTION} acts on Secrets Manager rotation steps and its schedule only"),
        }),
    }
}

/// Why a rotation step's secret is not keyguard's to read, if its ARN names another
/// account: Secrets Manager invokes a rotation function only for its own account's
/// secrets, so such a step is forged, and is refused before any call (AWS would refuse
/// the read anyway). A bare name or an ARN in keyguard's account goes ahead; so does any
/// secret when keyguard does not know its account (the read then stays in its own).
fn foreign_secret(event: &RotationEvent, cfg: &RotatorConfig) -> Option<String> {
    let home = cfg.guard.me.account.as_ref()?;
    let mut parts = event.secret_id.splitn(6, ':');
    if parts.next() != Some("arn") {
        return None;
    }
    let account = parts.nth(3)?;
    (account != home.as_str()).then(|| {
        format!(
            "the secret {} is in account {account}, not keyguard's account {home}",
            event.secret_id
        )
    })
}

/// A notice about a key's creation or deletion: user, key id, secret, time; never a secret.
pub fn key_notice(
    what: &str,
    user: &UserName,
    key_id: Option<&AccessKeyId>,
    secret: &str,
    now: Timestamp,
) -> Notice {
    Notice::new(Severity::Info, format!("Access key {what} for {user}"))
        .user(Some(user.clone()))
        .key(key_id.cloned())
        .fact("secret_arn", secret)
        .fact("at", now.to_rfc3339())
}

/// The plan for one rotation step.
pub fn decide_step(
    event: &RotationEvent,
    cfg: &RotatorConfig,
    facts: &SecretFacts,
    now: Timestamp,
) -> Plan {
    let token = &event.client_request_token;
    let b = Builder::new(&facts.arn, token);
    match plan_step(b, event, cfg, facts, now) {
        Ok(plan) => plan,
        Err(decision) => Plan::for_event(FUNCTION, decision, token.clone()),
    }
}

fn plan_step(
    mut b: Builder,
    event: &RotationEvent,
    cfg: &RotatorConfig,
    facts: &SecretFacts,
    now: Timestamp,
) -> Result<Plan, Decision> {
    let token = &event.client_request_token;
    let secret = facts.arn.clone();
    let token_stages = facts.versions.get(token);
    let token_is = |stage: &str| token_stages.is_some_and(|s| s.iter().any(|x| x == stage));
    // Secrets Manager registers the token as AWSPENDING before calling createSecret;
    // any other stage on it means the rotation is not this one.
    if token_stages.is_some() && !token_is(PENDING) && !token_is(CURRENT) {
        return Err(Decision::Invalid {
            why: format!(
                "version {token} of {secret} is not AWSPENDING: not a rotation in progress"
            ),
        });
    }
    let user_raw = facts.user(cfg).ok_or_else(|| Decision::Invalid {
        why: format!(
            "{secret} names no IAM user (no UserName in its value, no {} tag)",
            cfg.secret_user_tag
        ),
    })?;
    let user = parse_user(&user_raw)?;
    // The value must agree with the tag: a value naming another user (or holding a key
    // the user does not have) would point the rotation at someone else's keys.
    for (stage, held) in [
        (CURRENT, &facts.current),
        (PENDING, &facts.pending),
        (PREVIOUS, &facts.previous),
    ] {
        if let Some(named) = held.as_ref().and_then(|h| h.user.as_deref()) {
            if !same_name(named, user.as_str()) {
                return Ok(b.refuse(
                    Some(&user),
                    format!(
                    "{secret} is tagged for {user} but its {stage} value names {}: nothing changed",
                    crate::notice::clean(named, 64)
                ),
                ));
            }
        }
    }
    let guard = &cfg.guard;
    if guard.user_untouchable(user.as_str(), &facts.user_tags) {
        return Ok(b.refuse(
            Some(&user),
            format!("{user} is exempt or keyguard's own user: rotate {secret} by hand"),
        ));
    }
    let holds = |key: &str| {
        facts
            .user_keys
            .as_ref()
            .is_some_and(|keys| keys.iter().any(|(k, _)| k == key))
    };
    let current_key = facts.current.as_ref().and_then(|c| c.key_id.as_deref());
    if let Some(key) = current_key.filter(|k| facts.user_keys.is_some() && !holds(k)) {
        return Ok(b.refuse(
            Some(&user),
            format!(
                "{secret}'s AWSCURRENT holds key {}, which {user} does not have: nothing changed",
                crate::notice::clean(key, 32)
            ),
        ));
    }
    let pending_key = facts.pending.as_ref().and_then(|p| p.key_id.as_deref());
    match event.step {
        RotationStep::Create => {
            if let Some(key) = pending_key {
                return Ok(b.done(Decision::NothingToDo {
                    why: format!("AWSPENDING already holds key {key} for this token"),
                }));
            }
            let keys = facts.user_keys.as_ref().ok_or_else(|| Decision::NotFound {
                what: format!("no IAM user {user} for {secret}"),
            })?;
            let current = facts.current.as_ref().and_then(|c| c.key_id.as_deref());
            let others: Vec<&(String, KeyStatus)> = keys
                .iter()
                .filter(|(k, _)| Some(k.as_str()) != current)
                .collect();
            if keys.len() >= 2 {
                if let Some((active, _)) = others.iter().find(|(_, s)| *s == KeyStatus::Active) {
                    return Ok(b.refuse(Some(&user), format!(
                        "{user} already has two keys and {active}, which {secret} does not hold, is Active: deactivate or delete it by hand, then rotate again"
                    )));
                }
                let retention = chrono::Duration::days(i64::from(cfg.retention_days));
                if let Some((key, at)) = others.iter().find_map(|(k, _)| {
                    facts
                        .contained
                        .get(k)
                        .filter(|at| now - **at < retention)
                        .map(|at| (k, at))
                }) {
                    return Ok(b.refuse(Some(&user), format!(
                        "{user}'s other key {key} was contained by keyguard on {}: it is evidence, never deleted to make room; delete it by hand once investigated, then rotate again",
                        at.format("%Y-%m-%d")
                    )));
                }
                for (other, _) in others {
                    let key = parse_key(other, "the user's other key")?;
                    let deleted = b.step(
                        Action::DeleteKey {
                            user: user.clone(),
                            key_id: key.clone(),
                        },
                        format!("{user} has two keys; {key} is Inactive and not held by the secret: deleted to make room"),
                    );
                    b.step(
                        Action::Notify {
                            notice: key_notice("deleted", &user, Some(&key), &secret, now),
                        },
                        format!("key {key} of {user} deleted"),
                    );
                    // Announced only once it happened.
                    if let Some(notice) = b.plan.steps.last_mut() {
                        notice.after = Some(deleted);
                    }
                }
            }
            b.step(
                Action::CreatePendingKey {
                    secret_id: secret.clone(),
                    token: token.clone(),
                    user: user.clone(),
                },
                format!("rotation of {secret}: a new key for {user}, stored as AWSPENDING"),
            );
            Ok(b.done(Decision::Act))
        }
        RotationStep::Set => {
            let key = pending_key.ok_or_else(|| no_pending(&secret, token))?;
            let key = parse_key(key, "the pending key")?;
            b.step(
                Action::Notify {
                    notice: key_notice("created", &user, Some(&key), &secret, now),
                },
                "setSecret: an IAM key is live when created, nothing to set; announce the new key"
                    .into(),
            );
            Ok(b.done(Decision::Act))
        }
        RotationStep::Test => {
            let key = pending_key.ok_or_else(|| no_pending(&secret, token))?;
            let key_id = parse_key(key, "the pending key")?;
            b.step(
                Action::TestPendingKey {
                    secret_id: secret.clone(),
                    token: token.clone(),
                    user: user.clone(),
                    key_id,
                },
                format!("the pending key must sign in as {user}"),
            );
            Ok(b.done(Decision::Act))
        }
        RotationStep::Finish => {
            if token_is(CURRENT) {
                // Promoted by an earlier attempt that may have died before retiring the
                // old key: the retirement follows from AWSPREVIOUS, so a retry finishes it.
                let previous = facts.previous.as_ref().and_then(|p| p.key_id.as_deref());
                let still_active = previous.filter(|p| {
                    Some(*p) != current_key
                        && facts.user_keys.as_ref().is_some_and(|keys| {
                            keys.iter().any(|(k, s)| k == p && *s == KeyStatus::Active)
                        })
                });
                let Some(old) = still_active else {
                    return Ok(b.done(Decision::NothingToDo {
                        why: format!(
                            "version {token} is already AWSCURRENT and its predecessor retired"
                        ),
                    }));
                };
                retire(
                    &mut b,
                    &user,
                    old,
                    cfg,
                    &format!(
                    "version {token} is AWSCURRENT but the key it replaced, {old}, is still Active"
                ),
                )?;
                return Ok(b.done(Decision::Act));
            }
            let new_key = pending_key.ok_or_else(|| no_pending(&secret, token))?;
            let from = facts.version_with(CURRENT).map(str::to_owned);
            b.step(
                Action::PromotePending {
                    secret_id: secret.clone(),
                    token: token.clone(),
                    from_version: from,
                },
                format!("the new key {new_key} passed its test: AWSCURRENT moves to it"),
            );
            let old = facts.current.as_ref().and_then(|c| c.key_id.as_deref());
            let old_active = old.and_then(|o| {
                facts
                    .user_keys
                    .as_ref()?
                    .iter()
                    .find(|(k, s)| k == o && *s == KeyStatus::Active)
            });
            if let Some((old, _)) = old_active.filter(|(o, _)| o != new_key) {
                retire(
                    &mut b,
                    &user,
                    old,
                    cfg,
                    &format!("the previous key {old} is retired"),
                )?;
            }
            Ok(b.done(Decision::Act))
        }
    }
}

/// Sets the key a rotation replaced Inactive; the sweep deletes it after the grace.
fn retire(
    b: &mut Builder,
    user: &UserName,
    old: &str,
    cfg: &RotatorConfig,
    why: &str,
) -> Result<(), Decision> {
    let key_id = parse_key(old, "the previous key")?;
    b.step(
        Action::DeactivateKey {
            user: user.clone(),
            key_id,
        },
        format!("{why}: Inactive now, deleted after {} days", cfg.grace_days),
    );
    Ok(())
}

fn no_pending(secret: &str, token: &str) -> Decision {
    Decision::Failed {
        why: format!(
            "{secret} has no AWSPENDING key for token {token}: createSecret has not run or failed"
        ),
    }
}

#[cfg(test)]
mod tests;
