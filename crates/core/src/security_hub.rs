//! Where security teams look: one AWS Security Finding Format (ASFF) finding per event
//! that keyguard acts on, refuses, cannot contain, or fails on (`SECURITY_HUB=true`),
//! imported into Security Hub with `BatchImportFindings` by a step of its own, once per
//! invocation, after every other step ([`crate::Executor::with_finding`]), so that it says
//! how they all ended.
//!
//! The finding's `Id` is made from the function and the event alone, so every run for an
//! event updates one finding. Its step's idempotency key adds how the steps stand (done
//! now, done by an earlier run, held by a window and refused for good all count as
//! settled): a retry that changed something re-imports, an identical run does not. A
//! finding whose steps all settled holds a window on its `Id` for a day, so a later
//! re-planning of the same event (a redelivery that now finds the key already contained)
//! never overwrites it; a failed import releases the window, so its retry imports.
//! Pure: the adapter sends what [`finding`] builds.

use crate::config::{self, ConfigError, Env};
use crate::notice::cut;
use crate::plan::{Action, Decision, Principal, Step, Window};
use crate::report::{Outcome, Report, StepReport};
use crate::scope::AccountId;
use crate::time::Timestamp;
use crate::Severity;
use serde::Serialize;
use std::collections::BTreeMap;

/// ASFF's limits (AWS Security Hub API reference, `AwsSecurityFinding`), kept here so a
/// finding AWS would refuse fails a table test instead of an import at 3 a.m.
pub mod limits {
    pub const ID: usize = 512;
    pub const GENERATOR_ID: usize = 512;
    pub const TITLE: usize = 256;
    pub const DESCRIPTION: usize = 1024;
    pub const RESOURCES: usize = 32;
    pub const TYPES: usize = 50;
    pub const PRODUCT_FIELDS: usize = 50;
    pub const PRODUCT_FIELD_KEY: usize = 128;
    pub const PRODUCT_FIELD_VALUE: usize = 2048;
    pub const REMEDIATION_TEXT: usize = 512;
}

/// The ASFF schema version every finding names.
pub const SCHEMA_VERSION: &str = "2018-10-08";

/// `SECURITY_HUB` (default false), read by the functions that report findings.
pub fn enabled(env: &impl Env) -> Result<bool, ConfigError> {
    config::flag(env, "SECURITY_HUB", false)
}

/// Where findings go: Security Hub's default product of keyguard's own account and
/// Region (`arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default`), the one a
/// custom integration imports into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Findings {
    pub product_arn: String,
    pub home: AccountId,
    pub region: String,
    pub partition: String,
}

impl Findings {
    pub fn new(home: AccountId, region: &str, partition: &str) -> Self {
        Self {
            product_arn: format!(
                "arn:{partition}:securityhub:{region}:{home}:product/{home}/default"
            ),
            home,
            region: region.to_owned(),
            partition: partition.to_owned(),
        }
    }
}

/// ASFF severity labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Label {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl From<Label> for Severity {
    fn from(l: Label) -> Self {
        match l {
            Label::Informational => Self::Info,
            Label::Low => Self::Low,
            Label::Medium => Self::Medium,
            Label::High => Self::High,
            Label::Critical => Self::Critical,
        }
    }
}

impl From<Severity> for Label {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Info => Self::Informational,
            Severity::Low => Self::Low,
            Severity::Medium => Self::Medium,
            Severity::High => Self::High,
            Severity::Critical => Self::Critical,
        }
    }
}

/// What a finding is about: an access key (`AwsIamAccessKey`), or a principal whose
/// sessions were revoked (`AwsIamRole`, `AwsIamUser`), or, when the decision names
/// none, the account (`AwsAccount`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub account: AccountId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// `IAMUser` or `Role`, for a key's or session's principal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<&'static str>,
}

/// One ASFF finding, as keyguard fills it (the adapter maps it to the SDK's type).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub id: String,
    pub product_arn: String,
    pub generator_id: String,
    pub aws_account_id: AccountId,
    pub region: String,
    pub types: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub severity: Label,
    pub title: String,
    pub description: String,
    pub remediation: String,
    pub resources: Vec<Resource>,
    pub product_fields: BTreeMap<String, String>,
}

/// Whether a run's decision is one security teams must see. A credential found already
/// contained is one too: a retry after a failed import finds the key it contained
/// Inactive, and its finding must still reach Security Hub.
fn worth_a_finding(decision: &Decision) -> bool {
    matches!(
        decision,
        Decision::Act
            | Decision::AlreadyContained
            | Decision::Refused { .. }
            | Decision::NotContainable { .. }
            | Decision::ForeignAccount { .. }
            | Decision::NotFound { .. }
            | Decision::Failed { .. }
    )
}

/// keyguard's own bookkeeping: a run that only remembered or recorded is no finding.
fn bookkeeping(action: &Action) -> bool {
    matches!(
        action,
        Action::Remember { .. } | Action::RecordExemption { .. }
    )
}

/// ASFF `Types` for a decision made by `rule` (the detector's rules name their tactic;
/// containment's sources are credential access); OCSF's finding types say the same.
pub fn types(rule: Option<&str>) -> Vec<String> {
    let kind = match rule {
        Some(r) if r.contains("logging-disabled") || r.contains("quarantine") => {
            "TTPs/Defense Evasion"
        }
        Some(r)
            if r.contains("backdoor")
                || r.contains("user-created-with-key")
                || r.contains("exemption-tagged")
                || r.contains("mfa-removed")
                || r.contains("admin-policy") =>
        {
            "TTPs/Persistence"
        }
        Some(r) if r.contains("runs-instances") => "Effects/Resource Consumption",
        _ => "TTPs/Credential Access",
    };
    vec![kind.to_owned()]
}

/// The resources a plan's steps (or notices) name, each once, at most ASFF's 32.
fn resources(steps: &[StepReport], home: &AccountId, partition: &str) -> Vec<Resource> {
    let mut out: Vec<Resource> = Vec::new();
    for s in steps {
        let account = s
            .step
            .scope
            .as_ref()
            .map_or_else(|| home.clone(), |sc| sc.account.clone());
        let key = s.step.action.key_id().map(ToString::to_string);
        let principal = match &s.step.action {
            Action::RevokeSessions { principal, .. } => Some(principal.clone()),
            other => other.user().map(|u| Principal::User(u.clone())),
        };
        let (name, principal_type) = match &principal {
            Some(Principal::User(u)) => (Some(u.to_string()), Some("IAMUser")),
            Some(Principal::Role(r)) => (Some(r.to_string()), Some("Role")),
            None => (None, None),
        };
        let resource = match (&key, &principal) {
            (Some(k), _) => Resource {
                kind: "AwsIamAccessKey",
                id: format!("AWS::IAM::AccessKey:{k}"),
                account,
                key_id: Some(k.clone()),
                principal: name,
                principal_type,
            },
            (None, Some(Principal::Role(r))) => Resource {
                kind: "AwsIamRole",
                id: format!("arn:{partition}:iam::{account}:role/{r}"),
                account,
                key_id: None,
                principal: name,
                principal_type,
            },
            (None, Some(Principal::User(u))) => Resource {
                kind: "AwsIamUser",
                id: format!("arn:{partition}:iam::{account}:user/{u}"),
                account,
                key_id: None,
                principal: name,
                principal_type,
            },
            (None, None) => continue,
        };
        let full = out.len() >= limits::RESOURCES;
        match out
            .iter_mut()
            .find(|r| r.id == resource.id && r.account == resource.account)
        {
            // A key first seen without its principal learns it from a later step.
            Some(known) if known.principal.is_none() => *known = resource,
            Some(_) => {}
            None if !full => out.push(resource),
            None => {}
        }
    }
    out
}

/// How a step stands, for the finding: done now and done by an earlier run alike.
fn standing(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Applied { .. } | Outcome::Duplicate => "done",
        other => other.name(),
    }
}

/// Whether a run ended cleanly, so that a finding telling of an earlier failure may be
/// resolved by it: it contained the credential (or found it contained), every step of it
/// is done, and each step it retried after a failure went through. A refusal, a
/// credential that cannot be contained, a step the service rejected, or one still held
/// elsewhere is not clean, whatever was retried.
pub fn clean(report: &Report) -> bool {
    matches!(report.decision, Decision::Act | Decision::AlreadyContained)
        && report.steps.iter().all(|s| {
            matches!(
                s.outcome,
                Outcome::Applied { .. } | Outcome::Duplicate | Outcome::Suppressed { .. }
            )
        })
        && report
            .steps
            .iter()
            .filter(|s| s.retried)
            .all(|s| matches!(s.outcome, Outcome::Applied { .. }))
}

/// Whether a finding as Security Hub holds it (its `ProductFields`) told of a failure:
/// its run failed, or one of its steps did.
pub fn told_failure(fields: &BTreeMap<String, String>) -> bool {
    fields.get("keyguard/decision").map(String::as_str) == Some("failed")
        || fields
            .iter()
            .any(|(k, v)| k.starts_with("keyguard/step/") && (v == "failed" || v == "in_progress"))
}

/// Whether a step is settled for good: a redelivery finds it `duplicate` whatever it was.
fn settled(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Applied { .. }
            | Outcome::Duplicate
            | Outcome::Suppressed { .. }
            | Outcome::Rejected { .. }
    )
}

/// One line per step: what it was and how it ended.
fn step_line(s: &StepReport) -> String {
    let ended = match &s.outcome {
        Outcome::Failed { message, .. } => format!("failed: {message}"),
        Outcome::NotFound { message } => format!("not found: {message}"),
        Outcome::InProgress { .. } => "in progress elsewhere".to_owned(),
        other => standing(other).to_owned(),
    };
    format!("{} ({}): {ended}", s.step.action.name(), s.step.reason)
}

fn severity(steps: &[StepReport], decision: &Decision) -> Label {
    let told = steps
        .iter()
        .filter_map(|s| match &s.step.action {
            Action::Notify { notice } | Action::Alert { notice, .. } => Some(notice.severity),
            _ => None,
        })
        .max();
    match (told, decision) {
        (Some(s), _) => s.into(),
        (None, Decision::Failed { .. } | Decision::Act) => Label::High,
        (None, Decision::AlreadyContained) => Label::Low,
        (None, _) => Label::Medium,
    }
}

fn title(report: &Report) -> String {
    let told = report.steps.iter().find_map(|s| match &s.step.action {
        Action::Notify { notice } | Action::Alert { notice, .. } => Some(notice.subject.clone()),
        _ => None,
    });
    let title = told.unwrap_or_else(|| {
        format!(
            "keyguard {}: {}",
            report.function,
            report.decision.name().replace('_', " ")
        )
    });
    cut(&crate::notice::clean(&title, limits::TITLE), limits::TITLE)
}

fn remediation(decision: &Decision, report: &Report) -> String {
    let failed = report.steps.iter().any(|s| {
        matches!(
            s.outcome,
            Outcome::Failed { .. } | Outcome::InProgress { .. }
        )
    });
    let text = match decision {
        Decision::Failed { .. } => "keyguard could not finish: the invocation is retried, then kept in the function's on-failure queue. Read the function's log for the event, and contain the credential by hand if the retries fail.",
        _ if failed => "Some of keyguard's steps failed and are retried. Read the function's log for the event, and finish the containment by hand if the retries fail.",
        Decision::Act | Decision::AlreadyContained => "keyguard acted, or found the credential already contained (the steps are in ProductFields). Rotate the credential, review what it did with `keyguard audit`, and reverse a false positive with `keyguard undo`.",
        Decision::Refused { .. } | Decision::ForeignAccount { .. } | Decision::NotContainable { .. } => "keyguard did not act on this credential (the description says why): contain it by hand where it lives, or deploy keyguard to act there.",
        _ => "keyguard found nothing to contain: check that the credential the event names still exists, and who removed it.",
    };
    cut(text, limits::REMEDIATION_TEXT)
}

/// How a run stands, as a digest: the finding's step is a new step whenever that
/// changed, and the same step (which the ledger keeps once) when it did not.
fn outcomes_digest(report: &Report) -> String {
    let mut all = vec![report.decision.name().to_owned()];
    all.extend(
        report
            .steps
            .iter()
            .filter(|s| !bookkeeping(&s.step.action))
            .map(|s| {
                let stands = if settled(&s.outcome) {
                    "settled"
                } else {
                    s.outcome.name()
                };
                format!("{}={stands}", s.step.idempotency_key)
            }),
    );
    crate::digest::uuid_from(&all.join("\n"))
}

/// The finding for a run that ended as `report`, or `None` when it is not one security
/// teams must see (ignored, nothing to do, invalid, or only bookkeeping).
pub fn finding(report: &Report, cfg: &Findings, now: Timestamp) -> Option<Finding> {
    if !worth_a_finding(&report.decision) {
        return None;
    }
    let told: Vec<&StepReport> = report
        .steps
        .iter()
        .filter(|s| !bookkeeping(&s.step.action))
        .collect();
    if told.is_empty() && !matches!(report.decision, Decision::Failed { .. }) {
        return None;
    }
    // A burst held by a window (the detector's alerts, the translator's incidents) is the
    // finding its first event made.
    if !told.is_empty()
        && told
            .iter()
            .all(|s| matches!(s.outcome, Outcome::Suppressed { .. }))
    {
        return None;
    }
    // The credential's account, named on each resource; the finding itself is keyguard's
    // account's (a custom integration imports only where it runs, `AwsAccountId`).
    let account = report
        .steps
        .iter()
        .find_map(|s| s.step.scope.as_ref().map(|sc| sc.account.clone()))
        .unwrap_or_else(|| cfg.home.clone());
    let event = report.event_id.clone().unwrap_or_default();
    // The event's classifier; for the detector, whose runs have none, the rule its first
    // alert names.
    let alerted = report.steps.iter().find_map(|s| match &s.step.action {
        Action::Alert { notice, .. } | Action::Notify { notice } => notice.facts.get("rule"),
        _ => None,
    });
    let rule = report
        .classifier_source
        .as_deref()
        .or(alerted.map(String::as_str));
    let mut resources = resources(&report.steps, &account, &cfg.partition);
    if resources.is_empty() {
        resources.push(Resource {
            kind: "AwsAccount",
            id: format!("AWS::::Account:{account}"),
            account: account.clone(),
            key_id: None,
            principal: None,
            principal_type: None,
        });
    }
    let why = match &report.decision {
        Decision::Refused { why }
        | Decision::NotContainable { why }
        | Decision::ForeignAccount { why }
        | Decision::Failed { why } => format!("{}: {why}. ", report.decision.name()),
        Decision::NotFound { what } => format!("not found: {what}. "),
        _ => String::new(),
    };
    let lines: Vec<String> = told.iter().map(|s| step_line(s)).collect();
    let text = format!("{why}{}", lines.join("; "));
    let description = cut(
        &crate::notice::clean(&text, limits::DESCRIPTION),
        limits::DESCRIPTION,
    );
    let mut fields = BTreeMap::new();
    // Security Hub's advice for a custom integration: name the provider.
    fields.insert("ProviderName".to_owned(), "keyguard".to_owned());
    fields.insert(
        "ProviderVersion".to_owned(),
        env!("CARGO_PKG_VERSION").to_owned(),
    );
    fields.insert("keyguard/function".to_owned(), report.function.clone());
    fields.insert(
        "keyguard/decision".to_owned(),
        report.decision.name().to_owned(),
    );
    fields.insert(
        "keyguard/event".to_owned(),
        cut(
            &crate::notice::clean(&event, limits::PRODUCT_FIELD_VALUE),
            limits::PRODUCT_FIELD_VALUE,
        ),
    );
    if let Some(rule) = rule {
        fields.insert(
            "keyguard/rule".to_owned(),
            cut(
                &crate::notice::clean(rule, limits::PRODUCT_FIELD_VALUE),
                limits::PRODUCT_FIELD_VALUE,
            ),
        );
    }
    for (n, s) in told.iter().enumerate() {
        // Forty steps at most, besides the six fields above: ASFF allows fifty.
        if n == 40 {
            break;
        }
        fields.insert(
            format!("keyguard/step/{n:02}/{}", s.step.action.name()),
            standing(&s.outcome).to_owned(),
        );
    }
    Some(Finding {
        // The event alone names the finding: every run for it, in whichever account it
        // finds the credential, updates the one finding.
        id: finding_id(&report.function, &event),
        product_arn: cfg.product_arn.clone(),
        generator_id: cut(
            &crate::notice::clean(
                &format!("keyguard/{}", rule.unwrap_or(&report.function)),
                limits::GENERATOR_ID,
            ),
            limits::GENERATOR_ID,
        ),
        aws_account_id: cfg.home.clone(),
        region: cfg.region.clone(),
        types: types(rule),
        // When the event saw it, the same in every import (never later than this one);
        // the import's own time only when the event did not say.
        created_at: report.observed_at.filter(|t| *t <= now).unwrap_or(now),
        updated_at: now,
        severity: severity(&report.steps, &report.decision),
        title: title(report),
        description,
        remediation: remediation(&report.decision, report),
        resources,
        product_fields: fields,
    })
}

/// The `Id` of the finding about `event` of `function`: every run for the event updates
/// it, and `keyguard undo` finds it again from a ledger row.
pub fn finding_id(function: &str, event: &str) -> String {
    cut(
        &format!("keyguard/{function}/{}", crate::digest::uuid_from(event)),
        limits::ID,
    )
}

/// The functions whose decisions are findings (in Security Hub, and as OCSF lines):
/// age-rotation's and secrets-rotator's runs are hygiene.
pub const REPORTING: [&str; 3] = [
    "deactivate-key",
    "guardduty-translator",
    "createkey-detector",
];

/// How long a settled finding keeps later re-plannings of its event from overwriting it:
/// longer than EventBridge's and Lambda's redeliveries and retries.
pub const SETTLED_HOURS: i64 = 24;

/// The step importing `report`'s finding, after every step it reports on.
pub fn step(report: &Report, cfg: &Findings, now: Timestamp) -> Option<Step> {
    let finding = finding(report, cfg, now)?;
    let id = format!("{}:import_finding:{}", report.function, finding.id);
    let all_settled = !matches!(report.decision, Decision::Failed { .. })
        && report.steps.iter().all(|s| settled(&s.outcome));
    let clean = clean(report);
    // A candidate only: the finding is resolved when Security Hub's copy told of a
    // failure ([`told_failure`]), which the import's effect reads first. A first run that
    // went cleanly leaves its finding NEW, for the team to review what keyguard did.
    let resolve = clean && report.steps.iter().any(|s| s.retried);
    Some(Step {
        replaces: None,
        after: None,
        scope: None,
        idempotency_key: format!("{id}:{}", outcomes_digest(report)),
        reason: format!(
            "Security Hub finding {} ({:?}) for this {}{}",
            finding.id,
            finding.severity,
            report.decision.name().replace('_', " "),
            if resolve {
                ", set RESOLVED: this run completed what an earlier one failed at"
            } else {
                ""
            }
        ),
        action: Action::ImportFinding {
            finding: Box::new(finding),
            clean,
            resolve,
        },
        window: all_settled.then(|| Window {
            key: id,
            until: now + chrono::Duration::hours(SETTLED_HOURS),
        }),
    })
}

#[cfg(test)]
mod tests;
