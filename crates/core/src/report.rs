//! What happened when a plan was applied: the Lambda's result and the CLI's output.

use crate::plan::{Decision, Plan, Step};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Applied {
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// Dry run: logged, not applied.
    Planned,
    /// The ledger shows this step was taken (or is being taken) for this event already.
    Duplicate,
    /// Another step holding the same window (e.g. an incident for this user a few
    /// minutes ago) makes this one unnecessary.
    Suppressed { window: String },
    /// Another invocation claimed this step and has not said how it went, and its
    /// lease still runs: it may be acting now, or it may have died. Not done: the
    /// invocation fails so Lambda retries, and the retry decides.
    InProgress { message: String },
    /// The thing to act on vanished between planning and acting.
    NotFound { message: String },
    /// The service refused this request for good (an email SES rejects): recorded in the
    /// ledger as settled, so no retry sends it again, and a step waiting for it goes
    /// ahead, as it would had there been no usable address. Not a failure of the run.
    Rejected {
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        message: String,
    },
    Failed {
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        message: String,
    },
}

impl Outcome {
    /// The stable name, as in the JSON `outcome` field.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Applied { .. } => "applied",
            Self::Planned => "planned",
            Self::Duplicate => "duplicate",
            Self::Suppressed { .. } => "suppressed",
            Self::NotFound { .. } => "not_found",
            Self::Rejected { .. } => "rejected",
            Self::InProgress { .. } => "in_progress",
            Self::Failed { .. } => "failed",
        }
    }
}

impl Outcome {
    /// The status a ledger settles a step with. `failed` frees the step (and its window)
    /// for a retry; every other status keeps it, so a redelivery finds it taken.
    pub fn ledger_status(&self) -> &'static str {
        match self {
            Self::Applied { .. } => "done",
            Self::Planned => "planned",
            Self::Duplicate => "duplicate",
            Self::Suppressed { .. } => "suppressed",
            Self::Rejected { .. } => "rejected",
            Self::NotFound { .. } | Self::Failed { .. } | Self::InProgress { .. } => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    #[serde(flatten)]
    pub step: Step,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// An earlier attempt of this step failed and released it, and this run took it
    /// again ([`crate::effects::Claim::Retry`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retried: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    pub function: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier_source: Option<String>,
    #[serde(flatten)]
    pub decision: Decision,
    pub dry_run: bool,
    pub steps: Vec<StepReport>,
    /// When the event saw what it tells of, as its plan had it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<crate::Timestamp>,
    /// An SQS batch's messages to be delivered again (Lambda's partial batch response,
    /// `ReportBatchItemFailures`): the rest of the batch is done and deleted.
    #[serde(rename = "batchItemFailures", skip_serializing_if = "Option::is_none")]
    pub batch_item_failures: Option<Vec<BatchItemFailure>>,
}

/// One SQS message of a batch that did not go through (`itemIdentifier`: its message id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

impl Report {
    /// The report for input that did not parse: 400, no steps.
    pub fn invalid(function: &str, dry_run: bool, why: impl std::fmt::Display) -> Self {
        let why = why.to_string();
        Self::new(
            Plan::new(function, Decision::Invalid { why }),
            dry_run,
            Vec::new(),
        )
    }

    /// This report, failed for `why` as well (500), its steps kept: a run that did
    /// only part of its work says so, and fails its invocation so Lambda retries it.
    pub fn failed_also(mut self, why: String) -> Self {
        self.decision = match self.decision {
            Decision::Failed { why: first } => Decision::Failed {
                why: format!("{first}; {why}"),
            },
            _ => Decision::Failed { why },
        };
        self.status_code = status_code(&self.decision, self.dry_run, &self.steps);
        self
    }

    /// This report with the steps of `more` (applied after it, for the same event)
    /// appended, its status worked out again over all of them.
    pub fn followed_by(mut self, more: Report) -> Self {
        self.steps.extend(more.steps);
        self.status_code = status_code(&self.decision, self.dry_run, &self.steps);
        self
    }

    /// This report with the steps of `more` (a run of its own the same invocation made)
    /// shown beside its own, its status left as it was: a failed step there is reported,
    /// and counted in the metrics, without failing this event.
    pub fn alongside(mut self, more: Report) -> Self {
        self.steps.extend(more.steps);
        self
    }

    pub fn new(plan: Plan, dry_run: bool, steps: Vec<StepReport>) -> Self {
        let status_code = status_code(&plan.decision, dry_run, &steps);
        Self {
            status_code,
            function: plan.function,
            event_id: plan.event_id,
            classifier_source: plan.classifier_source,
            decision: plan.decision,
            dry_run,
            steps,
            observed_at: plan.observed_at,
            batch_item_failures: None,
        }
    }
}

/// The HTTP-style code seed 000 promises: 200 contained (or nothing to do), 202 dry run
/// or plan-only with steps planned, 400 invalid, 403 refused or not containable, 404 no such user or
/// key, 500 a step failed or is still in progress elsewhere. A failed or unfinished step
/// is 500 whatever the decision (a refusal's notice too), so the invocation fails and
/// Lambda retries it: nothing that may not have happened is reported as done.
fn status_code(decision: &Decision, dry_run: bool, steps: &[StepReport]) -> u16 {
    let any = |f: fn(&Outcome) -> bool| steps.iter().any(|s| f(&s.outcome));
    match decision {
        Decision::Invalid { .. } => 400,
        Decision::Failed { .. } => 500,
        _ if any(|o| matches!(o, Outcome::InProgress { .. } | Outcome::Failed { .. })) => 500,
        Decision::NotFound { .. } => 404,
        Decision::Refused { .. }
        | Decision::NotContainable { .. }
        | Decision::ForeignAccount { .. } => 403,
        // A contained key's sessions still revoked: in a dry run, planned like any act.
        Decision::AlreadyContained if dry_run && any(|o| matches!(o, Outcome::Planned)) => 202,
        Decision::AlreadyContained | Decision::Ignored { .. } | Decision::NothingToDo { .. } => 200,
        Decision::Act if any(|o| matches!(o, Outcome::NotFound { .. })) => 404,
        Decision::PlanOnly { .. } => 202,
        Decision::Act if dry_run => 202,
        Decision::Act => 200,
    }
}
