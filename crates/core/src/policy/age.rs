//! age-rotation: the daily key-age ladders, one email per person, a summary for the
//! administrators.
//!
//! Thresholds are `>=` (a missed run cannot let a key slip past a stage):
//!
//! | `UserType` | age ≥ warn (70) | ≥ deactivate (80) | ≥ delete (90) |
//! | --- | --- | --- | --- |
//! | `employee` | warning | Active → deactivated | Inactive → deleted; Active → deactivated now, deleted on a later run |
//! | `machine` | warning | warning to renew | critical alert |
//!
//! Tag values compare case-insensitively. A user without a known `UserType`, an exempt
//! user and keyguard itself are never touched; untagged users and users without an
//! `Email` are listed in the summary.
//!
//! Once per key and stage: a deactivation is keyed by key and stage, a deletion by key,
//! an email by what it says (its keys and their stages, so it is sent again only when
//! something changed), the summary by day. A key keyguard deactivated is deleted only
//! after `DELETE_GRACE_DAYS` more (so an Active key found past 90 days, deactivated now,
//! is not deleted by a second run the same day); until then it stays `overdue`.

use crate::config::{self, ConfigError, Env};
use crate::digest::{fnv1a, FNV_OFFSET};
use crate::key::{AccessKeyId, UserName};
use crate::notice::{Notice, Severity};
use crate::plan::{Action, Decision, Email, Plan, Step};
use crate::policy::age_email;
use crate::policy::containment::{KeyStatus, SelfIdentity};
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;

pub const FUNCTION: &str = "age-rotation";

/// The seed's messages, each configurable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Messages {
    pub warn: String,
    pub deactivated: String,
    pub deleted: String,
    pub machine_warning: String,
    pub machine_critical: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeConfig {
    pub warn_days: u32,
    pub deactivate_days: u32,
    pub delete_days: u32,
    /// Days between keyguard's deactivation of a key and its deletion.
    pub grace_days: u32,
    /// `CONTAINED_KEY_RETENTION_DAYS` (default 30): a key deactivate-key or the
    /// translator contained is evidence, and is not deleted for this long after.
    pub retention_days: u32,
    pub user_type_tag: String,
    pub email_tag: String,
    pub sender: String,
    pub subject: String,
    pub messages: Messages,
    /// Who is never touched (exemptions, keyguard's own) and which sources are believed:
    /// containment's guard, read from the same variables.
    pub guard: crate::guard::Guard,
}

impl AgeConfig {
    pub fn from_env(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        let warn_days = config::number(env, "WARN_DAYS", 70)?;
        let deactivate_days = config::number(env, "DEACTIVATE_DAYS", 80)?;
        let delete_days = config::number(env, "DELETE_DAYS", 90)?;
        if !(warn_days <= deactivate_days && deactivate_days <= delete_days) {
            return Err(ConfigError {
                variable: "WARN_DAYS".into(),
                message: format!(
                    "thresholds must rise: WARN_DAYS {warn_days} <= DEACTIVATE_DAYS {deactivate_days} <= DELETE_DAYS {delete_days}"
                ),
            });
        }
        let sender = env.get("SENDER_EMAIL").ok_or_else(|| ConfigError {
            variable: "SENDER_EMAIL".into(),
            message: "required: the SES-verified address emails come from".into(),
        })?;
        let text = |name: &str, default: &str| config::string(env, name, default);
        Ok(Self {
            warn_days,
            deactivate_days,
            delete_days,
            grace_days: config::number(env, "DELETE_GRACE_DAYS", 7)?,
            retention_days: config::number(env, "CONTAINED_KEY_RETENTION_DAYS", 30)?,
            user_type_tag: text("USER_TYPE_TAG", "UserType"),
            email_tag: text("EMAIL_TAG", "Email"),
            sender,
            subject: text("SUBJECT", "AWS Access Key - Renewal - Alerts"),
            messages: Messages {
                warn: text("MESSAGE_WARN", "Your AWS Access keys will be set to inactive from another 10 days. Please rotate your access key before it turns 90 days"),
                deactivated: text("MESSAGE_DEACTIVATED", "Your AWS Access keys has been set to inactive and will be deleted from another 10 days, Please rotate your access key before it turns 90 days"),
                deleted: text("MESSAGE_DELETED", "Your AWS Access keys has been deleted, Please rotate your access key before it turns 90 days."),
                machine_warning: text("MESSAGE_MACHINE_WARNING", "Warning Message to renew your service account access keys"),
                machine_critical: text("MESSAGE_MACHINE_CRITICAL", "Critical Message to renew your service account access keys"),
            },
            guard: crate::guard::Guard::from_env(env, me)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAge {
    pub key_id: String,
    pub status: KeyStatus,
    pub created: Timestamp,
    /// When keyguard last deactivated it (any function, from the ledger), if it did.
    pub deactivated_at: Option<Timestamp>,
    /// When deactivate-key or the translator's runbook contained it, if they did.
    pub contained_at: Option<Timestamp>,
}

/// See [`KeyAge::reactivated`].
pub const REACTIVATION_MARGIN_HOURS: i64 = 1;

impl KeyAge {
    /// Active again although keyguard deactivated it: its owner (or someone) re-activated
    /// it. A deactivation less than [`REACTIVATION_MARGIN_HOURS`] old does not count: a
    /// scan running alongside the one that deactivated it may have read the key Active
    /// before that, and must not take its own stale view for a re-activation (the next
    /// day's run sees a real one).
    pub fn reactivated(&self, now: Timestamp) -> Option<Timestamp> {
        self.deactivated_at.filter(|t| {
            self.status == KeyStatus::Active
                && *t < now - chrono::Duration::hours(REACTIVATION_MARGIN_HOURS)
        })
    }

    /// Until when it is kept as evidence of a containment, if it is now.
    fn retained_until(&self, now: Timestamp, cfg: &AgeConfig) -> Option<Timestamp> {
        let until = self.contained_at? + chrono::Duration::days(i64::from(cfg.retention_days));
        (now < until).then_some(until)
    }
}

/// A user with the keys and tags age-rotation read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub user: String,
    pub tags: BTreeMap<String, String>,
    pub keys: Vec<KeyAge>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Warn,
    Deactivate,
    /// Past the delete threshold but Active, or deactivated by keyguard less than the
    /// grace period ago: deactivated now (if Active), deleted later.
    Overdue,
    Delete,
    MachineWarning,
    MachineCritical,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Self::Warn => "warn",
            Self::Deactivate => "deactivate",
            Self::Overdue => "overdue",
            Self::Delete => "delete",
            Self::MachineWarning => "machine_warning",
            Self::MachineCritical => "machine_critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Employee,
    Machine,
}

/// Employee or machine, by the `UserType` tag (any case); `None` for anything else.
pub fn kind_of(p: &Person, cfg: &AgeConfig) -> Option<Kind> {
    match crate::guard::tag_value(&p.tags, &cfg.user_type_tag)
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        Some("employee") => Some(Kind::Employee),
        Some("machine") => Some(Kind::Machine),
        _ => None,
    }
}

/// The stage of one key, if it has reached one.
pub fn stage(kind: Kind, key: &KeyAge, now: Timestamp, cfg: &AgeConfig) -> Option<Stage> {
    let age_days = (now - key.created).num_days();
    let at = |d: u32| age_days >= i64::from(d);
    // Grace counts from the latest deactivation by any keyguard function, and a key a
    // containment made evidence of is kept for the retention period.
    let in_grace = key
        .deactivated_at
        .is_some_and(|t| (now - t).num_days() < i64::from(cfg.grace_days))
        || key.retained_until(now, cfg).is_some();
    match kind {
        Kind::Employee if at(cfg.delete_days) => Some(match key.status {
            KeyStatus::Inactive if !in_grace => Stage::Delete,
            _ => Stage::Overdue,
        }),
        Kind::Employee if at(cfg.deactivate_days) => Some(Stage::Deactivate),
        Kind::Machine if at(cfg.delete_days) => Some(Stage::MachineCritical),
        Kind::Machine if at(cfg.deactivate_days) => Some(Stage::MachineWarning),
        _ if at(cfg.warn_days) => Some(Stage::Warn),
        _ => None,
    }
}

/// One key's line in a person's email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub key_id: String,
    pub age_days: i64,
    pub stage: Stage,
    /// What keyguard did (or why it did nothing).
    pub done: String,
    /// The configured message for the stage: what to do.
    pub message: String,
}

/// Whether SES can send to the address at all. SES does not support SMTPUTF8: the local
/// part must be 7-bit ASCII, and a domain with other characters must come Punycode-encoded
/// (`xn--…` labels). An address it cannot take is no usable email: the person's key
/// actions go ahead rather than wait for a message that can never be sent, and the
/// summary names them for the administrators.
pub fn deliverable_by_ses(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    let local_ok = (1..=64).contains(&local.len())
        && local.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(b, b',' | b';' | b'<' | b'>' | b'@' | b'"' | b'(' | b')')
        });
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let labels: Vec<&str> = domain.split('.').collect();
    local_ok && address.len() <= 320 && labels.len() >= 2 && labels.iter().all(|l| label_ok(l))
}

/// Lists cut for a notice: at most `MAX_LISTED` names.
const MAX_LISTED: usize = 200;

fn listed(names: &[String]) -> String {
    let mut text = names
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX_LISTED {
        text.push_str(&format!(" … and {} more", names.len() - MAX_LISTED));
    }
    text
}

struct Scan<'a> {
    plan: Plan,
    cfg: &'a AgeConfig,
    /// The guard as it reads in the scanned account (organisation mode): `EXEMPT_USERS`
    /// names hold in a member only as `ACCOUNT:NAME`.
    guard: std::borrow::Cow<'a, crate::guard::Guard>,
    day: String,
    counts: BTreeMap<&'static str, usize>,
    actions: Vec<String>,
    untagged: Vec<String>,
    no_email: Vec<String>,
}

impl Scan<'_> {
    fn step(&mut self, action: Action, reason: String, scope: String) {
        self.plan.steps.push(Step {
            replaces: None,
            after: None,
            scope: None,
            idempotency_key: format!("{FUNCTION}:{}:{scope}", action.name()),
            action,
            reason,
            window: None,
        });
    }

    /// Moves the email (the last step) before the person's key actions, which start at
    /// `first`, and makes each of them wait for it.
    fn tell_first(&mut self, first: usize) {
        let steps = &mut self.plan.steps;
        let Some(email) = steps.pop() else { return };
        for step in &mut steps[first..] {
            step.after = Some(email.idempotency_key.clone());
        }
        steps.insert(first, email);
    }

    fn person(&mut self, p: &Person, now: Timestamp) {
        // A canary is old on purpose and has nobody to tell: the ladder passes it by,
        // and neither emails nor lists it as untagged.
        if crate::canary::is_canary(&p.user, &p.tags) {
            return;
        }
        let first = self.plan.steps.len();
        let Ok(user) = UserName::parse(&p.user) else {
            return;
        };
        let kind = match crate::guard::tag_value(&p.tags, &self.cfg.user_type_tag)
            .map(|v| v.to_ascii_lowercase())
        {
            Some(v) if v == "employee" => Some(Kind::Employee),
            Some(v) if v == "machine" => Some(Kind::Machine),
            _ => None,
        };
        let exempt = self.guard.user_untouchable(&p.user, &p.tags);
        let my_key = self.guard.me.key_id.clone();
        let mut lines = Vec::new();
        for key in &p.keys {
            let age = (now - key.created).num_days();
            let Some(kind) = kind else {
                if age >= i64::from(self.cfg.warn_days) && !self.untagged.contains(&p.user) {
                    self.untagged.push(p.user.clone());
                }
                continue;
            };
            let Some(stage) = stage(kind, key, now, self.cfg) else {
                continue;
            };
            let Ok(key_id) = AccessKeyId::parse(&key.key_id) else {
                continue;
            };
            *self.counts.entry(stage.name()).or_default() += 1;
            let itself = my_key.as_deref() == Some(key.key_id.as_str());
            let action = match stage {
                Stage::Deactivate if key.status == KeyStatus::Active => {
                    Some(Action::DeactivateKey {
                        user: user.clone(),
                        key_id: key_id.clone(),
                    })
                }
                Stage::Overdue if key.status == KeyStatus::Active => Some(Action::DeactivateKey {
                    user: user.clone(),
                    key_id: key_id.clone(),
                }),
                Stage::Delete => Some(Action::DeleteKey {
                    user: user.clone(),
                    key_id: key_id.clone(),
                }),
                _ => None,
            };
            let done = match (&action, exempt || itself) {
                (Some(_), true) => "not touched: exempt from automatic action".to_owned(),
                (Some(Action::DeleteKey { .. }), false) => "deleted".to_owned(),
                (Some(Action::DeactivateKey { .. }), false) if key.reactivated(now).is_some() => {
                    format!(
                        "deactivated again: it was re-activated after keyguard deactivated it on {}",
                        key.reactivated(now).map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string())
                    )
                }
                (Some(_), false) if stage == Stage::Overdue => {
                    "deactivated now; it will be deleted on a later run".to_owned()
                }
                (Some(_), false) => "deactivated".to_owned(),
                (None, _) if stage == Stage::Deactivate => "already inactive".to_owned(),
                (None, _) if stage == Stage::Overdue => match key.retained_until(now, self.cfg) {
                    Some(until) => format!(
                        "inactive; kept as evidence of its containment until {}",
                        until.format("%Y-%m-%d")
                    ),
                    None => format!(
                        "inactive; deleted after {} days of grace",
                        self.cfg.grace_days
                    ),
                },
                (None, _) => "nothing yet".to_owned(),
            };
            if let (Some(action), false) = (action, exempt || itself) {
                let again = key
                    .reactivated(now)
                    .map_or(String::new(), |_| " (re-activated)".to_owned());
                let what = format!("{} {key_id} ({user}, {age} days){again}", action.name());
                // Deactivations once per key and stage, deletions once per key. A key
                // re-activated after keyguard deactivated it is a new deactivation: its
                // key names the one before, so it is not a duplicate of it.
                let scope = match (&action, key.reactivated(now)) {
                    (Action::DeleteKey { .. }, _) => key_id.to_string(),
                    (_, Some(before)) => {
                        format!("{key_id}:{}:after-{}", stage.name(), before.timestamp())
                    }
                    (_, None) => format!("{key_id}:{}", stage.name()),
                };
                self.step(
                    action,
                    format!(
                        "key {key_id} of {user} is {age} days old: stage {}",
                        stage.name()
                    ),
                    scope,
                );
                // Only an Active key is deactivated: that is what the write replaces, and
                // the claim keeps it, with no read before the write (`Step::replaces`).
                if let Some(step) = self.plan.steps.last_mut() {
                    if matches!(step.action, Action::DeactivateKey { .. }) {
                        step.replaces = Some(crate::effects::Prior::KeyStatus {
                            status: "Active".into(),
                        });
                    }
                }
                self.actions.push(what);
            }
            let messages = &self.cfg.messages;
            let message = match stage {
                Stage::Warn => &messages.warn,
                Stage::Deactivate | Stage::Overdue => &messages.deactivated,
                Stage::Delete => &messages.deleted,
                Stage::MachineWarning => &messages.machine_warning,
                Stage::MachineCritical => &messages.machine_critical,
            };
            lines.push(Line {
                key_id: key.key_id.clone(),
                age_days: age,
                stage,
                done,
                message: message.clone(),
            });
        }
        if lines.is_empty() {
            return;
        }
        let to =
            crate::guard::tag_value(&p.tags, &self.cfg.email_tag).filter(|a| deliverable_by_ses(a));
        let Some(to) = to else {
            self.no_email.push(p.user.clone());
            return;
        };
        // Keyed by what the email says: the same keys in the same stages are not
        // mailed twice, a change is.
        let said = lines
            .iter()
            .map(|l| format!("{}:{}", l.key_id, l.stage.name()))
            .collect::<Vec<_>>()
            .join(";");
        let digest = fnv1a(&said, FNV_OFFSET);
        let (text, html) = age_email::render(&user, &lines);
        self.step(
            Action::SendEmail {
                email: Email {
                    to: to.to_owned(),
                    from: self.cfg.sender.clone(),
                    subject: self.cfg.subject.clone(),
                    text,
                    html,
                    user: Some(user.clone()),
                },
            },
            format!("{} key(s) of {user} reached a stage", lines.len()),
            format!("{user}:{digest:016x}"),
        );
        self.tell_first(first);
    }

    fn summary(&mut self) {
        if self.counts.is_empty() && self.untagged.is_empty() {
            return;
        }
        let worst = if self.counts.contains_key("machine_critical")
            || self.counts.contains_key("overdue")
        {
            Severity::High
        } else {
            Severity::Medium
        };
        let mut notice = Notice::new(worst, "keyguard age-rotation: daily key-age summary")
            .fact("scope", self.day.clone());
        for (stage, n) in &self.counts {
            notice = notice.fact(&format!("keys_{stage}"), n.to_string());
        }
        notice = notice
            .fact("actions", listed(&self.actions))
            .fact("users_without_user_type", listed(&self.untagged))
            .fact("users_without_email", listed(&self.no_email));
        let reason = format!(
            "{} key(s) in a stage, {} action(s), {} untagged user(s)",
            self.counts.values().sum::<usize>(),
            self.actions.len(),
            self.untagged.len()
        );
        // One summary a day, however often the scan runs.
        let scope = format!("summary:{}", self.day);
        self.step(Action::Notify { notice }, reason, scope);
    }
}

/// Whether age-rotation acts on this event at all: the decision when it does not (an
/// event from an untrusted source is refused, anything but its schedule ignored). The
/// function and `keyguard plan` both ask this first, so a plan never shows a scan the
/// function would refuse.
pub fn gate(trigger: &crate::Trigger, cfg: &AgeConfig) -> Option<Decision> {
    if let Some(why) = cfg.guard.untrusted(trigger, None) {
        return Some(Decision::Refused { why });
    }
    (!matches!(trigger, crate::Trigger::Scheduled { .. })).then(|| Decision::Ignored {
        why: format!("{FUNCTION} runs on its schedule only"),
    })
}

/// The plan for one scan of `people` (the users the credential report pointed at) in
/// keyguard's own account.
pub fn decide_scan(event_ref: &str, cfg: &AgeConfig, people: &[Person], now: Timestamp) -> Plan {
    decide_scan_in(None, event_ref, cfg, people, now)
}

/// The same for one account of an organisation: its summary is its own.
pub fn decide_scan_in(
    account: Option<&str>,
    event_ref: &str,
    cfg: &AgeConfig,
    people: &[Person],
    now: Timestamp,
) -> Plan {
    let plan = Plan::for_event(FUNCTION, Decision::Act, event_ref.to_owned());
    // A bare name in EXEMPT_USERS is a user of keyguard's account: in a member, whoever
    // may create users there could otherwise take the name to keep an old key.
    // An account id that does not parse (never one Organizations lists) is read as a
    // member's, never as keyguard's own: bare exemptions do not hold there.
    let scanned = account.map(|a| {
        crate::scope::AccountId::parse(a).unwrap_or_else(|_| crate::scope::AccountId::nobody())
    });
    let mut scan = Scan {
        plan,
        cfg,
        // No account named: keyguard's own, whose exemptions are the bare names and, in an
        // organisation, those written with its account (`HOME:NAME`), as containment
        // reads them there.
        guard: cfg
            .guard
            .in_account(scanned.as_ref().or(cfg.guard.me.account.as_ref())),
        day: match account {
            Some(a) => format!("{a}:{}", now.format("%Y-%m-%d")),
            None => now.format("%Y-%m-%d").to_string(),
        },
        counts: BTreeMap::new(),
        actions: Vec::new(),
        untagged: Vec::new(),
        no_email: Vec::new(),
    };
    for p in people {
        scan.person(p, now);
    }
    scan.summary();
    let mut plan = scan.plan;
    if plan.steps.is_empty() {
        plan.decision = Decision::NothingToDo {
            why: format!("no key is {} days old or more", cfg.warn_days),
        };
    }
    plan
}

#[cfg(test)]
mod tests;

/// The ledger keys of age-rotation's deactivations of `key_id`: the adapter reads when
/// they happened to fill [`KeyAge::deactivated_at`].
pub fn deactivation_keys(key_id: &str) -> [String; 2] {
    [Stage::Deactivate, Stage::Overdue]
        .map(|s| format!("{FUNCTION}:deactivate_key:{key_id}:{}", s.name()))
}

pub use crate::unread::{with_unread, Unread};

pub mod fanout;
mod summary;
pub use summary::{summary_after, take_summary};

pub use crate::org_scan::AccountScan;

/// One notice per account whose member role cannot be assumed ([`crate::org_scan`]).
pub fn unassumable_notices(event_ref: &str, role: &str, accounts: &[(String, String)]) -> Plan {
    crate::org_scan::unassumable_notices(
        FUNCTION,
        event_ref,
        role,
        "deploy the member role there (make deploy-age-rotation-members), or leave the account out of the organisation scan",
        accounts,
    )
}

/// One report for an organisation's scan ([`crate::org_scan::combine`]).
pub fn combine(
    event_ref: &str,
    dry_run: bool,
    results: Vec<(String, AccountScan)>,
) -> crate::report::Report {
    crate::org_scan::combine(
        FUNCTION,
        event_ref,
        dry_run,
        results,
        "no account has a key in a stage",
    )
}
