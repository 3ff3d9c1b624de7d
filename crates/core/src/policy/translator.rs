//! guardduty-translator: a GuardDuty finding about an access key becomes a rotation
//! runbook, an Incident Manager incident and a notice, at most once per principal within a
//! sliding window.
//!
//! - Only `aws.*` sources (or ones listed in `TRUSTED_CUSTOM_SOURCES`) are believed.
//! - Only findings on an `AccessKey` resource (or an IAM attack sequence, which names no
//!   key: incident only), of a configured type, at or above the configured severity. GuardDuty's own sample findings are planned, never applied,
//!   unless `ACT_ON_SAMPLE_FINDINGS` says otherwise.
//! - `IAMUser` → the runbook for exactly the named key, an incident, a notice.
//!   `AssumedRole` (an `ASIA` key) → the role's older sessions revoked by deactivate-key's
//!   own policy, an incident, a notice. `Root` → a critical incident and a notice only.
//! - Exempt users, keyguard's own identity and unknown users get the incident and the
//!   notice, never the runbook.
//! - Runbook, incident and notice each hold a window per principal in the ledger: a second
//!   finding for the same user inside the window is suppressed, a redelivered one is a
//!   duplicate. Session revocation is not windowed: each finding revokes what came before it.

pub mod timeline;

use crate::config::{self, ConfigError, Env};
use crate::digest::uuid_from;
use crate::events::{Finding, Trigger};
use crate::guard::Protected;
use crate::key::{AccessKeyId, UserName};
use crate::notice::{Notice, Severity};
use crate::plan::{Action, Decision, Incident, Link, Plan, Principal, Step, Window};
use crate::policy::containment::{
    self, ContainmentConfig, Credential, Early, Facts, KeyStatus, Lookup, SelfIdentity, Subject,
};
use crate::scope::Scope;
use crate::step_key;
use crate::time::{parse_time, Timestamp};

pub const FUNCTION: &str = "guardduty-translator";

/// Every IAM family of GuardDuty finding types (prefixes, `*` at the end); what each
/// gets is [`response`]'s.
pub const DEFAULT_FINDING_TYPES: &[&str] = &[
    "UnauthorizedAccess:IAMUser/*",
    "CredentialAccess:IAMUser/*",
    "DefenseEvasion:IAMUser/*",
    "Discovery:IAMUser/*",
    "Exfiltration:IAMUser/*",
    "Impact:IAMUser/*",
    "InitialAccess:IAMUser/*",
    "Persistence:IAMUser/*",
    "PenTest:IAMUser/*",
    "Policy:IAMUser/*",
    "PrivilegeEscalation:IAMUser/*",
    "Recon:IAMUser/*",
    "Stealth:IAMUser/*",
    "AttackSequence:IAM/*",
];

/// GuardDuty's "high" band begins here.
pub const HIGH_SEVERITY: f64 = 7.0;

/// What a finding type's family gets, at a severity already at or above `MIN_SEVERITY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// The key contained, the runbook, the incident, the notice.
    Contain,
    /// The incident and the notice only, for this reason.
    AlertOnly(&'static str),
}

/// The decision per family. A finding that a key is used by someone else (every family
/// but these) contains it. Looking around (`Discovery`, `Recon`) and penetration-testing
/// distributions (`PenTest`: an authorised test calls from Kali as an attacker does) are
/// weaker signs: contained from GuardDuty's high band up, alerted on below it. A `Policy`
/// finding reports a practice (root's credentials used), not a key in the wrong hands:
/// never contained.
pub fn response(finding_type: &str, severity: f64) -> Response {
    match finding_type.split(':').next().unwrap_or("") {
        "Policy" => Response::AlertOnly(
            "a Policy finding reports a practice, not a key in someone else's hands: never contained",
        ),
        "Discovery" | "Recon" | "PenTest" if severity < HIGH_SEVERITY => Response::AlertOnly(
            "a Discovery, Recon or PenTest finding below high severity (7.0): alert only",
        ),
        _ => Response::Contain,
    }
}

/// `triggerDetails.rawData`, `title` and `triggerDetails.source` limits of `StartIncident`.
pub const RAW_DATA_LIMIT: usize = 4000;
pub const TITLE_LIMIT: usize = 200;
pub const SOURCE_LIMIT: usize = 50;
/// `clientToken` of `StartIncident`: at most 128 characters (a UUID is 36).
pub const CLIENT_TOKEN_LIMIT: usize = 128;
/// `triggerDetails.source`: a customer-generated source may not begin with `aws.`, so
/// keyguard names itself (reverse-domain style, as AWS recommends); GuardDuty's own
/// source is kept in the title and the raw data.
pub const INCIDENT_SOURCE: &str = "keyguard.guardduty-translator";

#[derive(Debug, Clone, PartialEq)]
pub struct TranslatorConfig {
    /// `FINDING_TYPES`: exact types or prefixes ending in `*`.
    pub finding_types: Vec<String>,
    /// `MIN_SEVERITY` (default 7.0).
    pub min_severity: f64,
    /// `ACT_ON_SAMPLE_FINDINGS` (default false).
    pub act_on_samples: bool,
    /// `RUNBOOK_DOCUMENT` (default `keyguard-RotateCompromisedKey`).
    pub runbook_document: String,
    /// `AUTOMATION_ASSUME_ROLE_ARN` (optional): the role the runbook runs as.
    pub automation_role_arn: Option<String>,
    /// `MEMBER_RUNBOOK_ROLE_NAME` (default `keyguard-member-runbook`): the role the
    /// runbook runs as in a member account (organisation mode), where the member
    /// StackSet deploys the runbook and this role beside the member role.
    pub member_runbook_role: String,
    /// `RESPONSE_PLAN_ARN` (required).
    pub response_plan_arn: String,
    /// `INCIDENT_WINDOW_MINUTES` (default 15; 0 turns the window off).
    pub window_minutes: u32,
    pub containment: ContainmentConfig,
}

fn member_runbook_role(env: &impl Env) -> Result<String, ConfigError> {
    let name = config::string(env, "MEMBER_RUNBOOK_ROLE_NAME", "keyguard-member-runbook");
    if !crate::organization::is_role_name(&name) {
        return Err(config_error(
            "MEMBER_RUNBOOK_ROLE_NAME",
            format!("expected an IAM role name, got {name:?}"),
        ));
    }
    Ok(name)
}

fn config_error(variable: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        message: message.into(),
    }
}

impl TranslatorConfig {
    pub fn from_env(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        let listed = config::list(env, "FINDING_TYPES");
        let finding_types = if listed.is_empty() {
            DEFAULT_FINDING_TYPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        } else {
            listed.into_iter().collect()
        };
        let min_severity: f64 = config::number(env, "MIN_SEVERITY", 7.0)?;
        if !min_severity.is_finite() {
            return Err(config_error("MIN_SEVERITY", "expected a finite number"));
        }
        let response_plan_arn = env.get("RESPONSE_PLAN_ARN").ok_or_else(|| {
            config_error(
                "RESPONSE_PLAN_ARN",
                "required: the Incident Manager response plan to start incidents with",
            )
        })?;
        if !response_plan_arn.starts_with("arn:") {
            return Err(config_error(
                "RESPONSE_PLAN_ARN",
                format!("expected an ARN, got {response_plan_arn:?}"),
            ));
        }
        Ok(Self {
            finding_types,
            min_severity,
            act_on_samples: config::flag(env, "ACT_ON_SAMPLE_FINDINGS", false)?,
            runbook_document: config::string(
                env,
                "RUNBOOK_DOCUMENT",
                "keyguard-RotateCompromisedKey",
            ),
            automation_role_arn: env.get("AUTOMATION_ASSUME_ROLE_ARN"),
            member_runbook_role: member_runbook_role(env)?,
            response_plan_arn,
            window_minutes: config::number(env, "INCIDENT_WINDOW_MINUTES", 15)?,
            // Organisation mode: a member's finding is contained in the member, through
            // the member role, and its runbook started there; its incident and notice
            // stay here.
            containment: ContainmentConfig::from_env(env, me)?
                .in_organization(crate::organization::Organization::from_env(env)?),
        })
    }

    fn covers(&self, finding_type: &str) -> bool {
        self.finding_types
            .iter()
            .any(|p| match p.strip_suffix('*') {
                Some(prefix) => finding_type.starts_with(prefix),
                None => finding_type == p,
            })
    }
}

/// A finding worth acting on, and the credential it names.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub finding: Finding,
    pub source: String,
    pub event_time: Option<String>,
    pub subject: Subject,
    /// The finding's account (a delegated administrator receives every member's).
    pub scope: Option<Scope>,
    /// Why the credential is not keyguard's to act on, if it is not.
    pub foreign: Option<String>,
    /// The finding's remote caller's account, when it is not the finding's: STS must say
    /// whose the key is ([`containment::finding_contested`]).
    pub contested: Option<crate::AccountId>,
    /// A GuardDuty sample finding, shown but not applied.
    pub sample: bool,
    /// Why the finding's family gets an incident and a notice only ([`response`]).
    pub alert_only: Option<&'static str>,
    pub event_ref: String,
}

impl Target {
    /// What IAM must say before [`decide`]: deactivate-key's own lookups.
    pub fn lookup(&self) -> Lookup {
        if self.alert_only.is_some() {
            return Lookup::Nothing;
        }
        self.credential().lookup()
    }

    /// The finding's credential, as containment names it.
    pub fn credential(&self) -> Credential {
        Credential {
            subject: self.subject.clone(),
            scope: self.scope.clone(),
            foreign: self.foreign.clone(),
            tag_not_believed: None,
            contested: self.contested.clone(),
        }
    }

    /// The finding's credential where STS put it, when the finding named two accounts
    /// for it ([`Credential::settled`]).
    fn settled(&self, facts: &Facts, guard: &crate::guard::Guard) -> std::borrow::Cow<'_, Self> {
        use std::borrow::Cow;
        if self.contested.is_none() {
            return Cow::Borrowed(self);
        }
        let credential = self.credential();
        let settled = credential.settled(facts, guard);
        Cow::Owned(Self {
            scope: settled.scope.clone(),
            foreign: settled.foreign.clone(),
            contested: None,
            ..self.clone()
        })
    }

    fn containment_target(&self) -> containment::Target {
        containment::Target {
            credentials: vec![self.credential()],
            classifier_source: Some(format!("{FUNCTION}/{}", self.finding.finding_type)),
            event_ref: self.event_ref.clone(),
        }
    }
}

fn early(decision: Decision, event_ref: &str) -> Early {
    let plan = Plan::for_event(FUNCTION, decision, event_ref.to_owned());
    Box::new(plan)
}

fn ignored(why: String, event_ref: &str) -> Early {
    early(Decision::Ignored { why }, event_ref)
}

/// Reads the finding and says whether (and about whom) to act. `Err` is a finished plan.
pub fn target(trigger: &Trigger, cfg: &TranslatorConfig, event_ref: &str) -> Result<Target, Early> {
    if let Some(why) = cfg.containment.guard.untrusted(trigger, None) {
        return Err(early(Decision::Refused { why }, event_ref));
    }
    let Trigger::GuardDuty { envelope, finding } = trigger else {
        return Err(ignored(
            format!("{FUNCTION} acts on GuardDuty findings only"),
            event_ref,
        ));
    };
    let resource_type = finding
        .resource
        .as_ref()
        .and_then(|r| r.resource_type.as_deref());
    // An IAM attack sequence names no key (its resource is the sequence itself) but is
    // GuardDuty's strongest sign of compromised credentials: an incident, nothing else.
    let attack_sequence = resource_type == Some("AttackSequence")
        && finding.finding_type.starts_with("AttackSequence:IAM/");
    if resource_type != Some("AccessKey") && !attack_sequence {
        return Err(ignored(
            format!(
                "resource type {} is neither AccessKey nor an IAM AttackSequence",
                resource_type.unwrap_or("(none)")
            ),
            event_ref,
        ));
    }
    if !cfg.covers(&finding.finding_type) {
        return Err(ignored(
            format!(
                "finding type {} is not in FINDING_TYPES",
                finding.finding_type
            ),
            event_ref,
        ));
    }
    if finding.severity < cfg.min_severity {
        return Err(ignored(
            format!(
                "severity {} is below MIN_SEVERITY {}",
                finding.severity, cfg.min_severity
            ),
            event_ref,
        ));
    }
    let source = envelope
        .as_ref()
        .map_or("aws.guardduty", |e| e.source.as_str())
        .to_owned();
    let event_time = envelope.as_ref().and_then(|e| e.time.clone());
    let sample = finding.is_sample() && !cfg.act_on_samples;
    let uncontainable = |identity: &str| Subject::Uncontainable {
        identity: identity.to_owned(),
        key_id: None,
    };
    let mut contested = None;
    let (subject, scope) = if sample {
        // Generated findings name placeholders, not credentials: look nothing up.
        (uncontainable("sample"), None)
    } else if attack_sequence {
        let scope = Scope::from_raw(
            &[
                finding.account_id.as_deref(),
                envelope.as_ref().and_then(|e| e.account.as_deref()),
            ],
            finding.region.as_deref(),
        )
        .ok()
        .flatten();
        (uncontainable("attack-sequence"), scope)
    } else {
        let ours = |mut p: Early| {
            p.function = FUNCTION.to_owned();
            p
        };
        let (subject, scope) =
            containment::finding_subject(finding, envelope.as_ref(), event_ref).map_err(ours)?;
        contested =
            containment::finding_contested(finding, scope.as_ref(), event_ref).map_err(ours)?;
        (subject, scope)
    };
    let foreign = if sample {
        None
    } else {
        cfg.containment.guard.foreign(scope.as_ref())
    };
    Ok(Target {
        finding: finding.as_ref().clone(),
        source,
        event_time,
        subject,
        scope,
        foreign,
        contested,
        sample,
        alert_only: match response(&finding.finding_type, finding.severity) {
            Response::AlertOnly(why) => Some(why),
            Response::Contain => None,
        },
        event_ref: event_ref.to_owned(),
    })
}

/// Incident Manager's impact (1 critical … 5 none) from GuardDuty's severity (0–10:
/// 9+ critical, 7+ high, 4+ medium, below low). Root is always critical.
pub fn impact(severity: f64, root: bool) -> u8 {
    match severity {
        _ if root => 1,
        s if s >= 9.0 => 1,
        s if s >= 7.0 => 2,
        s if s >= 4.0 => 3,
        _ => 4,
    }
}

fn notice_severity(severity: f64, root: bool) -> Severity {
    match impact(severity, root) {
        1 => Severity::Critical,
        2 => Severity::High,
        3 => Severity::Medium,
        _ => Severity::Low,
    }
}

/// `text` cut to at most `limit` bytes on a character boundary.
fn cut(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The finding as JSON within the service's limit: whole if it fits, else without its
/// bulky `service` block, else cut.
fn raw_data(finding: &Finding) -> String {
    let whole = serde_json::to_string(finding).unwrap_or_default();
    if whole.len() <= RAW_DATA_LIMIT {
        return whole;
    }
    let mut lean = finding.clone();
    lean.service = None;
    cut(
        &serde_json::to_string(&lean).unwrap_or_default(),
        RAW_DATA_LIMIT,
    )
}

/// The finding in the GuardDuty console, when its region and id are plain enough to put
/// in a URL unescaped.
fn console_link(finding: &Finding) -> Option<Link> {
    let region = finding.region.as_deref()?;
    let plain = |s: &str, extra: char| {
        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == extra)
    };
    if !plain(region, '-') || !plain(&finding.id, '-') {
        return None;
    }
    Some(Link {
        title: format!("GuardDuty finding {}", finding.id),
        url: format!(
            "https://{region}.console.aws.amazon.com/guardduty/home?region={region}#/findings?macros=current&fId={}",
            finding.id
        ),
    })
}

/// The finding's ARN when it has the shape `StartIncident` accepts for `triggerArn`.
fn trigger_arn(finding: &Finding) -> Option<String> {
    let arn = finding.arn.as_deref()?;
    let mut parts = arn.splitn(6, ':');
    let shaped = parts.next() == Some("arn")
        && parts
            .next()
            .is_some_and(|p| ["aws", "aws-cn", "aws-us-gov"].contains(&p))
        && parts.next().is_some_and(plain_segment)
        && parts.next().is_some_and(plain_segment)
        && parts.next().is_some_and(|a| {
            a.is_empty() || (a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        })
        && parts.next().is_some_and(|rest| !rest.is_empty());
    (shaped && arn.len() <= 1000).then(|| arn.to_owned())
}

fn plain_segment(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

struct Builder<'a> {
    plan: Plan,
    target: &'a Target,
    cfg: &'a TranslatorConfig,
    /// `user/alice`, `role/app`, `root`: whose window the incident and notice hold.
    principal: step_key::Subject,
    /// The credential (principal and key), whose window containment holds: a second
    /// key of the same user is contained even while the user's incident window runs.
    credential: step_key::Subject,
    now: Timestamp,
}

impl<'a> Builder<'a> {
    fn new(
        target: &'a Target,
        cfg: &'a TranslatorConfig,
        principal: step_key::Subject,
        now: Timestamp,
    ) -> Self {
        let credential = match target.subject.key_id() {
            Some(k) => principal.with_key(k.as_str()),
            None => principal.clone(),
        };
        let mut plan = Plan::for_event(FUNCTION, Decision::Act, target.event_ref.clone());
        plan.classifier_source = Some(format!("{FUNCTION}/{}", target.finding.finding_type));
        Self {
            plan,
            target,
            cfg,
            principal,
            credential,
            now,
        }
    }

    /// Containment is about the credential; the incident and the notice about the
    /// principal.
    fn subject_for(&self, action: &str) -> &step_key::Subject {
        match action {
            "start_runbook" | "deactivate_key" | "revoke_sessions" => &self.credential,
            _ => &self.principal,
        }
    }

    fn account(&self) -> Option<&crate::scope::AccountId> {
        self.target.scope.as_ref().map(|s| &s.account)
    }

    fn key(&self, action: &str) -> String {
        step_key::step(
            FUNCTION,
            action,
            self.account(),
            self.subject_for(action),
            &self.target.event_ref,
        )
    }

    fn push(&mut self, action: Action, reason: String, windowed: bool) {
        let name = action.name();
        let window = windowed.then(|| Window {
            key: step_key::window(FUNCTION, name, self.account(), self.subject_for(name)),
            until: self.now + chrono::Duration::minutes(i64::from(self.cfg.window_minutes)),
        });
        self.plan.steps.push(Step {
            replaces: None,
            after: None,
            scope: self.target.scope.clone(),
            idempotency_key: self.key(name),
            action,
            reason,
            window,
        });
    }

    /// The runbook for one key, started where the key is: in keyguard's account as
    /// `AUTOMATION_ASSUME_ROLE_ARN`, in a member (`member`) as its runbook role there.
    fn runbook(
        &mut self,
        user: &UserName,
        key_id: &AccessKeyId,
        member: Option<&crate::AccountId>,
        reason: String,
    ) {
        let client_token = uuid_from(&self.key("start_runbook"));
        let assume_role_arn = match member {
            Some(account) => Some(format!(
                "arn:aws:iam::{account}:role/{}",
                self.cfg.member_runbook_role
            )),
            None => self.cfg.automation_role_arn.clone(),
        };
        self.push(
            Action::StartRunbook {
                document: self.cfg.runbook_document.clone(),
                user: user.clone(),
                key_id: key_id.clone(),
                assume_role_arn,
                client_token,
            },
            reason,
            true,
        );
    }

    /// The incident and the notice every acted-on finding gets, whatever else happens.
    fn incident_and_notice(
        &mut self,
        user: Option<&UserName>,
        key_id: Option<&AccessKeyId>,
        about: String,
    ) {
        let f = &self.target.finding;
        let root = matches!(self.target.subject, Subject::Root { .. });
        let timestamp = f
            .updated_at
            .as_deref()
            .or(self.target.event_time.as_deref())
            .and_then(parse_time)
            .unwrap_or(self.now);
        let incident = Incident {
            response_plan_arn: self.cfg.response_plan_arn.clone(),
            title: cut(
                &crate::notice::clean(
                    &format!("GuardDuty {} on {about}", f.finding_type),
                    TITLE_LIMIT,
                ),
                TITLE_LIMIT,
            ),
            impact: impact(f.severity, root),
            source: INCIDENT_SOURCE.to_owned(),
            timestamp,
            trigger_arn: trigger_arn(f),
            raw_data: raw_data(f),
            related: console_link(f).into_iter().collect(),
            user: user.cloned(),
            key_id: key_id.cloned(),
            client_token: uuid_from(&self.key("open_incident")),
        };
        let reason = format!(
            "GuardDuty {} (severity {}) on {about}",
            f.finding_type, f.severity
        );
        self.push(Action::OpenIncident { incident }, reason.clone(), true);
        let mut notice = Notice::new(
            notice_severity(f.severity, root),
            cut(
                &format!("GuardDuty {} on {about}", f.finding_type),
                TITLE_LIMIT,
            ),
        )
        .user(user.cloned())
        .key(key_id.cloned())
        .fact("finding_type", f.finding_type.clone())
        .fact("severity", f.severity.to_string())
        .fact("finding_id", f.id.clone())
        .fact("source", self.target.source.clone());
        if let Some(scope) = &self.target.scope {
            notice = notice.fact("account", scope.account.as_str());
        }
        if let Some(ip) = f.remote_ip() {
            notice = notice.fact("remote_ip", ip);
        }
        self.push(Action::Notify { notice }, reason, true);
    }

    /// One more fact on the plan's notice (what containment does besides the runbook).
    fn tell(&mut self, name: &str, value: String) {
        for step in &mut self.plan.steps {
            if let Action::Notify { notice } = &mut step.action {
                *notice = notice.clone().fact(name, value.clone());
            }
        }
    }

    fn done(mut self, decision: Decision) -> Plan {
        self.plan.decision = decision;
        self.plan
    }
}

/// The principal a finding's incident and notice are windowed on, and how they name it
/// (`where_` after it: " in account …", or nothing at home), before IAM is read.
fn named(target: &Target, where_: &str) -> (step_key::Subject, String) {
    let finding = &target.finding;
    let principal = match &target.subject {
        Subject::UserKey { user: Some(u), .. } => step_key::Subject::user(u.as_str()),
        Subject::UserKey { key_id, user: None } => {
            step_key::Subject::other(&format!("key/{key_id}"))
        }
        Subject::Session { principal, .. } => step_key::Subject::principal(principal),
        Subject::Root { .. } => step_key::Subject::other("root"),
        Subject::Uncontainable { identity, .. } => {
            step_key::Subject::other(&format!("{identity}/{}", finding.id))
        }
    };
    let about = match &target.subject {
        Subject::UserKey { key_id, user } => format!(
            "key {key_id}{}{where_}",
            user.as_ref()
                .map_or_else(String::new, |u| format!(" of user {u}"))
        ),
        Subject::Session {
            principal: Principal::Role(r),
            ..
        } => format!("role {r}{where_}"),
        Subject::Session {
            principal: Principal::User(u),
            ..
        } => format!("user {u}{where_}"),
        Subject::Root { .. } => format!("the root user{where_}"),
        Subject::Uncontainable { identity, .. } => format!("a {identity} identity{where_}"),
    };
    (principal, about)
}

/// The plan for a finding when IAM could not be read: nothing is contained (there is no
/// fact to act on), but the finding stands on its own, so its incident and notice still
/// go out. The run fails (500): Lambda's retry, once IAM answers, finds the incident and
/// notice done and contains the credential.
pub fn decide_unreadable(
    target: &Target,
    cfg: &TranslatorConfig,
    why: &str,
    now: Timestamp,
) -> Plan {
    let mut plan = decide(target, cfg, &Facts::default(), now);
    plan.steps.retain(|s| {
        matches!(
            s.action,
            Action::OpenIncident { .. } | Action::Notify { .. }
        )
    });
    plan.decision = Decision::Failed {
        why: format!("reading IAM: {why}; incident only"),
    };
    plan
}

/// The plan for a finding, given what IAM said about the credential it names.
pub fn decide(target: &Target, cfg: &TranslatorConfig, facts: &Facts, now: Timestamp) -> Plan {
    let target = &*target.settled(facts, &cfg.containment.guard);
    let finding = &target.finding;
    if target.sample {
        let mut b = Builder::new(target, cfg, step_key::Subject::other("sample"), now);
        b.incident_and_notice(None, None, "a GuardDuty sample finding".to_owned());
        return b.done(Decision::PlanOnly {
            why: "GuardDuty sample finding: shown, not applied (ACT_ON_SAMPLE_FINDINGS=false)"
                .into(),
        });
    }
    if let Some(why) = target.foreign.as_ref().or(facts.outside.as_ref()) {
        // Another account's credential: the finding still stands, so the incident and
        // the notice go out, but nothing is contained here.
        let account = target.scope.as_ref().map_or_else(
            || "an unnamed account".to_owned(),
            |s| format!("account {}", s.account),
        );
        // Windowed per principal of that account, as at home: one member's finding
        // never hides another principal's.
        let (principal, about) = named(target, &format!(" in {account}"));
        let mut b = Builder::new(target, cfg, principal, now);
        b.incident_and_notice(None, target.subject.key_id(), about);
        return b.done(Decision::ForeignAccount {
            why: format!("{why}: incident only"),
        });
    }
    if let Some(why) = target.alert_only {
        // Windowed per principal, as a contained finding's incident is: a burst of
        // low-severity discovery opens one incident per window.
        let (principal, about) = named(target, "");
        let mut b = Builder::new(target, cfg, principal, now);
        b.incident_and_notice(None, target.subject.key_id(), about);
        for step in &mut b.plan.steps {
            step.reason = format!("{}; {why}", step.reason);
        }
        return b.done(Decision::Act);
    }
    match &target.subject {
        Subject::UserKey { key_id, user } => {
            let name = facts.owner.as_ref().or(user.as_ref());
            let principal = name.map_or_else(
                || step_key::Subject::other(&format!("key/{key_id}")),
                |u| step_key::Subject::user(u.as_str()),
            );
            let mut b = Builder::new(target, cfg, principal, now);
            // Names as the credential's account means them (organisation mode: a member's
            // principal is somebody else than the same name at home).
            let account = target.scope.as_ref().map(|s| &s.account);
            let guard = cfg.containment.guard.in_account(account);
            let about = name.map_or_else(|| format!("key {key_id}"), |u| format!("user {u}"));
            let about = match account.filter(|_| guard.member_view) {
                Some(a) => format!("{about} in account {a}"),
                None => about,
            };
            b.incident_and_notice(name, Some(key_id), about);
            let Some(user) = name.filter(|_| facts.exists) else {
                return b.done(Decision::NotFound {
                    what: format!(
                        "no IAM user {} with key {key_id}: incident only",
                        name.map_or("(unknown)", UserName::as_str)
                    ),
                });
            };
            let principal = Principal::User(user.clone());
            // Believed unless keyguard's record of who set it says otherwise.
            let believe = facts.tag_doubt(&guard, &target.credential()).is_none();
            match facts.protection(&guard, &principal, Some(key_id.as_str()), believe) {
                Some(Protected::Keyguard) => {
                    return b.done(Decision::Refused {
                        why: format!("key {key_id} of {user} is keyguard's own credential: incident only, rotate it by hand"),
                    })
                }
                Some(Protected::Exempt) => {
                    return b.done(Decision::Refused {
                        why: format!(
                            "user {user} is exempt: incident only, rotate key {key_id} by hand"
                        ),
                    })
                }
                Some(Protected::Canary) => {
                    return b.done(Decision::Refused {
                        why: format!(
                            "user {user} is a canary keyguard issued: incident only; rotating key {key_id} would end the tracking"
                        ),
                    })
                }
                None => {}
            }
            let active = match facts.key_status {
                None => {
                    return b.done(Decision::NotFound {
                        what: format!("user {user} has no access key {key_id}: incident only"),
                    })
                }
                Some(status) => (status != KeyStatus::Inactive).then_some(status),
            };
            // keyguard contains the key itself, at once, and only then ends the sessions
            // it minted (a cut-off fixed while the key still worked would let the
            // sessions minted in between live on); the runbook, which starts in its own
            // time, finds the key Inactive and rotates.
            let mut containing = 0;
            let mut deactivated = None;
            if let Some(status) = active {
                b.push(
                    Action::DeactivateKey {
                        user: user.clone(),
                        key_id: key_id.clone(),
                    },
                    format!(
                        "key {key_id} of {user} is {status:?} and named by GuardDuty {} (severity {})",
                        finding.finding_type, finding.severity
                    ),
                    false,
                );
                deactivated = b.plan.steps.last().map(|s| s.idempotency_key.clone());
                containing += 1;
            }
            if let Some((revoke, why)) =
                containment::user_sessions(&cfg.containment, user, key_id, facts, now)
            {
                b.push(revoke, why, false);
                if let Some(step) = b.plan.steps.last_mut() {
                    step.after.clone_from(&deactivated);
                }
                containing += 1;
                b.tell(
                    "sessions",
                    format!(
                        "{user}'s sessions issued before the key was contained are to be denied (inline policy {})",
                        cfg.containment.revoke_policy_name
                    ),
                );
            }
            // What the key did, read once it is contained (as deactivate-key does): the
            // keys it created contained, the rest listed in a notice.
            if cfg.containment.sweep.on() {
                b.push(
                    Action::SweepHistory {
                        user: user.clone(),
                        key_id: key_id.clone(),
                        lookback_hours: cfg.containment.sweep.lookback_hours,
                    },
                    format!(
                        "read what key {key_id} did in the last {} h (CloudTrail event history): contain the keys it created, list the rest",
                        cfg.containment.sweep.lookback_hours
                    ),
                    false,
                );
                if let Some(step) = b.plan.steps.last_mut() {
                    step.after.clone_from(&deactivated);
                }
                containing += 1;
            }
            let reason = if active.is_some() {
                format!("key {key_id} of {user} is being deactivated by keyguard: the runbook confirms it Inactive, then rotates the user's managed secret")
            } else {
                format!("key {key_id} of {user} is already Inactive: the runbook rotates the user's managed secret so the user gets a fresh key")
            };
            // A member's runbook runs in the member (the member StackSet deploys it and
            // its role there), started through the member role.
            let member = account.filter(|_| guard.member_view);
            b.runbook(user, key_id, member, reason);
            containing += 1;
            // Containment first, paperwork after.
            b.plan.steps.rotate_right(containing);
            b.done(Decision::Act)
        }
        Subject::Session { key_id, principal } => {
            let label = match principal {
                Principal::Role(r) => format!("role/{r}"),
                Principal::User(u) => format!("user/{u}"),
            };
            let contained = containment::decide(
                &target.containment_target(),
                &cfg.containment,
                std::slice::from_ref(facts),
                now,
            );
            let mut b = Builder::new(target, cfg, step_key::Subject::principal(principal), now);
            for step in contained.steps {
                if let Action::RevokeSessions { .. } = step.action {
                    b.push(step.action, step.reason, false);
                }
            }
            let user = match principal {
                Principal::User(u) => Some(u),
                Principal::Role(_) => None,
            };
            b.incident_and_notice(user, Some(key_id), label.replacen('/', " ", 1));
            b.done(contained.decision)
        }
        Subject::Root { key_id } => {
            let mut b = Builder::new(target, cfg, step_key::Subject::other("root"), now);
            let key = key_id.as_deref().and_then(|k| AccessKeyId::parse(k).ok());
            b.incident_and_notice(None, key.as_ref(), "the root user".to_owned());
            b.done(Decision::NotContainable {
                why: "a root credential: no IAM call can deactivate it; incident only, rotate it as the root user".into(),
            })
        }
        Subject::Uncontainable { identity, key_id } => {
            // Nothing names a principal: each sequence (or key) is its own subject, so
            // one never suppresses another's incident.
            let about = key_id.as_deref().unwrap_or(finding.id.as_str());
            let mut b = Builder::new(
                target,
                cfg,
                step_key::Subject::other(&format!("{identity}/{about}")),
                now,
            );
            if identity == "attack-sequence" {
                // Its title names the principal ("… of IAMUser/john_doe …"); the key is
                // for the responder to find from the sequence's signals.
                let about = finding
                    .title
                    .clone()
                    .unwrap_or_else(|| "an IAM attack sequence".to_owned());
                b.incident_and_notice(None, None, about);
                return b.done(Decision::NotContainable {
                    why: "an IAM attack sequence names no single key to contain: incident only"
                        .into(),
                });
            }
            b.incident_and_notice(None, None, format!("a {identity} identity"));
            b.done(Decision::NotContainable {
                why: format!(
                    "a {identity} identity: keyguard cannot contain its credential; incident only"
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests;
