//! `keyguard undo`: reverses exactly what keyguard's containment did for an event or a
//! key, from the ledger's rows and the state each write replaced, and nothing it cannot
//! prove it did. Pure: the rows and what IAM says now in, the plans and the refusals out.

use crate::effects::Prior;
use crate::history::{Record, UNDO};
use crate::key::{AccessKeyId, UserName};
use crate::notice::{Notice, Severity};
use crate::plan::{Action, Decision, Plan, Step};
use crate::policy::containment::KeyStatus;
use crate::revocation;
use serde::Serialize;
use std::collections::BTreeMap;

/// The functions whose writes are containment, and so can be undone.
const CONTAINMENT: [&str; 2] = ["deactivate-key", "guardduty-translator"];

/// The actions that change something in an account (the rest tell: a notice, an email,
/// an incident, a hand-off, an alert, a test sign-in).
const WRITES: [&str; 6] = [
    "deactivate_key",
    "revoke_sessions",
    "delete_key",
    "create_pending_key",
    "promote_pending",
    "start_runbook",
];

/// What was asked to be undone: every containment of a key, or an event's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    Key(String),
    Event(String),
}

impl Asked {
    pub fn covers(&self, r: &Record) -> bool {
        match self {
            Self::Key(k) => r.key_id.as_deref() == Some(k.as_str()),
            Self::Event(e) => r.event_id.as_deref() == Some(e.as_str()),
        }
    }
}

/// How close to a containment another one of the same key counts as its twin (two
/// signals about one leak, a Health event and a GuardDuty finding): undoing one leaves
/// the key to the other.
const TWINS: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// What the reversal must read now, before deciding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Read {
    /// The key's status (`ListAccessKeys` of its user).
    Key { user: UserName, key_id: AccessKeyId },
    /// The user's inline policy of the revocation's name.
    Policy { user: UserName, policy_name: String },
}

/// What IAM says now, for each [`Read`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Current {
    /// Key id → its status; `None`: the key no longer exists.
    pub keys: BTreeMap<String, Option<KeyStatus>>,
    /// User (in lower case) → its policy of the revocation's name; `None`: it has none.
    pub policies: BTreeMap<String, Option<String>>,
}

/// A step undo does not reverse, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub step: String,
    pub function: String,
    pub action: String,
    pub why: String,
}

/// The reversal: one plan per event whose containment is reversed, what is refused, and
/// the steps already undone before.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Undo {
    pub plans: Vec<Plan>,
    pub refused: Vec<Refusal>,
    pub already: Vec<String>,
}

/// The idempotency key of the reversal of step `original`: one reversal per step, ever.
pub fn reversal_key(action: &str, original: &str) -> String {
    format!("{UNDO}:{action}:{original}")
}

fn reversed_step(record: &Record) -> Option<&str> {
    ["reactivate_key", "restore_policy"]
        .iter()
        .find_map(|a| record.idempotency_key.strip_prefix(&format!("{UNDO}:{a}:")))
}

fn user_of(record: &Record) -> Option<UserName> {
    record.user.as_deref().and_then(|u| UserName::parse(u).ok())
}

/// The reads [`decide`] needs for the rows asked about (the others only say what still
/// stands on them, and need no read).
pub fn reads(asked: &Asked, records: &[Record]) -> Vec<Read> {
    let mut reads: Vec<Read> = records
        .iter()
        .filter(|r| asked.covers(r))
        .filter(|r| CONTAINMENT.contains(&r.function.as_str()) && r.status == "done")
        .filter_map(|r| {
            let user = user_of(r)?;
            match r.action.as_str() {
                "deactivate_key" => Some(Read::Key {
                    user,
                    key_id: AccessKeyId::parse(r.key_id.as_deref()?).ok()?,
                }),
                "revoke_sessions" => Some(Read::Policy {
                    user,
                    policy_name: revocation::written(&r.detail()?)?.0,
                }),
                _ => None,
            }
        })
        .collect();
    reads.sort();
    reads.dedup();
    reads
}

struct Deciding<'a> {
    asked: &'a Asked,
    /// Every row known: those asked about, and the rest of their keys' and users'.
    records: &'a [Record],
    undone: Vec<&'a str>,
    current: &'a Current,
    /// The user's policy as the reversals planned so far leave it.
    policies: BTreeMap<String, Option<String>>,
    /// Keys a reversal planned so far sets Active.
    reactivated: Vec<String>,
    undo: Undo,
    steps: BTreeMap<String, Vec<Step>>,
}

impl<'a> Deciding<'a> {
    /// Another write that still stands and that undoing `r` would overturn: a later
    /// write on the key by a function undo does not reverse, or another containment not
    /// asked about, later than `r` or its twin.
    /// A row of another account names another principal, whatever its name: it never
    /// stands on this one.
    fn overturned(&self, r: &Record, same: impl Fn(&Record) -> bool) -> Option<&'a Record> {
        self.records.iter().find(|d| {
            d.idempotency_key != r.idempotency_key
                && d.account == r.account
                && d.status == "done"
                && WRITES.contains(&d.action.as_str())
                && same(d)
                && !self.undone.contains(&d.idempotency_key.as_str())
                && if CONTAINMENT.contains(&d.function.as_str()) {
                    !self.asked.covers(d) && d.at >= r.at - TWINS
                } else {
                    // Planned before `r` (age-rotation plans at its scan's start) but
                    // written after `r` began: `r`'s snapshot, read as it began, may
                    // not have seen that write, so undoing `r` could overturn it.
                    d.at >= r.at || d.ran_at.is_some_and(|ran| ran >= r.at)
                }
        })
    }

    fn refuse_for(&mut self, r: &Record, other: &Record) {
        let event = other.event_id.as_deref().unwrap_or("-");
        let why = format!(
            "{} {} for event {event} at {} also stands on it, and this undo does not reverse that: undo --key to take back every containment of the key, or leave it",
            other.function,
            other.action,
            other.at.format("%Y-%m-%dT%H:%M:%SZ")
        );
        self.refuse(r, why);
    }

    fn refuse(&mut self, r: &Record, why: impl Into<String>) {
        self.undo.refused.push(Refusal {
            step: r.idempotency_key.clone(),
            function: r.function.clone(),
            action: r.action.clone(),
            why: why.into(),
        });
    }

    fn plan(&mut self, r: &Record, action: Action, what: &str, reason: &str) {
        let idempotency_key = reversal_key(action.name(), &r.idempotency_key);
        self.steps
            .entry(r.event_id.clone().unwrap_or_default())
            .or_default()
            .push(Step {
                replaces: None,
                after: None,
                scope: None,
                action,
                reason: format!(
                    "undo of {} ({} {} at {}): {what}; {reason}",
                    r.idempotency_key,
                    r.function,
                    r.action,
                    r.at.format("%Y-%m-%dT%H:%M:%SZ")
                ),
                idempotency_key,
                window: None,
            });
    }

    fn revocation(&mut self, r: &Record, user: UserName, reason: &str) {
        let Some(Prior::InlinePolicy { document }) = r.replaces.clone() else {
            return self.refuse(r, "its row keeps no snapshot of the policy it replaced (made before snapshots, or with the ledger down): keyguard cannot prove what to put back");
        };
        let Some((policy_name, wrote)) = r.detail().as_deref().and_then(revocation::written) else {
            return self.refuse(r, "its row does not say what it wrote");
        };
        // Another revocation of the user with the same cut-off or a later one relies on
        // this policy as it stands.
        let same_user = |d: &Record| {
            d.action == "revoke_sessions"
                && d.user.as_deref().map(str::to_ascii_lowercase)
                    == r.user.as_deref().map(str::to_ascii_lowercase)
                && d.detail()
                    .as_deref()
                    .and_then(revocation::written)
                    .is_some_and(|(_, cut)| cut >= wrote)
        };
        if let Some(other) = self.overturned(r, same_user) {
            return self.refuse_for(r, other);
        }
        let who = user.as_str().to_ascii_lowercase();
        let now = match self.policies.get(&who) {
            Some(p) => p.clone(),
            None => match self.current.policies.get(&who) {
                Some(p) => p.clone(),
                None => return self.refuse(r, "the user's policy was not read"),
            },
        };
        let Some(now) = now else {
            return self.refuse(r, format!("user {user} has no policy {policy_name} any more: someone removed it, so there is nothing of keyguard's to take back"));
        };
        match revocation::cut_off_of(&now) {
            Some(cut) if cut == wrote => {}
            other => {
                let now = other.map_or_else(
                    || "is no revocation".to_owned(),
                    |c| {
                        format!(
                            "denies sessions issued before {}",
                            c.format("%Y-%m-%dT%H:%M:%SZ")
                        )
                    },
                );
                return self.refuse(r, format!("policy {policy_name} of {user} was written again since: it now {now}, this step wrote {}; another containment may rely on it, so it is left as it is", wrote.format("%Y-%m-%dT%H:%M:%SZ")));
            }
        }
        let what = match &document {
            Some(_) => format!("put back the policy {policy_name} of {user} that it replaced"),
            None => format!("remove the policy {policy_name} of {user} (there was none before)"),
        };
        self.policies.insert(who, document.clone());
        let key_id = r.key_id.as_deref().and_then(|k| AccessKeyId::parse(k).ok());
        self.plan(
            r,
            Action::RestorePolicy {
                user,
                policy_name,
                document,
                key_id,
            },
            &what,
            reason,
        );
    }

    fn deactivation(&mut self, r: &Record, user: UserName, reason: &str) {
        let Some(key_id) = r.key_id.as_deref().and_then(|k| AccessKeyId::parse(k).ok()) else {
            return self.refuse(r, "its row names no key");
        };
        let Some(Prior::KeyStatus { status }) = &r.replaces else {
            return self.refuse(r, "its row keeps no snapshot of the key's status before (made before snapshots, or with the ledger down): keyguard cannot prove it changed the key");
        };
        if status != "Active" {
            return self.refuse(
                r,
                format!("key {key_id} was already {status} before this step: nothing of keyguard's to reverse"),
            );
        }
        if let Some(other) = self.overturned(r, |d| d.key_id == r.key_id) {
            return self.refuse_for(r, other);
        }
        let reactivate = Action::ReactivateKey {
            user: user.clone(),
            key_id: key_id.clone(),
        };
        if self.reactivated.contains(&key_id.to_string()) {
            // An earlier containment of a key this undo already sets Active: recorded as
            // undone too (setting an Active key Active changes nothing).
            let what = format!("key {key_id} of {user} is set Active by this undo");
            return self.plan(r, reactivate, &what, reason);
        }
        match self.current.keys.get(key_id.as_str()) {
            None => self.refuse(r, "the key's status was not read"),
            Some(None) => self.refuse(r, format!("key {key_id} of {user} no longer exists: a deleted key cannot be restored")),
            Some(Some(KeyStatus::Inactive)) => {
                self.reactivated.push(key_id.to_string());
                let what = format!("set key {key_id} of {user} Active again, as it was");
                self.plan(r, reactivate, &what, reason);
            }
            Some(Some(now)) => self.refuse(r, format!("key {key_id} is {now:?} now: its status changed since keyguard deactivated it, so undo leaves it to whoever changed it")),
        }
    }
}

/// What to reverse of these rows (a key's or an event's, from the ledger), given what
/// IAM says now. `reason` and `by` (the caller's identity) go into every row and the
/// notice.
pub fn decide(
    asked: &Asked,
    records: &[Record],
    current: &Current,
    reason: &str,
    by: &str,
) -> Undo {
    let undone: Vec<&str> = records
        .iter()
        .filter(|r| r.function == UNDO && r.status == "done")
        .filter_map(reversed_step)
        .collect();
    let mut d = Deciding {
        asked,
        records,
        undone: undone.clone(),
        current,
        policies: BTreeMap::new(),
        reactivated: Vec::new(),
        undo: Undo::default(),
        steps: BTreeMap::new(),
    };
    // Newest first: a user's later revocation is taken back before its earlier one, so
    // each finds the policy as it left it. The steps of one run share their planned time:
    // then the one claimed later goes first, and without that record a revocation (which
    // comes after its key's step), the later cut-off first.
    let caller_account = by.split(':').nth(4).filter(|a| !a.is_empty());
    let mut writes: Vec<&Record> = records
        .iter()
        .filter(|r| WRITES.contains(&r.action.as_str()) && asked.covers(r))
        .collect();
    let order = |r: &Record| {
        let wrote = r
            .detail()
            .as_deref()
            .and_then(revocation::written)
            .map(|w| w.1);
        (r.at, r.ran_at, r.action == "revoke_sessions", wrote)
    };
    writes.sort_by_key(|r| std::cmp::Reverse(order(r)));
    for r in writes {
        if undone.contains(&r.idempotency_key.as_str()) {
            d.undo.already.push(r.idempotency_key.clone());
            continue;
        }
        match r.status.as_str() {
            "done" => {}
            "claimed" | "unknown" => {
                d.refuse(r, "it was claimed and never settled: it may or may not have happened, and undo reverses only what it can prove");
                continue;
            }
            // Failed or suppressed: it wrote nothing.
            _ => continue,
        }
        if !CONTAINMENT.contains(&r.function.as_str()) {
            d.refuse(r, format!("{} is not containment: undo reverses only what deactivate-key and guardduty-translator contained", r.function));
            continue;
        }
        // undo acts with the caller's own credentials, in the caller's account: a step
        // keyguard took in a member account is reversed from there, never here on a
        // same-named user.
        if let Some(acted_in) = r.account.as_deref().filter(|a| Some(*a) != caller_account) {
            d.refuse(r, format!(
                "it acted in account {acted_in}, and undo acts with your credentials in account {}, where a same-named principal is somebody else: reverse it in account {acted_in} by hand (keyguard audit shows what the step replaced)",
                caller_account.unwrap_or("(unknown)")
            ));
            continue;
        }
        let Some(user) = user_of(r) else {
            d.refuse(r, "it names no IAM user (a role's revocation): remove the policy by hand if it must go");
            continue;
        };
        match r.action.as_str() {
            "deactivate_key" => d.deactivation(r, user, reason),
            "revoke_sessions" => d.revocation(r, user, reason),
            "start_runbook" => d.refuse(r, "the runbook's rotation (a new key in the user's secret) is not undone: rotate back by hand if it must be"),
            other => d.refuse(r, format!("{other} cannot be undone")),
        }
    }
    let steps = std::mem::take(&mut d.steps);
    for (event, mut steps) in steps {
        let mut plan = Plan::for_event(UNDO, Decision::Act, event.clone());
        plan.classifier_source = Some(by.to_owned());
        let mut notice = Notice::new(Severity::High, "keyguard undo: a containment was reversed")
            .fact("by", by)
            .fact("reason", reason)
            .fact("event", event.as_str());
        for (i, s) in steps.iter().enumerate() {
            notice = notice.fact(&format!("step {}", i + 1), s.reason.as_str());
        }
        // Each reversal waits for the one before, and the notice for the last: it is
        // told only once every one went through, so it never says more than happened. A
        // failed one holds the rest for the next undo, whose notice (named by the set of
        // reversals it tells) is its own.
        for i in 1..steps.len() {
            steps[i].after = Some(steps[i - 1].idempotency_key.clone());
        }
        let last = steps.last().map(|s| s.idempotency_key.clone());
        let all: Vec<&str> = steps.iter().map(|s| s.idempotency_key.as_str()).collect();
        let told = crate::digest::uuid_from(&all.join("\n"));
        steps.push(Step {
            replaces: None,
            after: last,
            scope: None,
            action: Action::Notify { notice },
            reason: format!("tell the responders what undo reversed and why: {reason}"),
            idempotency_key: format!("{UNDO}:notify:{event}:{told}"),
            window: None,
        });
        plan.steps = steps;
        d.undo.plans.push(plan);
    }
    d.undo
}

#[cfg(test)]
mod tests;
