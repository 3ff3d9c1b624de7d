//! secrets-rotator's scheduled sweep.
//!
//! - A key a rotation retired (the secret's `AWSPREVIOUS` key, Inactive, rotated at least
//!   `DELETE_GRACE_DAYS` ago) is deleted. Only that key: an Inactive key someone set aside
//!   by hand (say, for an investigation) is never deleted by the sweep.
//! - An Active key unused for `UNUSED_KEY_DAYS` (never used: counted from its creation)
//!   is deactivated when its user is `UserType=employee`; a machine's, an untagged user's
//!   or an exempt user's is reported, never touched.
//!
//! Thresholds are `>=`: a missed run cannot let a key slip past one.

use crate::key::{AccessKeyId, UserName};
use crate::notice::{Notice, Severity};
use crate::plan::{Action, Decision, Plan, Step};
use crate::policy::containment::KeyStatus;
use crate::policy::rotation::{key_notice, RotatorConfig, FUNCTION};
use crate::scope::{AccountId, Scope};
use crate::time::Timestamp;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts {
    pub key_id: String,
    pub status: KeyStatus,
    pub created: Timestamp,
    /// `GetAccessKeyLastUsed`; `None` when never used.
    pub last_used: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFacts {
    pub name: String,
    pub tags: BTreeMap<String, String>,
    pub keys: Vec<KeyFacts>,
}

/// A keyguard-managed secret, as far as the sweep needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedSecret {
    pub arn: String,
    pub user: String,
    pub current_key: Option<String>,
    pub previous_key: Option<String>,
    pub last_rotated: Option<Timestamp>,
    /// When secrets-rotator itself retired `previous_key`, by the ledger's per-key record.
    /// Without it the key was set aside by someone else, and is never deleted here.
    pub previous_retired_at: Option<Timestamp>,
    /// When keyguard contained `previous_key`, if it did: evidence, kept.
    pub previous_contained_at: Option<Timestamp>,
}

fn days(from: Timestamp, now: Timestamp) -> i64 {
    (now - from).num_days()
}

/// Adds a step, acting in `at` (a member account; `None`: keyguard's own); returns its
/// ledger key, for a notice that must wait for it.
fn step(
    plan: &mut Plan,
    at: Option<&Scope>,
    action: Action,
    reason: String,
    scope: &str,
) -> String {
    let account = at.map(|s| format!("{}:", s.account)).unwrap_or_default();
    let idempotency_key = format!("{FUNCTION}:{}:{account}{scope}", action.name());
    plan.steps.push(Step {
        replaces: None,
        after: None,
        scope: at.cloned(),
        idempotency_key: idempotency_key.clone(),
        action,
        reason,
        window: None,
    });
    idempotency_key
}

/// A notice that says an action happened waits for it: a deletion or deactivation that
/// failed is never announced as done (the notice is then `Waiting`, and the run fails).
fn told_after(plan: &mut Plan, action_key: String) {
    if let Some(notice) = plan.steps.last_mut() {
        notice.after = Some(action_key);
    }
}

/// What names the sweep's deactivation of an unused key in its ledger key.
const UNUSED: &str = "unused:";

/// Whether a step of secrets-rotator's is the sweep's deactivation of an unused key,
/// which retires nothing: only a rotation's own deactivation of the key it replaced
/// lets the sweep delete that key later. (A secret named with `unused:` in it only ever
/// makes its retirement count for less: nothing is deleted on it.)
pub fn is_unused_key_deactivation(idempotency_key: &str) -> bool {
    idempotency_key.starts_with(&format!("{FUNCTION}:deactivate_key:"))
        && idempotency_key.contains(UNUSED)
}

/// Who keyguard itself is never lets it touch its own key.
fn is_me(cfg: &RotatorConfig, user: &str, key: &str) -> bool {
    let guard = &cfg.guard;
    guard.is_me_user(user) || guard.me.key_id.as_deref() == Some(key)
}

pub fn decide_sweep(
    event_ref: &str,
    cfg: &RotatorConfig,
    users: &[UserFacts],
    secrets: &[ManagedSecret],
    now: Timestamp,
) -> Plan {
    decide_sweep_in(None, event_ref, cfg, users, secrets, now)
}

/// The sweep of one account: keyguard's own (`None`), or one an organisation scan names.
/// Its steps act there, their ledger keys name it, and the guard is that account's view:
/// in a member, only `ACCOUNT:NAME` exemptions hold and no user there is keyguard.
pub fn decide_sweep_in(
    account: Option<&AccountId>,
    event_ref: &str,
    cfg: &RotatorConfig,
    users: &[UserFacts],
    secrets: &[ManagedSecret],
    now: Timestamp,
) -> Plan {
    let view = RotatorConfig {
        guard: cfg.guard.in_account(account).into_owned(),
        ..cfg.clone()
    };
    let cfg = &view;
    let at = account.map(|account| Scope {
        account: account.clone(),
        region: None,
    });
    let at = at.as_ref();
    let mut plan = Plan::for_event(FUNCTION, Decision::Act, event_ref.to_owned());
    let by_name: BTreeMap<&str, &UserFacts> = users.iter().map(|u| (u.name.as_str(), u)).collect();
    let grace = i64::from(cfg.grace_days);
    for secret in secrets {
        // Only a key keyguard's own rotation retired, its grace counted from that
        // retirement: anyone who may tag a secret could otherwise point AWSPREVIOUS at a
        // key set aside for an investigation and have it deleted.
        let (Some(previous), Some(rotated)) = (&secret.previous_key, secret.previous_retired_at)
        else {
            continue;
        };
        if secret.current_key.as_ref() == Some(previous) || days(rotated, now) < grace {
            continue;
        }
        let retention = i64::from(cfg.retention_days);
        if secret
            .previous_contained_at
            .is_some_and(|at| days(at, now) < retention)
        {
            continue;
        }
        // IAM names compare regardless of case.
        let Some(user) = by_name
            .iter()
            .find(|(name, _)| crate::guard::same_name(name, &secret.user))
            .map(|(_, u)| *u)
        else {
            continue;
        };
        let retired = user
            .keys
            .iter()
            .any(|k| &k.key_id == previous && k.status == KeyStatus::Inactive);
        let (Ok(name), Ok(key)) = (UserName::parse(&user.name), AccessKeyId::parse(previous))
        else {
            continue;
        };
        if !retired || is_me(cfg, &user.name, previous) || cfg.exempt(&user.name, &user.tags) {
            continue;
        }
        let deleted = step(
            &mut plan,
            at,
            Action::DeleteKey {
                user: name.clone(),
                key_id: key.clone(),
            },
            format!(
                "{previous} was retired by the rotation of {} {} days ago (grace {grace}) and is Inactive",
                secret.arn,
                days(rotated, now)
            ),
            previous,
        );
        step(
            &mut plan,
            at,
            Action::Notify {
                notice: key_notice("deleted", &name, Some(&key), &secret.arn, now),
            },
            format!("key {previous} of {name} deleted"),
            &format!("deleted:{previous}"),
        );
        told_after(&mut plan, deleted);
    }
    let limit = i64::from(cfg.unused_days);
    for user in users {
        // A canary is unused on purpose: reporting it daily would teach people to ignore
        // the report.
        if crate::canary::is_canary(&user.name, &user.tags) {
            continue;
        }
        let Ok(name) = UserName::parse(&user.name) else {
            continue;
        };
        let kind =
            crate::guard::tag_value(&user.tags, &cfg.user_type_tag).map(str::to_ascii_lowercase);
        for key in user.keys.iter().filter(|k| k.status == KeyStatus::Active) {
            let since = key.last_used.unwrap_or(key.created);
            let age = days(since, now);
            let Ok(key_id) = AccessKeyId::parse(&key.key_id) else {
                continue;
            };
            if age < limit {
                continue;
            }
            let usage = match key.last_used {
                Some(_) => format!("unused for {age} days"),
                None => format!("never used in the {age} days since its creation"),
            };
            let touchable = kind.as_deref() == Some("employee")
                && !cfg.exempt(&user.name, &user.tags)
                && !is_me(cfg, &user.name, &key.key_id);
            let mut deactivated = None;
            let (severity, subject, reason) = if touchable {
                deactivated = Some(step(
                    &mut plan,
                    at,
                    Action::DeactivateKey {
                        user: name.clone(),
                        key_id: key_id.clone(),
                    },
                    format!("employee {name}'s key {key_id} is {usage} (limit {limit})"),
                    &format!("{UNUSED}{}:{event_ref}", key.key_id),
                ));
                (
                    Severity::Medium,
                    "Unused access key deactivated",
                    "deactivated".to_owned(),
                )
            } else {
                let who = match kind.as_deref() {
                    _ if cfg.exempt(&user.name, &user.tags) => "an exempt user",
                    _ if is_me(cfg, &user.name, &key.key_id) => "keyguard itself",
                    Some("machine") => "a machine user",
                    Some("employee") => "an employee",
                    _ => "a user without a UserType tag",
                };
                (
                    Severity::Low,
                    "Unused access key (not touched)",
                    format!("reported, not touched: {who}"),
                )
            };
            let mut notice = Notice::new(severity, subject)
                .user(Some(name.clone()))
                .key(Some(key_id.clone()))
                .fact("usage", usage.clone())
                .fact("action", reason.clone());
            if let Some(at) = at {
                notice = notice.fact("account", at.account.to_string());
            }
            step(
                &mut plan,
                at,
                Action::Notify { notice },
                format!("{name}'s key {key_id} is {usage}: {reason}"),
                &format!("unused:{}", key.key_id),
            );
            if let Some(action_key) = deactivated {
                told_after(&mut plan, action_key);
            }
        }
    }
    if plan.steps.is_empty() {
        plan.decision = Decision::NothingToDo {
            why: format!("no key unused for {limit} days, no retired key past {grace} days"),
        };
    }
    plan
}

#[cfg(test)]
mod tests;
