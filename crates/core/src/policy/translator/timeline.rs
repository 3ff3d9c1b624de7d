//! The sweep's list on the incident. guardduty-translator opens its incident before the
//! sweep (a page must not wait for, or fail with, a history read), so what the contained
//! key did reaches the incident afterwards: one timeline event per listed key
//! (`CreateTimelineEvent`), on the incident this finding opened, or on the one whose
//! window held it back (the same principal's incident, minutes older).

use super::FUNCTION;
use crate::digest::uuid_from;
use crate::notice::Notice;
use crate::plan::{incident_in_detail, Action, Decision, Plan, Step, TIMELINE_EVENT_LIMIT};
use crate::policy::containment::trail;
use crate::report::{Outcome, Report};
use crate::step_key;
use crate::time::Timestamp;

/// Where the incident of a run is to be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentAt {
    /// Opened in this run: its record ARN.
    Opened(String),
    /// Opened earlier (a redelivery, a retry, or another finding whose window held this
    /// one): the ledger rows whose settled outcome may name it, in the order to read.
    /// A step held by its window on an earlier attempt is a duplicate now, and its own
    /// row says only that: the window's row names the incident.
    Recorded(Vec<String>),
}

/// The incident this run's report opened or found, if it has one.
pub fn incident(report: &Report) -> Option<IncidentAt> {
    report.steps.iter().find_map(|r| {
        if !matches!(r.step.action, Action::OpenIncident { .. }) {
            return None;
        }
        match &r.outcome {
            Outcome::Applied { detail } => detail
                .as_deref()
                .and_then(incident_in_detail)
                .map(|arn| IncidentAt::Opened(arn.to_owned())),
            Outcome::Duplicate => {
                let mut rows = vec![r.step.idempotency_key.clone()];
                rows.extend(r.step.window.as_ref().map(|w| w.key.clone()));
                Some(IncidentAt::Recorded(rows))
            }
            Outcome::Suppressed { window } if !window.is_empty() => {
                Some(IncidentAt::Recorded(vec![window.clone()]))
            }
            _ => None,
        }
    })
}

/// The incident ARN in a ledger row's `outcome` (the settled outcome, as JSON), when the
/// row is an applied `OpenIncident`.
pub fn arn_in_ledger_outcome(outcome: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(outcome).ok()?;
    if v.get("outcome")?.as_str()? != "applied" {
        return None;
    }
    incident_in_detail(v.get("detail")?.as_str()?).map(str::to_owned)
}

/// A notice as timeline text: its subject, then each fact on its own line, within the
/// service's limit (whole lines, then how many were left out).
fn text(notice: &Notice) -> String {
    let mut out = notice.subject.clone();
    let lines: Vec<String> = notice
        .facts
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    // Room for the line that says how many were left out.
    let room = TIMELINE_EVENT_LIMIT - 80;
    for (i, line) in lines.iter().enumerate() {
        if out.chars().count() + 1 + line.chars().count() > room {
            out.push_str(&format!(
                "\n… {} more line(s) not shown: see the notice",
                lines.len() - i
            ));
            return out;
        }
        out.push('\n');
        out.push_str(line);
    }
    out
}

/// One timeline event per sweep listing in `report`, on incident `arn`. A listing whose
/// notice failed is put on the incident all the same: it is the same list.
pub fn plan(report: &Report, arn: &str, now: Timestamp) -> Plan {
    let event_ref = report.event_id.clone().unwrap_or_default();
    let mut plan = Plan::for_event(FUNCTION, Decision::Act, event_ref.clone());
    plan.classifier_source = report.classifier_source.clone();
    // Steps are keyed on the event: without one, two events' steps would be one.
    let steps = if event_ref.is_empty() {
        &[][..]
    } else {
        &report.steps[..]
    };
    for r in steps {
        if !trail::is_listing(&r.step) {
            continue;
        }
        let Action::Notify { notice } = &r.step.action else {
            continue;
        };
        let Some(key) = &notice.key_id else {
            continue;
        };
        let account = r.step.scope.as_ref().map(|s| &s.account);
        let idempotency_key = step_key::step(
            FUNCTION,
            "add_to_incident",
            account,
            &trail::listed(key),
            &event_ref,
        );
        plan.steps.push(Step {
            replaces: None,
            after: None,
            scope: r.step.scope.clone(),
            action: Action::AddToIncident {
                incident_arn: arn.to_owned(),
                event_time: now,
                event_data: text(notice),
                client_token: uuid_from(&idempotency_key),
                user: notice.user.clone(),
                key_id: Some(key.clone()),
            },
            reason: format!(
                "what contained key {key} did, on incident {arn} (opened before the sweep read it)"
            ),
            idempotency_key,
            window: None,
        });
    }
    if plan.steps.is_empty() {
        plan.decision = Decision::NothingToDo {
            why: "the sweep listed nothing".into(),
        };
    }
    plan
}

#[cfg(test)]
mod tests;
