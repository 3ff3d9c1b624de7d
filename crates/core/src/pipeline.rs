//! The one flow every function and `keyguard plan` share: an event in, a plan out, the
//! plan applied through the ledger.
//!
//! parse → [`Policy::target`] (what the event names, or a finished plan: refused,
//! ignored, invalid) → [`Source::lookup`] (the facts: AWS in a function, a facts file in
//! `keyguard plan`) → [`Policy::decide`] → [`apply`]. A function is a policy and a
//! source; `keyguard plan` is the same policy over another source, so it plans exactly
//! what the function would (the plan-equivalence test runs every sample through both).

use crate::effects::{execute_with, EffectError, Effects, Ledger};
use crate::events::Trigger;
use crate::plan::{Decision, Plan, Step};
use crate::report::{Report, StepReport};
use crate::time::Timestamp;
use std::future::Future;

/// One function's decisions, pure: no call, no clock but `now`.
pub trait Policy: Sync {
    /// The function's name, as in every plan and log line.
    const FUNCTION: &'static str;
    /// What was checked at the door with a call the policy cannot make (a hand-off's
    /// MAC, by KMS); `()` for the functions that need none. Its default is "nothing
    /// checked", which a policy must treat as not passed (containment refuses a
    /// hand-off whose MAC nobody checked).
    type Door: Send + Sync + Default;
    /// What the event names, once admitted: what there is to read.
    type Target: Sync;
    /// What was read about it.
    type Facts;

    /// Every action this policy can plan, by [`Action::name`](crate::Action::name): what
    /// the function's effects must be able to carry out ([`wired`], at cold start), and
    /// what its role must grant (`crates/core/tests/permissions.rs`).
    const ACTIONS: &'static [&'static str];

    /// What the event asks of this function. `Err` is a finished plan: nothing to read.
    fn target(
        &self,
        trigger: &Trigger,
        event_ref: &str,
        door: &Self::Door,
    ) -> Result<Self::Target, Box<Plan>>;

    fn decide(&self, target: &Self::Target, facts: &Self::Facts, now: Timestamp) -> Plan;

    /// The facts could not be read. By default the run fails, naming the read, so Lambda
    /// retries it; a policy that can still do something safe says so here.
    fn unreadable(
        &self,
        target: &Self::Target,
        error: &EffectError,
        event_ref: &str,
        now: Timestamp,
    ) -> Plan {
        let _ = (target, now);
        failed::<Self>(format!("reading facts: {error}"), event_ref)
    }

    /// A step to be written from how the plan's others ended (age-rotation's summary):
    /// taken out before they run, and [`Policy::rewrite`] after. The plan still shows
    /// it, so `keyguard plan` and a dry run see one.
    fn held_back(&self, plan: &mut Plan) -> Option<Step> {
        let _ = plan;
        None
    }

    /// The held-back step, rewritten from the others' reports.
    fn rewrite(&self, held: Step, done: &[StepReport]) -> Step {
        let _ = done;
        held
    }
}

/// An action a function can plan that its effects cannot carry out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{function} can plan {action}, but was built without {client} to carry it out")]
pub struct Unwired {
    pub function: &'static str,
    pub action: &'static str,
    pub client: &'static str,
}

/// Whether `effects` can carry out every action `P` can plan, and `also` (the run's
/// Security Hub finding, `import_finding`, when the function reports one). Each
/// function asks at cold start.
pub fn wired<P: Policy, E: Effects>(effects: &E, also: &[&'static str]) -> Result<(), Unwired> {
    for action in P::ACTIONS.iter().chain(also) {
        if let Some(client) = effects.lacks(action) {
            return Err(Unwired {
                function: P::FUNCTION,
                action,
                client,
            });
        }
    }
    Ok(())
}

/// The plan of a run that could not find out what to do.
pub fn failed<P: Policy + ?Sized>(why: String, event_ref: &str) -> Plan {
    Plan::for_event(P::FUNCTION, Decision::Failed { why }, event_ref)
}

/// Where a policy's facts come from.
pub trait Source<P: Policy>: Sync {
    /// The door's checks that need a call. `Err`: the check could not be made (the run
    /// fails and is retried), never "passed". By default nothing is checked.
    fn door(
        &self,
        policy: &P,
        trigger: &Trigger,
        now: Timestamp,
    ) -> impl Future<Output = Result<P::Door, String>> + Send {
        let _ = (policy, trigger, now);
        std::future::ready(Ok(P::Door::default()))
    }

    fn lookup(
        &self,
        policy: &P,
        target: &P::Target,
        now: Timestamp,
    ) -> impl Future<Output = Result<P::Facts, EffectError>> + Send;
}

/// The plan for one parsed event.
pub async fn plan<P: Policy, S: Source<P>>(
    policy: &P,
    source: &S,
    trigger: &Trigger,
    event_ref: &str,
    now: Timestamp,
) -> Plan {
    let mut planned = plan_unobserved(policy, source, trigger, event_ref, now).await;
    planned.observed_at = trigger.observed_at();
    planned
}

async fn plan_unobserved<P: Policy, S: Source<P>>(
    policy: &P,
    source: &S,
    trigger: &Trigger,
    event_ref: &str,
    now: Timestamp,
) -> Plan {
    let door = match source.door(policy, trigger, now).await {
        Ok(door) => door,
        Err(why) => return failed::<P>(why, event_ref),
    };
    let target = match policy.target(trigger, event_ref, &door) {
        Ok(target) => target,
        Err(plan) => return *plan,
    };
    match source.lookup(policy, &target, now).await {
        Ok(facts) => policy.decide(&target, &facts, now),
        Err(e) => policy.unreadable(&target, &e, event_ref, now),
    }
}

/// The plan for one event as it arrived: `Err` names why it is not one.
pub async fn plan_raw<P: Policy, S: Source<P>>(
    policy: &P,
    source: &S,
    raw: &serde_json::Value,
    now: Timestamp,
) -> Result<Plan, crate::ParseError> {
    let trigger = crate::parse_value(raw)?;
    let event_ref = crate::event_ref(&trigger, raw);
    Ok(plan(policy, source, &trigger, &event_ref, now).await)
}

/// How plans are applied: through these effects and this ledger, and (for a long run)
/// beginning no step too close to the invocation's end.
pub struct Executor<'a, E, L> {
    pub effects: &'a E,
    pub ledger: &'a L,
    pub dry_run: bool,
    pub deadline: Option<std::time::Instant>,
    /// Independent chains of steps under way at once ([`crate::effects::execute_with`]);
    /// 1 walks the plan in order.
    pub concurrency: usize,
    /// Where each run's Security Hub finding goes (`SECURITY_HUB=true`), if anywhere.
    pub findings: Option<&'a crate::security_hub::Findings>,
}

impl<'a, E, L> Executor<'a, E, L> {
    /// Steps applied through `effects` and `ledger`, with no deadline.
    pub fn new(effects: &'a E, ledger: &'a L, dry_run: bool) -> Self {
        Self {
            effects,
            ledger,
            dry_run,
            deadline: None,
            concurrency: 1,
            findings: None,
        }
    }

    /// The same, each run reported to Security Hub as one finding when it is one
    /// ([`crate::security_hub`]).
    pub fn reporting(self, findings: Option<&'a crate::security_hub::Findings>) -> Self {
        Self { findings, ..self }
    }

    /// The same, with up to `n` independent chains of steps (people) under way at once.
    pub fn concurrently(self, n: usize) -> Self {
        Self {
            concurrency: n.max(1),
            ..self
        }
    }

    /// The same, beginning no step once the invocation's end is near (a long run).
    pub fn until(self, deadline: Option<std::time::Instant>) -> Self {
        Self { deadline, ..self }
    }
}

impl<E: Effects + Sync, L: Ledger + Sync> Executor<'_, E, L> {
    /// Every step in order, then the held-back one rewritten from how they ended; the
    /// users the facts could not read fail the run, named.
    pub async fn apply<P: Policy>(&self, policy: &P, mut plan: Plan, now: Timestamp) -> Report {
        let (effects, ledger, dry_run, deadline, concurrency) = (
            self.effects,
            self.ledger,
            self.dry_run,
            self.deadline,
            self.concurrency,
        );
        let held = policy.held_back(&mut plan);
        let unread = std::mem::take(&mut plan.unread);
        let unread_also = plan.unread_also.take();
        let mut tail = plan.without_steps();
        let report = execute_with(plan, effects, ledger, dry_run, now, deadline, concurrency).await;
        let report = match held {
            None => report,
            Some(held) => {
                tail.steps = vec![policy.rewrite(held, &report.steps)];
                let told = execute_with(tail, effects, ledger, dry_run, now, deadline, 1).await;
                report.followed_by(told)
            }
        };
        let report = crate::unread::with_unread(report, &unread);
        match unread_also {
            Some(why) => report.failed_also(why),
            None => report,
        }
    }

    /// The invocation's report with its Security Hub finding imported last, when it is
    /// reporting ([`Self::reporting`]) and the run is one ([`crate::security_hub`]). Called
    /// once per invocation, on its final report (after a sweep, an incident's timeline,
    /// every failure added), so the finding says how everything ended.
    pub async fn with_finding(&self, report: Report, now: Timestamp) -> Report {
        let Some(step) = self
            .findings
            .and_then(|f| crate::security_hub::step(&report, f, now))
        else {
            return report;
        };
        // Recorded as the run's own step: its event and classifier in the ledger row.
        let mut last = Plan::new(&report.function, Decision::Act);
        last.event_id = report.event_id.clone();
        last.classifier_source = report.classifier_source.clone();
        last.steps = vec![step];
        // Boxed: the functions' futures are deep enough already.
        let told = Box::pin(execute_with(
            last,
            self.effects,
            self.ledger,
            self.dry_run,
            now,
            self.deadline,
            1,
        ))
        .await;
        report.followed_by(told)
    }

    /// One invocation: parse, plan, apply. Input that is not an event is 400, nothing
    /// done.
    pub async fn run<P: Policy, S: Source<P>>(
        &self,
        policy: &P,
        source: &S,
        raw: &serde_json::Value,
        now: Timestamp,
    ) -> Report {
        match plan_raw(policy, source, raw, now).await {
            Ok(plan) => self.apply(policy, plan, now).await,
            Err(e) => Report::invalid(P::FUNCTION, self.dry_run, e),
        }
    }
}
