//! Deciding: target and facts in, the plan out. Pure.

use super::{ContainmentConfig, Credential, Facts, KeyStatus, Subject, Target, FUNCTION};
use crate::guard::Protected;
use crate::key::AccessKeyId;
use crate::notice::{Notice, Severity};
use crate::plan::{Action, Decision, Plan, Principal, Step};
use crate::step_key;
use crate::time::Timestamp;

/// The steps for one credential and the verdict on it.
struct One<'a> {
    credential: &'a Credential,
    event_ref: &'a str,
    source: &'a str,
    steps: Vec<Step>,
}

impl One<'_> {
    fn subject_key(&self, action: &Action) -> step_key::Subject {
        match (action, &self.credential.subject) {
            // One revocation per key, after that key's deactivation: two keys of one
            // user each wait for their own, so one that failed holds its revocation back
            // until the retry has contained it.
            (Action::RevokeSessions { principal, .. }, Subject::UserKey { key_id, .. }) => {
                step_key::Subject::principal(principal).with_key(key_id.as_str())
            }
            (Action::RevokeSessions { principal, .. }, _) => {
                step_key::Subject::principal(principal)
            }
            (_, Subject::UserKey { key_id, .. } | Subject::Session { key_id, .. }) => {
                step_key::Subject::key(key_id.as_str())
            }
            (_, Subject::Root { .. }) => step_key::Subject::other("root"),
            (_, Subject::Uncontainable { identity, .. }) => step_key::Subject::other(identity),
        }
    }

    fn step(&mut self, action: Action, reason: String) {
        let scope = self.credential.scope.clone();
        let idempotency_key = step_key::step(
            FUNCTION,
            action.name(),
            scope.as_ref().map(|s| &s.account),
            &self.subject_key(&action),
            self.event_ref,
        );
        self.steps.push(Step {
            replaces: None,
            after: None,
            scope,
            action,
            reason,
            idempotency_key,
            window: None,
        });
    }

    /// A notice about this credential, with where it lives and who named it.
    fn notice(&self, severity: Severity, subject: &str) -> Notice {
        let mut notice = Notice::new(severity, subject).fact("source", self.source);
        if let Some(scope) = &self.credential.scope {
            notice = notice.fact("account", scope.account.as_str());
            if let Some(region) = &scope.region {
                notice = notice.fact("region", region.as_str());
            }
        }
        match &self.credential.subject {
            Subject::UserKey { key_id, user } => {
                notice.key(Some(key_id.clone())).user(user.clone())
            }
            Subject::Session { key_id, principal } => {
                let notice = notice.key(Some(key_id.clone()));
                match principal {
                    Principal::User(u) => notice.user(Some(u.clone())),
                    Principal::Role(r) => notice.fact("role", r.as_str()),
                }
            }
            Subject::Root { key_id } | Subject::Uncontainable { key_id, .. } => {
                notice.fact("key_id", key_id.clone().unwrap_or_else(|| "unknown".into()))
            }
        }
    }

    fn notice_only(mut self, decision: Decision, notice: Notice) -> (Decision, Vec<Step>) {
        let reason = decision
            .explanation()
            .map_or_else(|| notice.subject.clone(), str::to_owned);
        self.step(Action::Notify { notice }, reason);
        (decision, self.steps)
    }

    fn done(self, decision: Decision) -> (Decision, Vec<Step>) {
        (decision, self.steps)
    }
}

/// The detector's rule for a key made for a user named like a canary.
const ISSUED_CANARY: &str = "createkey-detector/canary-key-issued";

fn refusal(protected: &Protected, what: &str, how: &str) -> (String, &'static str) {
    match protected {
        Protected::Keyguard => (
            format!("{what} is one of keyguard's own principals: {how} by hand"),
            "keyguard was asked to contain one of its own principals",
        ),
        Protected::Exempt => (
            format!(
                "{what} is exempt (EXEMPT_USERS, EXEMPT_ROLES or the exemption tag): {how} by hand"
            ),
            "Exempt principal's credential named by a security event",
        ),
        Protected::Canary => (
            format!(
                "{what} is a canary keyguard issued: containing it would end the tracking; its use is alerted as canary-key-used, and anyone holding it has been watched"
            ),
            "A canary key was named by a security event: someone holds a decoy",
        ),
    }
}

fn decide_key(
    one: One<'_>,
    cfg: &ContainmentConfig,
    facts: &Facts,
    key_id: &AccessKeyId,
    now: Timestamp,
) -> (Decision, Vec<Step>) {
    let (Some(user), true) = (facts.owner.clone(), facts.exists) else {
        let what = format!("no IAM user holds key {key_id} (read twice, a few seconds apart)");
        let notice = one.notice(
            Severity::High,
            "Security event names a key no IAM user holds",
        );
        return one.notice_only(Decision::NotFound { what }, notice);
    };
    let principal = Principal::User(user.clone());
    let guard = cfg
        .guard
        .in_account(one.credential.scope.as_ref().map(|s| &s.account));
    let doubted = facts.tag_doubt(&guard, one.credential);
    if let Some(p) = facts.protection(&guard, &principal, Some(key_id.as_str()), doubted.is_none())
    {
        let (why, subject) = refusal(
            &p,
            &format!("user {user} (key {key_id})"),
            "contain the key",
        );
        // Someone holds a decoy: the surest sign of a leak there is. Except when the
        // detector hands over a canary's key because it was just made (its signed
        // hand-off names the rule): then the check that it can do nothing is the news.
        let issued = one.source == ISSUED_CANARY;
        let (severity, subject) = match p {
            Protected::Canary if issued => (
                Severity::Low,
                "A new canary's key was checked: it can do nothing, and is left alone",
            ),
            Protected::Canary => (Severity::Critical, subject),
            _ => (Severity::High, subject),
        };
        let notice = one.notice(severity, subject).user(Some(user));
        return one.notice_only(Decision::Refused { why }, notice);
    }
    let Some(status) = facts.key_status else {
        let what = format!(
            "user {user} has no access key {key_id}, and no other user was found to hold it"
        );
        let notice = one
            .notice(
                Severity::High,
                "Security event names a key no IAM user holds",
            )
            .user(Some(user));
        return one.notice_only(Decision::NotFound { what }, notice);
    };
    let mut one = one;
    let decision = if status == KeyStatus::Inactive {
        Decision::AlreadyContained
    } else {
        let renamed = facts.named_other.as_ref().map_or_else(String::new, |n| {
            format!(" (the event named {n}, who does not hold it; IAM says {user} does)")
        });
        let tag = doubted.as_ref().map_or_else(String::new, |why| {
            format!("; its user's exemption tag is not believed: {why}")
        });
        let reason = format!(
            "long-term key {key_id} of {user} is {status:?}, not Inactive, and named by {}{renamed}{tag}",
            one.source
        );
        one.step(
            Action::DeactivateKey {
                user: user.clone(),
                key_id: key_id.clone(),
            },
            reason,
        );
        // The status the facts just read is what the write replaces: the claim keeps it,
        // so the key's write waits for no second read (`Step::replaces`).
        if let (Some(step), Some(status)) = (one.steps.last_mut(), status.as_iam()) {
            step.replaces = Some(crate::effects::Prior::KeyStatus {
                status: status.to_owned(),
            });
        }
        Decision::Act
    };
    // Even when the key is already Inactive: a retry after a revocation that failed
    // must still make it, and the ledger keeps a redelivery from making it twice.
    // After the key's step, and only once it went through: a cut-off fixed while the
    // key still worked would let sessions minted in between live on, and a retry would
    // find the revocation already done.
    let key_step = one.steps.last().map(|s| s.idempotency_key.clone());
    if let Some(revoke) = user_sessions(cfg, &user, key_id, facts, now) {
        one.step(revoke.0, revoke.1);
        if let Some(step) = one.steps.last_mut() {
            step.after = key_step.clone();
        }
    }
    // What the key did is read once it is contained (`trail`): after its step, and as
    // its own ledger row, so a retry after a failed read sweeps again.
    if cfg.sweep.on() {
        one.step(
            Action::SweepHistory {
                user: user.clone(),
                key_id: key_id.clone(),
                lookback_hours: cfg.sweep.lookback_hours,
            },
            format!(
                "read what key {key_id} did in the last {} h (CloudTrail event history): contain the keys it created, list the rest",
                cfg.sweep.lookback_hours
            ),
        );
        if let Some(step) = one.steps.last_mut() {
            step.after = key_step;
        }
    }
    one.done(decision)
}

/// The sessions a contained user key may have minted (`GetSessionToken`,
/// `GetFederationToken`) keep working for up to 36 hours after the key is Inactive: a
/// deny on the user for every token issued before the revocation ends them. The user's
/// long-term keys are untouched (their requests carry no `aws:TokenIssueTime`). `None`
/// when `REVOKE_USER_SESSIONS` is off, or when the key is Inactive and IAM last saw it
/// used before the cut-off already in force: every session it minted is denied, and
/// moving the cut-off would only end the user's sessions minted since (each new event
/// about a contained key would). A key IAM has no use recorded for is revoked all the
/// same: the record trails a use.
pub(crate) fn user_sessions(
    cfg: &ContainmentConfig,
    user: &crate::key::UserName,
    key_id: &AccessKeyId,
    facts: &Facts,
    now: Timestamp,
) -> Option<(Action, String)> {
    let covered = facts.key_status == Some(KeyStatus::Inactive)
        && matches!((facts.last_used, facts.sessions_denied_before),
            (Some(used), Some(cut)) if latest_use(used) < cut);
    (cfg.revoke_user_sessions && !covered).then(|| {
        (
            Action::RevokeSessions {
                principal: Principal::User(user.clone()),
                issued_before: now,
                policy_name: cfg.revoke_policy_name.clone(),
                key_id: Some(key_id.clone()),
            },
            format!(
                "sessions minted with key {key_id} outlive its deactivation: deny every session of user {user} issued before the revocation (its long-term keys are unaffected)"
            ),
        )
    })
}

/// The latest a recorded last use may stand for: a time on the whole minute may be one
/// IAM rounded down to it, so the use may have come up to a minute later.
fn latest_use(recorded: Timestamp) -> Timestamp {
    use chrono::Timelike;
    if recorded.second() == 0 && recorded.nanosecond() == 0 {
        recorded + chrono::Duration::seconds(59)
    } else {
        recorded
    }
}

fn decide_session(
    one: One<'_>,
    cfg: &ContainmentConfig,
    facts: &Facts,
    key_id: &AccessKeyId,
    principal: &Principal,
    now: Timestamp,
) -> (Decision, Vec<Step>) {
    let (label, name) = match principal {
        Principal::Role(r) => ("role", r.as_str()),
        Principal::User(u) => ("user", u.as_str()),
    };
    let guard = cfg
        .guard
        .in_account(one.credential.scope.as_ref().map(|s| &s.account));
    let doubted = facts.tag_doubt(&guard, one.credential);
    if let Some(p) = facts.protection(&guard, principal, Some(key_id.as_str()), doubted.is_none()) {
        let (why, subject) = refusal(&p, &format!("{label} {name}"), "revoke its sessions");
        let notice = one.notice(Severity::High, subject);
        return one.notice_only(Decision::Refused { why }, notice);
    }
    if !facts.exists {
        let what = format!("no such {label} {name}");
        let notice = one.notice(
            Severity::High,
            "Security event names a session of a principal IAM does not know",
        );
        return one.notice_only(Decision::NotFound { what }, notice);
    }
    let mut one = one;
    one.step(
        Action::RevokeSessions {
            principal: principal.clone(),
            issued_before: now,
            policy_name: cfg.revoke_policy_name.clone(),
            key_id: Some(key_id.clone()),
        },
        format!(
            "temporary key {key_id} cannot be deactivated: deny every session of {label} {name} issued before now{}",
            doubted.map_or_else(String::new, |why| format!("; its exemption tag is not believed: {why}"))
        ),
    );
    one.done(Decision::Act)
}

fn decide_one(
    one: One<'_>,
    cfg: &ContainmentConfig,
    facts: &Facts,
    now: Timestamp,
) -> (Decision, Vec<Step>) {
    if let Some(why) = one.credential.foreign.as_ref().or(facts.outside.as_ref()) {
        let notice = one.notice(
            Severity::High,
            "Security event names another account's credential",
        );
        return one.notice_only(Decision::ForeignAccount { why: why.clone() }, notice);
    }
    match &one.credential.subject {
        Subject::Root { .. } => {
            let why = "a root credential: no IAM call can deactivate it; rotate or delete it as the root user".to_owned();
            let notice = one.notice(
                Severity::Critical,
                "Root access key named by a security event",
            );
            one.notice_only(Decision::NotContainable { why }, notice)
        }
        Subject::Uncontainable { identity, .. } => {
            let why = format!(
                "a {identity} identity: keyguard cannot contain its credential through IAM"
            );
            let notice = one.notice(
                Severity::High,
                &format!("{identity} credential named by a security event"),
            );
            one.notice_only(Decision::NotContainable { why }, notice)
        }
        Subject::UserKey { key_id, .. } => decide_key(one, cfg, facts, key_id, now),
        Subject::Session { key_id, principal } => {
            decide_session(one, cfg, facts, key_id, principal, now)
        }
    }
}

/// The plan for a target, given what IAM said about each of its credentials (in the
/// same order). Several credentials (an AWS Health event naming two keys) give one plan:
/// it acts if any of them is acted on, else it carries the first one's verdict.
pub fn decide(target: &Target, cfg: &ContainmentConfig, facts: &[Facts], now: Timestamp) -> Plan {
    let mut plan = Plan::for_event(FUNCTION, Decision::Act, target.event_ref.clone());
    plan.classifier_source = target.classifier_source.clone();
    let source = target.classifier_source.as_deref().unwrap_or("an event");
    let none = Facts::default();
    let mut verdicts = Vec::new();
    for (i, credential) in target.credentials.iter().enumerate() {
        let facts = facts.get(i).unwrap_or(&none);
        // Where STS put a key the event named two accounts for.
        let credential = credential.settled(facts, &cfg.guard);
        let one = One {
            credential: &credential,
            event_ref: &target.event_ref,
            source,
            steps: Vec::new(),
        };
        let (decision, steps) = decide_one(one, cfg, facts, now);
        // An event naming the same credential twice plans it once.
        for step in steps {
            if !plan
                .steps
                .iter()
                .any(|s| s.idempotency_key == step.idempotency_key)
            {
                plan.steps.push(step);
            }
        }
        verdicts.push(decision);
    }
    plan.decision = if verdicts.contains(&Decision::Act) {
        Decision::Act
    } else {
        verdicts.into_iter().next().unwrap_or(Decision::Ignored {
            why: "the event names no credential".into(),
        })
    };
    plan
}
