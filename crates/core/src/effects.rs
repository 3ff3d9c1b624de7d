//! Applying a plan: the traits adapters implement, and the one engine that walks a plan
//! through them with the ledger in front of every step.

use crate::plan::{Action, Decision, Plan, Step, Window};
use crate::report::{Outcome, Report, StepReport};
use crate::scope::Scope;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// An error from the outside world, with the service's error code kept
/// (`NoSuchEntity`, `Throttling`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
pub struct EffectError {
    pub kind: ErrorKind,
    pub code: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user, key or role does not exist.
    NotFound,
    /// The ledger refused a claim because another holds it.
    Conflict,
    /// The service refused this very request for good (SES's `MessageRejected`): sending
    /// it again would be refused again, so it is recorded once and not retried.
    Rejected,
    Other,
}

impl EffectError {
    pub fn new(kind: ErrorKind, code: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            kind,
            code: code.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// The state a write replaces, read just before it and kept in the step's ledger row
/// before the write is made: all `keyguard undo` needs to put it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Prior {
    /// The key's status (`Active`, `Inactive`, `Expired`) as IAM listed it.
    KeyStatus { status: String },
    /// The principal's inline policy of the step's name; `None`: there was none.
    InlinePolicy { document: Option<String> },
}

/// Carries out one action where its step says it acts (`at`: the credential's account,
/// `None` for a step that acts on no account's principal). Returns a short detail for
/// the report (an id, a status).
pub trait Effects {
    /// What the action would replace, for the actions that can be undone (a key's
    /// deactivation, a revocation policy); `None` for the others. An error means the
    /// state could not be read, and the step is not taken.
    fn before(
        &self,
        at: Option<&Scope>,
        action: &Action,
    ) -> impl Future<Output = Result<Option<Prior>, EffectError>> + Send {
        let _ = (at, action);
        async { Ok(None) }
    }

    /// `prior` is what [`Self::before`] read, already in the ledger.
    fn perform(
        &self,
        at: Option<&Scope>,
        action: &Action,
        prior: Option<&Prior>,
    ) -> impl Future<Output = Result<Option<String>, EffectError>> + Send;

    /// The client this set would need to carry out the action of this name
    /// ([`Action::name`]) and does not have; `None` when it can. Asked at cold start for
    /// every action the function can plan ([`crate::pipeline::wired`]), so a client
    /// left out of a function's wiring stops the function before its first event, not
    /// its first step at 3 a.m. A name that is no action is lacking too.
    fn lacks(&self, action: &str) -> Option<&'static str>;
}

/// The audit row written before a step runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LedgerEntry {
    pub idempotency_key: String,
    pub action: &'static str,
    pub function: String,
    pub reason: String,
    pub event_id: Option<String>,
    pub classifier_source: Option<String>,
    pub user: Option<String>,
    pub key_id: Option<String>,
    /// The account the step acts in, when it acts in one.
    pub account: Option<String>,
    pub at: Timestamp,
    /// Held as well, when the step names a window.
    pub window: Option<Window>,
    /// Whether doing the step twice is harmless ([`Action::repeat_is_harmless`]). A step
    /// that is not (an email, a notice) is never taken over from a claimant that ended
    /// without recording how the step went.
    pub repeatable: bool,
    /// What the write replaces, known at planning ([`Step::replaces`]): the claim keeps
    /// it in the row (an earlier attempt's snapshot, if any, is kept instead).
    pub prior: Option<Prior>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This invocation owns the step: do it.
    Won,
    /// Done before (or held by a window): do nothing.
    Taken,
    /// Settled before without being done: the service rejected it, or an earlier attempt
    /// ended without saying how (`unknown`). Not repeated, and reported `rejected`, never
    /// `duplicate`: nothing may count it as done (a finding resolved on it, least of all).
    SettledUndone,
    /// Claimed by another invocation that has not settled it, and its lease still runs:
    /// not done, as far as anyone knows. The step is reported `in_progress` and the
    /// invocation fails, so Lambda's retry (after the lease) decides.
    InProgress,
    /// This step is new, but another step holds its window: do nothing, and remember
    /// this step as suppressed so its redelivery stays quiet too. The window counts it.
    Held,
    /// Won, taking over a window that had kept this many steps quiet since the step
    /// that held it: the notice says so (a canary's burst, counted in its next alert).
    WonAfterHeld(u32),
    /// Won, and an earlier attempt of this step failed and released it: this one retries
    /// it. Reported on the step ([`StepReport::retried`]), so a finding that told of the
    /// failure can say it is resolved.
    Retry,
    /// An earlier claim of a step that must not happen twice ended without recording
    /// its outcome (its settle failed, or its invocation died): it may have happened.
    /// The ledger marks it `unknown`; it is reported failed once and never repeated.
    Unsettled,
}

/// Exactly-once in front of every step: a conditional write that only one delivery of an
/// event can win. A failed step releases its claim (and its window) so a retry can act.
pub trait Ledger {
    fn claim(&self, entry: &LedgerEntry)
        -> impl Future<Output = Result<Claim, EffectError>> + Send;
    fn settle(
        &self,
        entry: &LedgerEntry,
        outcome: &Outcome,
    ) -> impl Future<Output = Result<(), EffectError>> + Send;
    /// Keeps, in the claimed step's row, the state its write is about to replace.
    fn record_prior(
        &self,
        entry: &LedgerEntry,
        prior: &Prior,
    ) -> impl Future<Output = Result<(), EffectError>> + Send;
}

/// How long one SDK operation of a long run may take, all its attempts together
/// (`keyguard_aws::bounded`, set by age-rotation and secrets-rotator).
pub const CALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(8);

/// Time a step may need once begun: its claim, its call and its settle, each within
/// [`CALL_LIMIT`], with room to spare. A step is not begun with less than this left
/// before the deadline.
pub const STEP_MARGIN: std::time::Duration = std::time::Duration::from_secs(30);

/// Walks the plan in order. Dry run (or a plan-only decision) reports every step as
/// planned and touches nothing, not even the ledger.
pub async fn execute<E: Effects + Sync, L: Ledger + Sync>(
    plan: Plan,
    effects: &E,
    ledger: &L,
    dry_run: bool,
    now: Timestamp,
) -> Report {
    execute_with(plan, effects, ledger, dry_run, now, None, 1).await
}

/// [`execute`], beginning no step once less than [`STEP_MARGIN`] is left before
/// `deadline` (the invocation's end): a step cut off mid-way would stay claimed and, if
/// it must not repeat (an email), be reported unknown for good. A step not begun is
/// `failed` with code `DeadlineNear` and claims nothing, so the run fails and Lambda's
/// retry (or the next run) takes it. Up to `concurrency` chains of steps are under way
/// at once. A chain is a step and every step that waits for it (`after`), transitively:
/// a person's email and the actions on their keys. Its steps stay in order; chains are
/// independent (different people), so running them side by side changes no outcome, and
/// the ledger claims each step as before. With 1, the plan is walked in its own order.
pub async fn execute_with<E: Effects + Sync, L: Ledger + Sync>(
    plan: Plan,
    effects: &E,
    ledger: &L,
    dry_run: bool,
    now: Timestamp,
    deadline: Option<std::time::Instant>,
    concurrency: usize,
) -> Report {
    use futures::stream::StreamExt;
    let dry_run = dry_run || matches!(plan.decision, Decision::PlanOnly { .. });
    let run = Run {
        plan: &plan,
        effects,
        ledger,
        dry_run,
        now,
        deadline,
    };
    let reports = if concurrency <= 1 {
        run.chain((0..plan.steps.len()).collect()).await
    } else {
        let mut done: Vec<(usize, StepReport)> = futures::stream::iter(chains(&plan.steps))
            .map(|chain| run.chain(chain))
            .buffer_unordered(concurrency)
            .flat_map(futures::stream::iter)
            .collect()
            .await;
        done.sort_by_key(|(i, _)| *i);
        done
    };
    let reports = reports.into_iter().map(|(_, r)| r).collect();
    Report::new(plan, dry_run, reports)
}

/// The plan's steps in chains (indexes, in plan order within each): a step joins the
/// chain of the step it waits for; any other starts one of its own.
fn chains(steps: &[Step]) -> Vec<Vec<usize>> {
    let mut chain_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut chains: Vec<Vec<usize>> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let chain = match step.after.as_deref().and_then(|k| chain_of.get(k)) {
            Some(&c) => c,
            None => {
                chains.push(Vec::new());
                chains.len() - 1
            }
        };
        chains[chain].push(i);
        chain_of.insert(&step.idempotency_key, chain);
    }
    chains
}

/// One application of a plan: what every step of it shares.
struct Run<'a, E, L> {
    plan: &'a Plan,
    effects: &'a E,
    ledger: &'a L,
    dry_run: bool,
    now: Timestamp,
    deadline: Option<std::time::Instant>,
}

impl<E: Effects + Sync, L: Ledger + Sync> Run<'_, E, L> {
    /// The steps at these indexes, one after another, each with its report.
    async fn chain(&self, chain: Vec<usize>) -> Vec<(usize, StepReport)> {
        let mut reports: Vec<(usize, StepReport)> = Vec::with_capacity(chain.len());
        for i in chain {
            let step = &self.plan.steps[i];
            let (outcome, retried) = self.outcome(step, &reports).await;
            reports.push((
                i,
                StepReport {
                    step: step.clone(),
                    outcome,
                    retried,
                },
            ));
        }
        reports
    }

    /// How one step ends, given the reports of the steps before it that it may wait for,
    /// and whether it retried an attempt that had failed.
    async fn outcome(&self, step: &Step, earlier: &[(usize, StepReport)]) -> (Outcome, bool) {
        let out_of_time = self
            .deadline
            .is_some_and(|d| d.saturating_duration_since(std::time::Instant::now()) < STEP_MARGIN);
        let awaited = step.after.as_deref().and_then(|first| {
            earlier
                .iter()
                .map(|(_, r)| r)
                .find(|r| r.step.idempotency_key == first)
        });
        let waiting = step.after.as_deref().filter(|_| {
            !awaited.is_some_and(|r| {
                matches!(
                    r.outcome,
                    Outcome::Applied { .. } | Outcome::Duplicate | Outcome::Rejected { .. }
                )
            })
        });
        // What it waits for found nothing to act on (a key deleted meanwhile): it is not
        // taken, and, like that step, it is not a failure to retry.
        let gone = awaited.filter(|r| matches!(r.outcome, Outcome::NotFound { .. }));
        let outcome = if self.dry_run {
            Outcome::Planned
        } else if out_of_time {
            Outcome::Failed {
                code: Some("DeadlineNear".into()),
                message: format!(
                    "not taken: less than {}s of the invocation was left; the retry or the next run takes it",
                    STEP_MARGIN.as_secs()
                ),
            }
        } else if let Some(first) = gone {
            Outcome::NotFound {
                message: format!(
                    "not taken: {} found nothing to act on",
                    first.step.idempotency_key
                ),
            }
        } else if let Some(first) = waiting {
            Outcome::Failed {
                code: Some("Waiting".into()),
                message: format!("not taken: it waits for {first}, which did not go through"),
            }
        } else {
            return run_step(self.plan, step, self.effects, self.ledger, self.now).await;
        };
        (outcome, false)
    }
}

async fn run_step<E: Effects + Sync, L: Ledger + Sync>(
    plan: &Plan,
    step: &Step,
    effects: &E,
    ledger: &L,
    now: Timestamp,
) -> (Outcome, bool) {
    let entry = LedgerEntry {
        idempotency_key: step.idempotency_key.clone(),
        action: step.action.name(),
        function: plan.function.clone(),
        reason: step.reason.clone(),
        event_id: plan.event_id.clone(),
        classifier_source: plan.classifier_source.clone(),
        user: step.action.user().map(|u| u.to_string()),
        key_id: step.action.key_id().map(|k| k.to_string()),
        account: step.scope.as_ref().map(|s| s.account.to_string()),
        at: now,
        window: step.window.clone(),
        repeatable: step.action.repeat_is_harmless(),
        prior: step.replaces.clone(),
    };
    let claim = ledger.claim(&entry).await;
    let retried = matches!(claim, Ok(Claim::Retry));
    // Boxed: the functions' futures are deep enough already.
    let outcome = Box::pin(claimed(step, effects, ledger, &entry, claim)).await;
    (outcome, retried)
}

/// How a step ends once its claim has answered.
async fn claimed<E: Effects + Sync, L: Ledger + Sync>(
    step: &Step,
    effects: &E,
    ledger: &L,
    entry: &LedgerEntry,
    claim: Result<Claim, EffectError>,
) -> Outcome {
    let mut held_off = 0;
    let retry = matches!(claim, Ok(Claim::Retry));
    let ledger_down = match claim {
        Ok(Claim::Won | Claim::Retry) => None,
        Ok(Claim::WonAfterHeld(n)) => {
            held_off = n;
            None
        }
        Ok(Claim::Taken) => return Outcome::Duplicate,
        Ok(Claim::SettledUndone) => {
            return Outcome::Rejected {
                code: Some("SettledUndone".into()),
                message: "an earlier attempt was rejected by the service or ended without \
                          saying how; it is not repeated, and it is not done"
                    .into(),
            }
        }
        Ok(Claim::InProgress) => {
            return Outcome::InProgress {
                message: "another invocation claimed this step and has not recorded how it \
                          ended; its lease still runs, so it is not done yet as far as keyguard \
                          knows: this invocation fails and Lambda's retry decides"
                    .into(),
            }
        }
        Ok(Claim::Held) => {
            return Outcome::Suppressed {
                window: step
                    .window
                    .as_ref()
                    .map(|w| w.key.clone())
                    .unwrap_or_default(),
            }
        }
        Ok(Claim::Unsettled) => {
            return Outcome::Failed {
                code: Some("OutcomeUnknown".into()),
                message: "an earlier attempt claimed this step and never recorded how it \
                          ended; it may have happened, and doing it twice is not harmless, so \
                          it is not repeated"
                    .into(),
            }
        }
        Err(e) if step.action.repeat_is_harmless() => Some(e),
        Err(e) => {
            return Outcome::Failed {
                code: e.code,
                message: format!("ledger unavailable, step not taken: {}", e.message),
            }
        }
    };
    let counted = step
        .action
        .with_held_off(held_off)
        .or_else(|| retry.then(|| step.action.on_retry()).flatten());
    let action = counted.as_ref().unwrap_or(&step.action);
    let outcome = match snapshot(step, effects, ledger, entry, ledger_down.is_some()).await {
        Err(outcome) => outcome,
        Ok(prior) => applied(
            effects
                .perform(step.scope.as_ref(), action, prior.as_ref())
                .await,
            &ledger_down,
        ),
    };
    if ledger_down.is_none() {
        if let Err(e) = ledger.settle(entry, &outcome).await {
            // The step itself happened; a settle failure only leaves the row "claimed",
            // which the ledger's lease lets a later retry reclaim.
            return match outcome {
                Outcome::Applied { detail } => Outcome::Applied {
                    detail: Some(format!(
                        "{}ledger row not settled: {e}",
                        detail.map(|d| d + "; ").unwrap_or_default()
                    )),
                },
                other => other,
            };
        }
    }
    outcome
}

/// Reads what the step's write replaces and keeps it in its ledger row first: a write
/// whose prior state could not be kept is not made (it could not be undone). With the
/// ledger down (a repeatable step applied anyway) there is nowhere to keep it. A step
/// that already says what it replaces ([`Step::replaces`]) was kept by its claim: no
/// read and no ledger call stand between the claim and the write.
async fn snapshot<E: Effects + Sync, L: Ledger + Sync>(
    step: &Step,
    effects: &E,
    ledger: &L,
    entry: &LedgerEntry,
    ledger_down: bool,
) -> Result<Option<Prior>, Outcome> {
    if let Some(known) = &step.replaces {
        return Ok(Some(known.clone()));
    }
    let prior = match effects.before(step.scope.as_ref(), &step.action).await {
        Ok(p) => p,
        // Not listed (IAM's listing can lag a new key): the write itself says whether the
        // key is there, as it did before snapshots; nothing is kept, so undo refuses it.
        Err(e) if e.kind == ErrorKind::NotFound => None,
        Err(e) => {
            let message = format!(
                "not taken: reading the state it would replace: {}",
                e.message
            );
            return Err(applied(Err(EffectError { message, ..e }), &None));
        }
    };
    if let (Some(p), false) = (&prior, ledger_down) {
        ledger
            .record_prior(entry, p)
            .await
            .map_err(|e| Outcome::Failed {
                code: e.code,
                message: format!(
                    "not taken: the state it replaces could not be kept in the ledger: {}",
                    e.message
                ),
            })?;
    }
    Ok(prior)
}

/// The outcome of an effect's answer.
fn applied(
    result: Result<Option<String>, EffectError>,
    ledger_down: &Option<EffectError>,
) -> Outcome {
    match result {
        Ok(detail) => Outcome::Applied {
            detail: match (&ledger_down, detail) {
                (Some(e), d) => Some(format!(
                    "{}ledger unavailable, applied anyway because repeating it is harmless: {e}",
                    d.map(|d| d + "; ").unwrap_or_default()
                )),
                (None, d) => d,
            },
        },
        Err(e) if e.kind == ErrorKind::NotFound => Outcome::NotFound {
            message: e.to_string(),
        },
        Err(e) if e.kind == ErrorKind::Rejected => Outcome::Rejected {
            code: e.code,
            message: e.message,
        },
        Err(e) => Outcome::Failed {
            code: e.code,
            message: e.message,
        },
    }
}

pub mod memory;

#[cfg(test)]
mod tests;
