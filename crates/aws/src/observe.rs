//! Structured logs of a report: one JSON line per step with stable field names, so a
//! destructive action is always visible. Never a secret: reports hold key ids only.

use keyguard_core::{Outcome, Report};

fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Applied { .. } => "applied",
        Outcome::Planned => "planned",
        Outcome::Duplicate => "duplicate",
        Outcome::NotFound { .. } => "not_found",
        Outcome::Failed { .. } => "failed",
    }
}

pub fn log_report(report: &Report) {
    let event_id = report.event_id.as_deref().unwrap_or("");
    let classifier_source = report.classifier_source.as_deref().unwrap_or("");
    let decision = serde_json::to_value(&report.decision)
        .ok()
        .and_then(|v| {
            v.get("decision")
                .and_then(|d| d.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    if report.steps.is_empty() {
        tracing::info!(
            function = %report.function, event_id, classifier_source, decision = %decision,
            status_code = report.status_code, dry_run = report.dry_run, "no action"
        );
    }
    for step in &report.steps {
        let action = step.step.action.name();
        let user = step
            .step
            .action
            .user()
            .map(|u| u.to_string())
            .unwrap_or_default();
        let key_id = step
            .step
            .action
            .key_id()
            .map(|k| k.to_string())
            .unwrap_or_default();
        let outcome = outcome_name(&step.outcome);
        let detail = serde_json::to_string(&step.outcome).unwrap_or_default();
        match step.outcome {
            Outcome::Failed { .. } => tracing::error!(
                function = %report.function, event_id, user = %user, key_id = %key_id, action, outcome,
                dry_run = report.dry_run, classifier_source, decision = %decision, detail = %detail, reason = %step.step.reason, "step failed"
            ),
            _ => tracing::warn!(
                function = %report.function, event_id, user = %user, key_id = %key_id, action, outcome,
                dry_run = report.dry_run, classifier_source, decision = %decision, detail = %detail, reason = %step.step.reason, "step"
            ),
        }
    }
}
