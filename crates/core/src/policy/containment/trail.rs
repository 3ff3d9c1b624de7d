//! After a containment: what the contained key did in the last `LOOKBACK_HOURS`, read
//! from CloudTrail's event history (`LookupEvents`), and what to do about it.
//!
//! - Every key it created for a user is contained as a key an event names is: through
//!   containment's own gather and decide, so exemptions, keyguard's principals and a key
//!   already Inactive are judged the same, and the created key's user's sessions are
//!   revoked too. Each is its own step with its own ledger row, under the same event, so
//!   a redelivery finds them done. `SWEEP_CREATED_KEYS=report` lists them instead.
//! - Everything else that lets an attacker back in (users, console passwords, roles and
//!   trust policies, policy attachments and inline policies, MFA removal, session and
//!   federation tokens) is listed in one notice per contained key, each with its event's
//!   time and id.
//!
//! Only calls that succeeded are listed: a call with an `errorCode` made nothing. The
//! sweep is one level deep: what a created key did in turn is not read.

use super::{
    ContainmentConfig, Credential, Facts, IamReader, KeyStatus, Subject, Target, FUNCTION,
};
use crate::config::{self, ConfigError, Env};
use crate::effects::EffectError;
use crate::events::CloudTrailRecord;
use crate::key::{AccessKeyId, KeyKind, UserName};
use crate::notice::{Notice, Severity};
use crate::plan::{Action, Decision, Plan, Step};
use crate::report::{Outcome, Report};
use crate::scope::Scope;
use crate::step_key;
use crate::time::Timestamp;
use std::future::Future;

/// At most this many contained keys are swept per event (each may take several paced
/// requests); the others are named in the first key's notice as not swept.
pub const MAX_SWEPT_KEYS: usize = 3;
/// At most this many created keys are contained per event (each is an IAM read, a write
/// and a revocation); more are listed, not contained, and the notice says so.
pub const MAX_CREATED_KEYS: usize = 10;
/// At most this many actions are listed in one notice; the rest are counted.
pub const MAX_LISTED: usize = 60;
/// CloudTrail's event history keeps 90 days.
const MAX_LOOKBACK_HOURS: u32 = 90 * 24;

/// The regions enabled in every account, which cannot be disabled (those AWS launched
/// before 20 March 2019; later ones are opt-in): where a leaked key's STS calls, and its
/// other regional calls, are recorded when it used their endpoints. The event history
/// is regional.
pub const DEFAULT_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
];

fn region_name(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `SWEEP_CREATED_KEYS`: what to do with a key the contained credential created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatedKeys {
    /// Contain it in the same run (the default).
    Contain,
    /// List it in the notice only.
    Report,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepConfig {
    /// `LOOKBACK_HOURS` (default 72; 0 turns the sweep off; at most 2160, CloudTrail's 90
    /// days).
    pub lookback_hours: u32,
    pub created_keys: CreatedKeys,
    /// `LOOKBACK_REGIONS` (default [`DEFAULT_REGIONS`]; `none`: only IAM's region and the
    /// function's own): the other regions whose history is read too.
    pub regions: Vec<String>,
}

impl SweepConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let lookback_hours: u32 = config::number(env, "LOOKBACK_HOURS", 72)?;
        if lookback_hours > MAX_LOOKBACK_HOURS {
            return Err(ConfigError {
                variable: "LOOKBACK_HOURS".into(),
                message: format!(
                    "at most {MAX_LOOKBACK_HOURS} (CloudTrail's event history keeps 90 days), got {lookback_hours}"
                ),
            });
        }
        let created_keys = match config::string(env, "SWEEP_CREATED_KEYS", "contain")
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "contain" => CreatedKeys::Contain,
            "report" => CreatedKeys::Report,
            other => {
                return Err(ConfigError {
                    variable: "SWEEP_CREATED_KEYS".into(),
                    message: format!("expected contain or report, got {other:?}"),
                })
            }
        };
        let regions = match env.get("LOOKBACK_REGIONS") {
            None => DEFAULT_REGIONS.iter().map(|r| (*r).to_owned()).collect(),
            Some(v) if v.trim().eq_ignore_ascii_case("none") => Vec::new(),
            Some(v) if v.trim().is_empty() => {
                return Err(ConfigError {
                    variable: "LOOKBACK_REGIONS".into(),
                    message:
                        "empty: list the regions, or say none (unset reads the default regions)"
                            .into(),
                })
            }
            Some(_) => {
                let listed: Vec<String> =
                    config::list(env, "LOOKBACK_REGIONS").into_iter().collect();
                if let Some(bad) = listed.iter().find(|r| !region_name(r)) {
                    return Err(ConfigError {
                        variable: "LOOKBACK_REGIONS".into(),
                        message: format!("not a region name: {bad:?} (or say none)"),
                    });
                }
                listed
            }
        };
        Ok(Self {
            lookback_hours,
            created_keys,
            regions,
        })
    }

    pub fn on(&self) -> bool {
        self.lookback_hours > 0
    }
}

/// A key a run contained, whose history is to be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swept {
    pub key_id: AccessKeyId,
    pub owner: Option<UserName>,
    pub scope: Option<Scope>,
}

/// The sweeps a containment plan asks for ([`Action::SweepHistory`]), taken out of it:
/// they run once the rest of the plan has, since their reads must come after the key is
/// Inactive and their steps depend on what the reads return.
pub fn hold(plan: &mut Plan) -> Vec<Step> {
    let (held, rest) = std::mem::take(&mut plan.steps)
        .into_iter()
        .partition(|s| matches!(s.action, Action::SweepHistory { .. }));
    plan.steps = rest;
    held
}

/// The held sweeps whose key's step went through (or, in a dry run, was planned), or
/// that wait for none (the key was already Inactive), with the key each reads. A sweep
/// whose key's step failed is not taken: the run fails, and the retry takes both.
pub fn due(held: Vec<Step>, report: &Report) -> Vec<(Step, Swept)> {
    held.into_iter()
        .filter_map(|mut step| {
            let through = step.after.as_deref().is_none_or(|first| {
                report.steps.iter().any(|r| {
                    r.step.idempotency_key == first
                        && matches!(
                            r.outcome,
                            Outcome::Applied { .. } | Outcome::Duplicate | Outcome::Planned
                        )
                })
            });
            let Action::SweepHistory { user, key_id, .. } = &step.action else {
                return None;
            };
            let swept = Swept {
                key_id: key_id.clone(),
                owner: Some(user.clone()),
                scope: step.scope.clone(),
            };
            // It runs in the sweep's own plan, where the step it waited for is not.
            step.after = None;
            through.then_some((step, swept))
        })
        .collect()
}

/// What `LookupEvents` returned for one key: each event's `CloudTrailEvent` document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lookback {
    pub events: Vec<serde_json::Value>,
    /// The reader stopped at its cap (pages or time): older events were not read.
    pub truncated: bool,
    /// Whether, the history being cut short, the reader still read every
    /// `CreateAccessKey` of the lookback (by event name, in IAM's region), so no key the
    /// credential created can hide behind a flood of other calls.
    pub created_complete: bool,
    /// The regions read, in order, and those the cap left unread.
    pub regions: Vec<String>,
    pub unread_regions: Vec<String>,
}

/// CloudTrail's event history, by access key: `keyguard-aws` over `LookupEvents`.
pub trait TrailReader {
    /// Every event signed by `key_id` from `since` to `until`, newest first, up to the
    /// reader's documented cap.
    fn key_events(
        &self,
        key_id: &AccessKeyId,
        since: Timestamp,
        until: Timestamp,
    ) -> impl Future<Output = Result<Lookback, EffectError>> + Send;
}

/// One thing a contained key did that someone must look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub at: String,
    pub event_id: String,
    pub call: String,
    /// A key it created for a user: contained, or listed.
    pub created: Option<(UserName, AccessKeyId)>,
    /// A user it tagged exempt from keyguard (`TagUser`, or `CreateUser` with the tag):
    /// a key it made for that user is contained all the same.
    pub exempted: Option<UserName>,
    pub what: String,
}

/// Who a call acts on when its request names nobody: the caller.
fn named_or(params: Option<&serde_json::Value>, field: &str, caller: &str) -> String {
    params
        .and_then(|p| p.get(field))
        .and_then(serde_json::Value::as_str)
        .unwrap_or(caller)
        .to_owned()
}

fn text<'a>(params: Option<&'a serde_json::Value>, field: &str) -> &'a str {
    params
        .and_then(|p| p.get(field))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("(unnamed)")
}

/// What one successful call did, when it is one to list.
fn described(
    r: &CloudTrailRecord,
    caller: &str,
    guard: &crate::guard::Guard,
) -> Option<(String, Option<(UserName, AccessKeyId)>)> {
    use crate::events::ApiCall;
    let p = r.request_parameters.as_ref();
    let user = |field: &str| named_or(p, field, caller);
    let exempt = if r.event_source == "iam.amazonaws.com" && guard.sets_exemption(p) {
        ", tagged exempt from keyguard"
    } else {
        ""
    };
    let holder = || {
        p.map_or_else(
            || "a principal".into(),
            crate::policy::detector::policy_holder,
        )
    };
    Some(match (&r.call, r.event_name.as_str()) {
        (ApiCall::CreateAccessKey(c), _) => {
            let created = c.created.as_ref();
            let owner = created
                .and_then(|k| k.user_name.clone())
                .or_else(|| c.requested_user.clone())
                .unwrap_or_else(|| caller.to_owned());
            let key = created.and_then(|k| k.access_key_id.as_deref());
            let parsed = key.and_then(|k| AccessKeyId::parse(k).ok());
            let owner_name = UserName::parse(&owner).ok();
            let what = format!(
                "created access key {} for user {owner}",
                key.unwrap_or("(id not recorded)")
            );
            (what, parsed.zip(owner_name).map(|(k, u)| (u, k)))
        }
        (ApiCall::CreateUser(_), _) => (format!("created user {}{exempt}", user("userName")), None),
        (ApiCall::CreateLoginProfile(_), _) => (
            format!("gave user {} a console password", user("userName")),
            None,
        ),
        (ApiCall::UpdateLoginProfile(_), _) => (
            format!("changed the console password of user {}", user("userName")),
            None,
        ),
        (ApiCall::DeactivateMfaDevice(m) | ApiCall::DeleteVirtualMfaDevice(m), name) => (
            format!(
                "{} MFA device {}{}",
                if name == "DeactivateMFADevice" {
                    "deactivated"
                } else {
                    "deleted"
                },
                m.serial_number.as_deref().unwrap_or("(unnamed)"),
                m.user_name
                    .as_deref()
                    .map_or_else(String::new, |u| format!(" of user {u}"))
            ),
            None,
        ),
        (ApiCall::GetFederationToken(f), _) => (
            format!(
                "got a federation token (federated user {})",
                f.name.as_deref().unwrap_or("(unnamed)")
            ),
            None,
        ),
        _ if r.event_source == "sts.amazonaws.com" && r.event_name == "GetSessionToken" => {
            ("got a session token".to_owned(), None)
        }
        _ if r.event_source != "iam.amazonaws.com" => return None,
        (_, "CreateRole") => (
            format!("created role {}{exempt}", text(p, "roleName")),
            None,
        ),
        (_, "TagUser") if !exempt.is_empty() => (
            format!("tagged user {} exempt from keyguard", user("userName")),
            None,
        ),
        (_, "TagRole") if !exempt.is_empty() => (
            format!("tagged role {} exempt from keyguard", text(p, "roleName")),
            None,
        ),
        (_, "UpdateAssumeRolePolicy") => (
            format!("changed the trust policy of role {}", text(p, "roleName")),
            None,
        ),
        (_, "AttachUserPolicy" | "AttachRolePolicy" | "AttachGroupPolicy") => (
            format!("attached policy {} to {}", text(p, "policyArn"), holder()),
            None,
        ),
        (_, "PutUserPolicy" | "PutRolePolicy" | "PutGroupPolicy") => (
            format!(
                "put inline policy {} on {}",
                text(p, "policyName"),
                holder()
            ),
            None,
        ),
        _ => return None,
    })
}

/// What the key did, oldest first, from the records `LookupEvents` returned: only the
/// calls it signed that succeeded and that made something. Records that do not parse
/// are counted.
pub fn activity(
    events: &[serde_json::Value],
    key: &AccessKeyId,
    owner: Option<&UserName>,
    account: Option<&str>,
    guard: &crate::guard::Guard,
) -> (Vec<Activity>, usize) {
    let caller = owner.map_or("(its own user)", UserName::as_str);
    let mut unreadable = 0;
    let mut out = Vec::new();
    for raw in events {
        let Ok(r) = crate::events::record(raw) else {
            unreadable += 1;
            continue;
        };
        // Only what this key signed, in its own account, and that succeeded.
        let elsewhere =
            account.is_some_and(|a| r.recipient_account_id.as_deref().is_some_and(|r| r != a));
        if r.user_identity.access_key_id.as_deref() != Some(key.as_str())
            || !r.succeeded()
            || elsewhere
        {
            continue;
        }
        if let Some((what, created)) = described(&r, caller, guard) {
            let p = r.request_parameters.as_ref();
            let exempted = (matches!(r.event_name.as_str(), "TagUser" | "CreateUser")
                && r.event_source == "iam.amazonaws.com"
                && guard.sets_exemption(p))
            .then(|| UserName::parse(&named_or(p, "userName", caller)).ok())
            .flatten();
            out.push(Activity {
                at: r.event_time.clone().unwrap_or_else(|| "(no time)".into()),
                event_id: r.event_id.clone().unwrap_or_else(|| "(no id)".into()),
                call: r.event_name.clone(),
                created,
                exempted,
                what,
            });
        }
    }
    out.sort_by_key(|a| crate::time::parse_time(&a.at));
    (out, unreadable)
}

/// One contained key's history, read and sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyHistory {
    pub key: Swept,
    pub activity: Vec<Activity>,
    pub read: usize,
    pub unreadable: usize,
    pub truncated: bool,
    pub created_complete: bool,
    pub regions: Vec<String>,
    pub unread_regions: Vec<String>,
}

impl KeyHistory {
    pub fn new(key: Swept, lookback: Lookback, guard: &crate::guard::Guard) -> Self {
        let account = key.scope.as_ref().map(|s| s.account.as_str());
        let (activity, unreadable) = activity(
            &lookback.events,
            &key.key_id,
            key.owner.as_ref(),
            account,
            guard,
        );
        Self {
            read: lookback.events.len(),
            key,
            activity,
            unreadable,
            truncated: lookback.truncated,
            created_complete: lookback.created_complete,
            regions: lookback.regions,
            unread_regions: lookback.unread_regions,
        }
    }

    /// The long-term keys it created (never itself), when they are to be contained.
    fn to_contain(
        &self,
        cfg: &SweepConfig,
    ) -> impl Iterator<Item = (&Activity, &UserName, &AccessKeyId)> {
        let contain = cfg.created_keys == CreatedKeys::Contain;
        self.activity.iter().filter_map(move |a| {
            let (user, key) = a.created.as_ref()?;
            (contain && key != &self.key.key_id && key.kind() == KeyKind::LongTerm)
                .then_some((a, user, key))
        })
    }
}

/// Why a user's exemption tag is not believed: a contained key set it.
fn exempted_by_a_contained_key(histories: &[KeyHistory], user: &UserName) -> Option<String> {
    histories.iter().find_map(|h| {
        let a = h.activity.iter().find(|a| {
            a.exempted
                .as_ref()
                .is_some_and(|u| crate::guard::same_name(u.as_str(), user.as_str()))
        })?;
        Some(format!(
            "contained key {} tagged user {user} exempt ({} at {}, CloudTrail event {})",
            h.key.key_id, a.call, a.at, a.event_id
        ))
    })
}

/// The created keys to contain, as a target containment reads and decides as any other.
pub fn created_target(
    histories: &[KeyHistory],
    cfg: &ContainmentConfig,
    event_ref: &str,
) -> Target {
    let mut credentials: Vec<Credential> = Vec::new();
    for h in histories {
        for (_, user, key) in h.to_contain(&cfg.sweep) {
            if credentials.iter().any(|c| c.subject.key_id() == Some(key)) {
                continue;
            }
            credentials.push(Credential {
                subject: Subject::UserKey {
                    key_id: key.clone(),
                    user: Some(user.clone()),
                },
                scope: h.key.scope.clone(),
                foreign: None,
                tag_not_believed: exempted_by_a_contained_key(histories, user),
                contested: None,
            });
        }
    }
    Target {
        credentials,
        classifier_source: Some("keyguard's CloudTrail sweep".into()),
        event_ref: event_ref.to_owned(),
    }
}

/// The plan after a sweep: each created key that still exists contained (with why:
/// which contained key made it, when, in which event), then one notice per contained
/// key listing what it did. Facts are the created target's, in its order.
pub fn decide(
    histories: &[KeyHistory],
    not_swept: &[Swept],
    target: &Target,
    facts: &[Facts],
    cfg: &ContainmentConfig,
    now: Timestamp,
) -> Plan {
    // A created key deleted since has nothing to contain: it is listed as gone.
    // Another account's key is not read, so its empty facts say nothing: it goes on to
    // containment's decision, which refuses it with a notice.
    let gone =
        |c: &Credential, f: &Facts| c.foreign.is_none() && (!f.exists || f.key_status.is_none());
    let (kept, kept_facts): (Vec<Credential>, Vec<Facts>) = target
        .credentials
        .iter()
        .zip(facts)
        .filter(|(c, f)| !gone(c, f))
        .map(|(c, f)| (c.clone(), f.clone()))
        .unzip();
    let live = Target {
        credentials: kept,
        ..target.clone()
    };
    let mut plan = super::decide(&live, cfg, &kept_facts, now);
    // One level deep: what a created key did in turn is not read.
    hold(&mut plan);
    for step in &mut plan.steps {
        if let Some(a) = step.action.key_id().and_then(|k| {
            histories
                .iter()
                .flat_map(|h| &h.activity)
                .find(|a| a.created.as_ref().is_some_and(|(_, c)| c == k))
        }) {
            step.reason = format!(
                "{} ({} at {}, CloudTrail event {}): {}",
                "created with a contained key", a.call, a.at, a.event_id, step.reason
            );
        }
    }
    let contained: Vec<AccessKeyId> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::DeactivateKey { key_id, .. } => Some(key_id.clone()),
            _ => None,
        })
        .collect();
    let state = |key: &AccessKeyId| -> &'static str {
        let i = target
            .credentials
            .iter()
            .position(|c| c.subject.key_id() == Some(key));
        let f = i.and_then(|i| facts.get(i));
        if contained.contains(key) {
            "deactivation planned in this run: see its step"
        } else if i
            .zip(f)
            .is_some_and(|(i, f)| gone(&target.credentials[i], f))
        {
            "no longer exists"
        } else if f.is_some_and(|f| f.key_status == Some(KeyStatus::Inactive)) {
            "already Inactive"
        } else if i.is_some() {
            "not contained: see the refusal"
        } else if cfg.sweep.created_keys == CreatedKeys::Contain && key.kind() == KeyKind::LongTerm
        {
            "not contained: more created keys than the sweep contains at once"
        } else {
            "listed only"
        }
    };
    for (n, h) in histories.iter().enumerate() {
        let later = if n == 0 { not_swept } else { &[] };
        if let Some(step) = listing(h, later, cfg, &state, &target.event_ref) {
            plan.steps.push(step);
        }
    }
    plan.decision = if plan.steps.is_empty() {
        Decision::NothingToDo {
            why: format!(
                "the contained keys made nothing to list in the last {} h",
                cfg.sweep.lookback_hours
            ),
        }
    } else {
        Decision::Act
    };
    plan
}

/// The subject of a contained key's listing, and of anything made from it.
pub fn listed(key: &AccessKeyId) -> step_key::Subject {
    step_key::Subject::other(&format!("sweep/{key}"))
}

/// Whether a step is a sweep's listing of what a contained key did, under any
/// function's name ([`as_function`]).
pub fn is_listing(step: &Step) -> bool {
    let Action::Notify { notice } = &step.action else {
        return false;
    };
    notice.key_id.as_ref().is_some_and(|key| {
        step.idempotency_key.split(':').nth(1) == Some("notify")
            && step
                .idempotency_key
                .contains(&format!(":{}:", listed(key).as_str()))
    })
}

/// The notice listing what one contained key did; `None` when it did nothing to list.
fn listing(
    h: &KeyHistory,
    not_swept: &[Swept],
    cfg: &ContainmentConfig,
    state: &dyn Fn(&AccessKeyId) -> &'static str,
    event_ref: &str,
) -> Option<Step> {
    if h.activity.is_empty()
        && h.unreadable == 0
        && !h.truncated
        && h.unread_regions.is_empty()
        && not_swept.is_empty()
    {
        return None;
    }
    let key = &h.key.key_id;
    let mut notice = Notice::new(
        Severity::High,
        format!(
            "Contained key {key}: {} action(s) in the last {} h to review",
            h.activity.len(),
            cfg.sweep.lookback_hours
        ),
    )
    .key(Some(key.clone()))
    .user(h.key.owner.clone())
    .fact(
        "lookback",
        format!(
            "{} h of CloudTrail event history in {}: {} event(s) read",
            cfg.sweep.lookback_hours,
            h.regions.join(", "),
            h.read
        ),
    );
    if let Some(scope) = &h.key.scope {
        notice = notice.fact("account", scope.account.as_str());
    }
    for (i, a) in h.activity.iter().take(MAX_LISTED).enumerate() {
        let mut line = format!("{} {} (event {}): {}", a.at, a.call, a.event_id, a.what);
        if let Some((_, created)) = &a.created {
            line.push_str(&format!(" [{}]", state(created)));
        }
        notice = notice.fact(&format!("action {:02}", i + 1), line);
    }
    if h.activity.len() > MAX_LISTED {
        notice = notice.fact(
            "more",
            format!("{} more not listed", h.activity.len() - MAX_LISTED),
        );
    }
    if h.truncated {
        notice = notice.fact(
            "incomplete",
            if h.created_complete {
                "stopped at the reader's cap: older events were not read, but every CreateAccessKey of the lookback was (read by event name)"
            } else {
                "stopped at the reader's cap: older events were not read, and keys it created may be missing: read its history by hand"
            },
        );
        if !h.created_complete {
            notice.severity = Severity::Critical;
        }
    }
    if !h.unread_regions.is_empty() {
        notice = notice.fact("regions not read", h.unread_regions.join(", "));
    }
    if h.unreadable > 0 {
        notice = notice.fact(
            "unreadable",
            format!("{} event(s) could not be read", h.unreadable),
        );
    }
    if !not_swept.is_empty() {
        let names: Vec<&str> = not_swept.iter().map(|k| k.key_id.as_str()).collect();
        notice = notice.fact(
            "not swept",
            format!(
                "at most {MAX_SWEPT_KEYS} keys are swept per event; not read: {}",
                names.join(", ")
            ),
        );
    }
    let account = h.key.scope.as_ref().map(|s| &s.account);
    Some(Step {
        replaces: None,
        idempotency_key: step_key::step(FUNCTION, "notify", account, &listed(key), event_ref),
        reason: format!(
            "what contained key {key} did in the last {} h",
            cfg.sweep.lookback_hours
        ),
        action: Action::Notify { notice },
        window: None,
        after: None,
        scope: h.key.scope.clone(),
    })
}

/// Reads what each contained key did and plans what follows: the created keys'
/// containment, the listings, and last the sweeps' own steps (their rows settle only
/// once the rest went through). `Err` names the key whose history could not be read: the
/// run fails, and Lambda's retry (whose containment steps are duplicates) sweeps again.
pub async fn sweep<T: TrailReader + Sync, R: IamReader + Sync>(
    due: Vec<(Step, Swept)>,
    cfg: &ContainmentConfig,
    trail: &T,
    iam: &R,
    event_ref: &str,
    now: Timestamp,
) -> Result<Plan, EffectError> {
    let since = now - chrono::Duration::hours(i64::from(cfg.sweep.lookback_hours));
    let mut due = due;
    let not_swept: Vec<Swept> = due
        .split_off(due.len().min(MAX_SWEPT_KEYS))
        .into_iter()
        .map(|(_, k)| k)
        .collect();
    let mut histories = Vec::with_capacity(due.len());
    let mut markers = Vec::with_capacity(due.len());
    for (marker, key) in due {
        let lookback = trail
            .key_events(&key.key_id, since, now)
            .await
            .map_err(|e| {
                EffectError::new(
                    e.kind,
                    e.code.as_deref(),
                    format!(
                        "reading what key {} did (cloudtrail:LookupEvents): {}",
                        key.key_id, e.message
                    ),
                )
            })?;
        histories.push(KeyHistory::new(key, lookback, &cfg.guard));
        markers.push(marker);
    }
    let target = created_target(&histories, cfg, event_ref);
    let facts = gather_once_rechecked(&target, cfg, iam).await?;
    let mut plan = decide(&histories, &not_swept, &target, &facts, cfg, now);
    plan.steps.extend(markers);
    Ok(plan)
}

/// The created keys' facts, with one pause for all of them before "gone" is believed
/// (IAM is eventually consistent), rather than one pause per key.
async fn gather_once_rechecked<R: IamReader + Sync>(
    target: &Target,
    cfg: &ContainmentConfig,
    iam: &R,
) -> Result<Vec<Facts>, EffectError> {
    let once = super::Recheck {
        delay: std::time::Duration::ZERO,
    };
    let lookups = target.lookups();
    let mut facts = super::gather_all(&lookups, iam, once, cfg.reads()).await?;
    let gone: Vec<usize> = (0..facts.len())
        .filter(|&i| target.credentials[i].foreign.is_none() && facts[i].key_status.is_none())
        .collect();
    if !gone.is_empty() && !cfg.recheck.delay.is_zero() {
        iam.pause(cfg.recheck.delay).await;
        for i in gone {
            facts[i] = super::gather(&lookups[i], iam, once, cfg.reads()).await?;
        }
    }
    Ok(facts)
}

#[cfg(test)]
mod tests;

/// The sweep's plan under another function's name (guardduty-translator sweeps what the
/// key it contained did): containment names its steps `deactivate-key:…`, and the
/// ledger and audit must say who acted.
pub fn as_function(mut plan: Plan, function: &str) -> Plan {
    let ours = format!("{FUNCTION}:");
    let theirs = format!("{function}:");
    let rename = |key: &mut String| {
        if let Some(rest) = key.strip_prefix(&ours) {
            *key = format!("{theirs}{rest}");
        }
    };
    plan.function = function.to_owned();
    for step in &mut plan.steps {
        rename(&mut step.idempotency_key);
        if let Some(after) = &mut step.after {
            rename(after);
        }
        if let Some(window) = &mut step.window {
            rename(&mut window.key);
        }
    }
    plan
}

/// A containment plan applied, then what its contained keys did swept and the sweep's
/// plan applied, under `function`'s name: the flow deactivate-key and
/// guardduty-translator share. A history that cannot be read fails the run (500,
/// retried: the containment steps are then duplicates, and the sweep's own row is not
/// done).
#[allow(clippy::too_many_arguments)] // the flow's parts, each from its own owner
pub async fn apply_and_sweep<E, L, P, T, R>(
    apply: &crate::pipeline::Executor<'_, E, L>,
    policy: &P,
    mut plan: Plan,
    cfg: &ContainmentConfig,
    trail: &T,
    iam: &R,
    function: &str,
    now: crate::time::Timestamp,
) -> Report
where
    E: crate::effects::Effects + Sync,
    L: crate::effects::Ledger + Sync,
    P: crate::pipeline::Policy,
    T: TrailReader + Sync,
    R: IamReader + Sync,
{
    let held = hold(&mut plan);
    let event_ref = plan.event_id.clone().unwrap_or_default();
    let report = apply.apply(policy, plan, now).await;
    let due = due(held, &report);
    if due.is_empty() {
        return report;
    }
    match sweep(due, cfg, trail, iam, &event_ref, now).await {
        Ok(swept) => {
            let more = apply.apply(policy, as_function(swept, function), now).await;
            report.followed_by(more)
        }
        Err(e) => report.failed_also(format!("the sweep after containment: {e}")),
    }
}
