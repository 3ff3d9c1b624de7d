//! The daily summary, written once the run's other steps are done: it tells the
//! administrators what happened (each key action and how it ended, the emails SES
//! refused for good), not what was planned. The plan still carries a summary, so
//! `keyguard plan` and a dry run show one; the function takes it out, applies the rest,
//! and applies this one in its place.

use super::{listed, FUNCTION};
use crate::notice::Severity;
use crate::plan::{Action, Plan, Step};
use crate::report::{Outcome, StepReport};

fn is_summary(step: &Step) -> bool {
    matches!(step.action, Action::Notify { .. })
        && step
            .idempotency_key
            .starts_with(&format!("{FUNCTION}:notify:summary:"))
}

/// Takes the summary out of the plan, to be rewritten by [`summary_after`].
pub fn take_summary(plan: &mut Plan) -> Option<Step> {
    let at = plan.steps.iter().rposition(is_summary)?;
    Some(plan.steps.remove(at))
}

/// How a key action ended, in the summary's words.
fn ended(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Applied { .. } => "done".into(),
        Outcome::Duplicate => "done by an earlier run".into(),
        Outcome::Planned => "planned (dry run)".into(),
        Outcome::Suppressed { .. } => "suppressed".into(),
        Outcome::NotFound { .. } => "gone before keyguard acted".into(),
        Outcome::InProgress { .. } => "in progress in another run".into(),
        Outcome::Rejected { message, .. } => format!("refused: {message}"),
        Outcome::Failed { code, message } if code.as_deref() == Some("Waiting") => {
            format!("not taken: {message}")
        }
        Outcome::Failed { code, message } => format!(
            "FAILED: {}{message}",
            code.as_deref()
                .map(|c| format!("{c}: "))
                .unwrap_or_default()
        ),
    }
}

/// The planned summary, its actions replaced by what `done` reports of them.
pub fn summary_after(mut summary: Step, done: &[StepReport]) -> Step {
    let Action::Notify { notice } = &summary.action else {
        return summary;
    };
    let mut notice = notice.clone();
    let mut actions = Vec::new();
    let mut unfinished = 0;
    let mut rejected = Vec::new();
    let mut unsent = Vec::new();
    for report in done {
        let unfinished_here = matches!(
            report.outcome,
            Outcome::Failed { .. } | Outcome::InProgress { .. }
        );
        match &report.step.action {
            Action::DeactivateKey { user, key_id } | Action::DeleteKey { user, key_id } => {
                unfinished += usize::from(unfinished_here);
                actions.push(format!(
                    "{} {key_id} ({user}): {}",
                    report.step.action.name(),
                    ended(&report.outcome)
                ));
            }
            Action::SendEmail { email } => {
                let who = email
                    .user
                    .as_ref()
                    .map_or_else(|| "someone".to_owned(), ToString::to_string);
                match &report.outcome {
                    Outcome::Rejected { .. } => rejected.push(who),
                    _ if unfinished_here => unsent.push(who),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if unfinished > 0 || !rejected.is_empty() || !unsent.is_empty() {
        notice.severity = notice.severity.max(Severity::High);
    }
    notice = notice
        .fact("actions", listed(&actions))
        .fact("actions_unfinished", unfinished.to_string())
        .fact("emails_rejected_by_ses", listed(&rejected))
        .fact("emails_not_sent", listed(&unsent));
    summary.reason = format!(
        "{} key action(s), {unfinished} unfinished; {} email(s) refused by SES, {} not sent",
        actions.len(),
        rejected.len(),
        unsent.len()
    );
    summary.action = Action::Notify { notice };
    summary
}
