//! Structured logs of a report: one JSON line per step with stable field names, so a
//! destructive action is always visible. Never a secret: reports hold key ids only.

use keyguard_core::{Outcome, Report};

pub fn log_report(report: &Report) {
    let event_id = report.event_id.as_deref().unwrap_or("");
    let classifier_source = report.classifier_source.as_deref().unwrap_or("");
    let decision = report.decision.name();
    let why = report.decision.explanation().unwrap_or("");
    if report.steps.is_empty() {
        tracing::info!(
            function = %report.function, event_id, classifier_source, decision, why,
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
        let outcome = step.outcome.name();
        let detail = serde_json::to_string(&step.outcome).unwrap_or_default();
        match step.outcome {
            Outcome::Failed { .. } => tracing::error!(
                function = %report.function, event_id, user = %user, key_id = %key_id, action, outcome,
                dry_run = report.dry_run, classifier_source, decision, detail = %detail, reason = %step.step.reason, "step failed"
            ),
            _ => tracing::warn!(
                function = %report.function, event_id, user = %user, key_id = %key_id, action, outcome,
                dry_run = report.dry_run, classifier_source, decision, detail = %detail, reason = %step.step.reason, "step"
            ),
        }
    }
}
