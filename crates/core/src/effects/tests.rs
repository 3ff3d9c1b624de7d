use super::*;
use crate::key::{AccessKeyId, UserName};
use crate::notice::{Notice, Severity};
use crate::plan::{Decision, Window};
use std::sync::Mutex;

impl FakeIam {
    /// Every call fails with an error the SDK would retry, past its retries.
    fn failing(code: &'static str) -> Self {
        Self {
            fail_with: Some(EffectError::new(ErrorKind::Other, Some(code), "it failed")),
            ..Default::default()
        }
    }
}

#[derive(Default)]
struct FakeIam {
    calls: Mutex<Vec<String>>,
    fail_with: Option<EffectError>,
    /// Fails only this action, when set.
    fail_only: Option<&'static str>,
    /// What every write replaces, when set; `Err` when reading it fails.
    prior: Option<Result<Prior, EffectError>>,
    /// The prior each write was handed.
    handed: Mutex<Vec<Option<Prior>>>,
    /// Every action performed, as it was handed over.
    performed: Mutex<Vec<Action>>,
}

impl Effects for FakeIam {
    fn lacks(&self, _: &str) -> Option<&'static str> {
        None
    }

    async fn before(
        &self,
        _: Option<&Scope>,
        action: &Action,
    ) -> Result<Option<Prior>, EffectError> {
        if self.prior.is_some() {
            self.calls
                .lock()
                .unwrap()
                .push(format!("read {}", action.name()));
        }
        self.prior.clone().transpose()
    }

    async fn perform(
        &self,
        _: Option<&Scope>,
        action: &Action,
        prior: Option<&Prior>,
    ) -> Result<Option<String>, EffectError> {
        self.handed.lock().unwrap().push(prior.cloned());
        self.performed.lock().unwrap().push(action.clone());
        self.calls.lock().unwrap().push(action.name().to_owned());
        match &self.fail_with {
            Some(e) if self.fail_only.is_none_or(|only| only == action.name()) => Err(e.clone()),
            _ => Ok(Some("done".into())),
        }
    }
}

/// The in-memory ledger, which follows the DynamoDB ledger's rules (`super::memory`,
/// proven against it by `crates/aws/tests/ledger.rs`), or, `down`, one whose every claim
/// fails as an unreachable DynamoDB would.
struct MemLedger {
    inner: super::memory::MemoryLedger,
    down: bool,
    /// Claims and settles, but cannot keep a step's prior state.
    priors_refused: bool,
}

impl Default for MemLedger {
    fn default() -> Self {
        Self {
            inner: super::memory::MemoryLedger::new(150),
            down: false,
            priors_refused: false,
        }
    }
}

impl MemLedger {
    fn state(&self, key: &str) -> Option<String> {
        self.inner.row(key).map(|r| r.status)
    }
}

impl Ledger for MemLedger {
    async fn claim(&self, entry: &LedgerEntry) -> Result<Claim, EffectError> {
        if self.down {
            return Err(EffectError::new(
                ErrorKind::Other,
                Some("ServiceUnavailable"),
                "down",
            ));
        }
        self.inner.claim(entry).await
    }
    async fn settle(&self, entry: &LedgerEntry, outcome: &Outcome) -> Result<(), EffectError> {
        self.inner.settle(entry, outcome).await
    }
    async fn record_prior(&self, entry: &LedgerEntry, prior: &Prior) -> Result<(), EffectError> {
        if self.priors_refused {
            return Err(EffectError::new(
                ErrorKind::Other,
                Some("ProvisionedThroughputExceededException"),
                "throttled",
            ));
        }
        self.inner.record_prior(entry, prior).await
    }
}

fn plan_with(action: Action) -> Plan {
    let mut plan = Plan::new("deactivate-key", Decision::Act);
    plan.event_id = Some("ev-1".into());
    plan.steps.push(Step {
        replaces: None,
        after: None,
        scope: None,
        action,
        reason: "test".into(),
        idempotency_key: "k-1".into(),
        window: None,
    });
    plan
}

/// `first` as step `k-1`, then `second` as `k-2`, waiting for the first when `waits`.
fn two_steps(first: Action, second: Action, waits: bool) -> Plan {
    let mut plan = plan_with(first);
    let mut next = plan.steps[0].clone();
    next.action = second;
    next.idempotency_key = "k-2".into();
    next.after = waits.then(|| "k-1".into());
    plan.steps.push(next);
    plan
}

fn deactivate() -> Action {
    Action::DeactivateKey {
        user: UserName::parse("bob").unwrap(),
        key_id: AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").unwrap(),
    }
}

fn notify() -> Action {
    Action::Notify {
        notice: Notice::new(Severity::High, "x"),
    }
}

fn run(plan: Plan, iam: &FakeIam, ledger: &MemLedger, dry_run: bool) -> Report {
    futures::executor::block_on(execute(plan, iam, ledger, dry_run, chrono::Utc::now()))
}

fn at(minutes: i64) -> Timestamp {
    crate::time::parse_time("2026-11-23T10:14:59Z").unwrap() + chrono::Duration::minutes(minutes)
}

/// A step for `event` holding the window `w` for 15 minutes from `minutes`.
fn windowed(event: &str, minutes: i64) -> Plan {
    let mut plan = plan_with(notify());
    plan.steps[0].idempotency_key = format!("incident:{event}");
    plan.steps[0].window = Some(Window {
        key: "incident:user/alice".into(),
        until: at(minutes + 15),
    });
    plan
}

fn run_at(plan: Plan, iam: &FakeIam, ledger: &MemLedger, minutes: i64) -> Outcome {
    let r = futures::executor::block_on(execute(plan, iam, ledger, false, at(minutes)));
    r.steps[0].outcome.clone()
}

#[test]
fn a_window_suppresses_other_events_until_it_ends() {
    let (iam, ledger) = (FakeIam::default(), MemLedger::default());
    assert!(matches!(
        run_at(windowed("a", 0), &iam, &ledger, 0),
        Outcome::Applied { .. }
    ));
    // One second later, across the quarter hour the seed rounds to: suppressed.
    let held = run_at(windowed("b", 0), &iam, &ledger, 0);
    assert_eq!(
        held,
        Outcome::Suppressed {
            window: "incident:user/alice".into()
        }
    );
    assert_eq!(ledger.state("incident:b").as_deref(), Some("suppressed"));
    // The same event again, even after the window: a duplicate, never a second action.
    assert_eq!(
        run_at(windowed("a", 20), &iam, &ledger, 20),
        Outcome::Duplicate
    );
    assert_eq!(
        run_at(windowed("b", 20), &iam, &ledger, 20),
        Outcome::Duplicate
    );
    // A new event after the window acts.
    assert!(matches!(
        run_at(windowed("c", 16), &iam, &ledger, 16),
        Outcome::Applied { .. }
    ));
    assert_eq!(iam.calls.lock().unwrap().len(), 2);
}

#[test]
fn a_failed_step_releases_its_window() {
    let failing = FakeIam::failing("InternalServerException");
    let ledger = MemLedger::default();
    assert!(matches!(
        run_at(windowed("a", 0), &failing, &ledger, 0),
        Outcome::Failed { .. }
    ));
    let ok = FakeIam::default();
    assert!(matches!(
        run_at(windowed("b", 1), &ok, &ledger, 1),
        Outcome::Applied { .. }
    ));
}

#[test]
fn plan_only_touches_nothing_and_says_202() {
    let (iam, ledger) = (FakeIam::default(), MemLedger::default());
    let mut plan = plan_with(deactivate());
    plan.decision = Decision::PlanOnly {
        why: "sample".into(),
    };
    let r = run(plan, &iam, &ledger, false);
    assert_eq!(r.status_code, 202);
    assert!(r.dry_run);
    assert_eq!(r.steps[0].outcome, Outcome::Planned);
    assert!(iam.calls.lock().unwrap().is_empty());
    assert!(ledger.inner.is_empty());
}

#[test]
fn applies_once_then_reports_duplicate() {
    let (iam, ledger) = (FakeIam::default(), MemLedger::default());
    let first = run(plan_with(deactivate()), &iam, &ledger, false);
    assert_eq!(first.status_code, 200);
    assert!(matches!(first.steps[0].outcome, Outcome::Applied { .. }));
    let second = run(plan_with(deactivate()), &iam, &ledger, false);
    assert_eq!(second.steps[0].outcome, Outcome::Duplicate);
    assert_eq!(iam.calls.lock().unwrap().len(), 1);
}

#[test]
fn dry_run_touches_nothing() {
    let (iam, ledger) = (FakeIam::default(), MemLedger::default());
    let r = run(plan_with(deactivate()), &iam, &ledger, true);
    assert_eq!(r.status_code, 202);
    assert_eq!(r.steps[0].outcome, Outcome::Planned);
    assert!(iam.calls.lock().unwrap().is_empty());
    assert!(ledger.inner.is_empty());
}

#[test]
fn a_failed_step_can_be_retried() {
    let failing = FakeIam::failing("Throttling");
    let ledger = MemLedger::default();
    let r = run(plan_with(deactivate()), &failing, &ledger, false);
    assert_eq!(r.status_code, 500);
    assert!(
        matches!(&r.steps[0].outcome, Outcome::Failed { code: Some(c), .. } if c == "Throttling")
    );
    assert!(!r.steps[0].retried);
    let ok = FakeIam::default();
    let r = run(plan_with(deactivate()), &ok, &ledger, false);
    assert_eq!(r.status_code, 200);
    assert_eq!(ok.calls.lock().unwrap().len(), 1);
    // The report says the step was retried after its failure, for the finding to tell.
    assert!(r.steps[0].retried);
    // A redelivery after that is a duplicate, not a retry.
    let r = run(plan_with(deactivate()), &ok, &ledger, false);
    assert_eq!(r.steps[0].outcome, Outcome::Duplicate);
    assert!(!r.steps[0].retried);
}

/// A clean run's import that failed is retried as one that may resolve the finding: the
/// failure of the import hid from the retry which steps its earlier run had failed at.
#[test]
fn a_clean_runs_import_retried_after_a_failure_may_resolve_its_finding() {
    let cfg = crate::security_hub::Findings::new(
        crate::scope::AccountId::parse("111111111111").unwrap(),
        "eu-west-1",
        "aws",
    );
    let told = StepReport {
        step: plan_with(notify()).steps.remove(0),
        outcome: Outcome::Applied { detail: None },
        retried: false,
    };
    let report = Report::new(
        Plan::for_event("deactivate-key", Decision::AlreadyContained, "ev-1"),
        false,
        vec![told],
    );
    let import = crate::security_hub::step(&report, &cfg, chrono::Utc::now()).unwrap();
    let resolves = |a: &Action| matches!(a, Action::ImportFinding { resolve: true, .. });
    assert!(!resolves(&import.action), "planned: nothing was retried");
    let plan = || {
        let mut p = plan_with(import.action.clone());
        p.steps[0]
            .idempotency_key
            .clone_from(&import.idempotency_key);
        p
    };
    let failing = FakeIam::failing("Throttling");
    let ledger = MemLedger::default();
    run(plan(), &failing, &ledger, false);
    assert!(!resolves(&failing.performed.lock().unwrap()[0]));
    let ok = FakeIam::default();
    let r = run(plan(), &ok, &ledger, false);
    assert!(r.steps[0].retried);
    assert!(
        resolves(&ok.performed.lock().unwrap()[0]),
        "the retry may resolve"
    );
}

#[test]
fn not_found_while_acting_is_404() {
    let iam = FakeIam {
        fail_with: Some(EffectError::new(
            ErrorKind::NotFound,
            Some("NoSuchEntity"),
            "gone",
        )),
        ..Default::default()
    };
    let r = run(plan_with(deactivate()), &iam, &MemLedger::default(), false);
    assert_eq!(r.status_code, 404);
}

#[test]
fn ledger_down_contains_anyway_but_does_not_notify() {
    let ledger = MemLedger {
        down: true,
        ..Default::default()
    };
    let iam = FakeIam::default();
    let r = run(plan_with(deactivate()), &iam, &ledger, false);
    assert!(
        matches!(&r.steps[0].outcome, Outcome::Applied { detail: Some(d) } if d.contains("ledger unavailable"))
    );
    let r = run(plan_with(notify()), &iam, &ledger, false);
    assert!(matches!(r.steps[0].outcome, Outcome::Failed { .. }));
    assert_eq!(*iam.calls.lock().unwrap(), vec!["deactivate_key"]);
}

#[test]
fn report_json_is_stable_snake_case() {
    let r = run(
        plan_with(deactivate()),
        &FakeIam::default(),
        &MemLedger::default(),
        false,
    );
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["statusCode"], 200);
    assert_eq!(v["decision"], "act");
    assert_eq!(v["dry_run"], false);
    assert_eq!(v["steps"][0]["action"]["type"], "deactivate_key");
    assert_eq!(v["steps"][0]["action"]["key_id"], "AKIAIOSFODNN7EXAMPLE");
    assert_eq!(v["steps"][0]["outcome"], "applied");
    assert_eq!(v["steps"][0]["idempotency_key"], "k-1");
}

#[test]
fn names_match_the_json_tags() {
    let why = || "w".to_owned();
    for d in [
        Decision::Act,
        Decision::AlreadyContained,
        Decision::PlanOnly { why: why() },
        Decision::NothingToDo { why: why() },
        Decision::Refused { why: why() },
        Decision::NotContainable { why: why() },
        Decision::NotFound { what: why() },
        Decision::Ignored { why: why() },
        Decision::Invalid { why: why() },
        Decision::Failed { why: why() },
    ] {
        assert_eq!(serde_json::to_value(&d).unwrap()["decision"], d.name());
    }
    for o in [
        Outcome::Applied { detail: None },
        Outcome::Planned,
        Outcome::Duplicate,
        Outcome::Suppressed { window: why() },
        Outcome::NotFound { message: why() },
        Outcome::InProgress { message: why() },
        Outcome::Rejected {
            code: None,
            message: why(),
        },
        Outcome::Failed {
            code: None,
            message: why(),
        },
    ] {
        assert_eq!(serde_json::to_value(&o).unwrap()["outcome"], o.name());
    }
}

#[test]
fn a_step_after_a_failed_one_waits_and_runs_with_it_next_time() {
    let plan = two_steps(notify(), deactivate(), true);
    let ledger = MemLedger::default();
    let failing = FakeIam::failing("Throttling");
    let first = run(plan.clone(), &failing, &ledger, false);
    assert_eq!(
        *failing.calls.lock().unwrap(),
        ["notify"],
        "the key is not touched"
    );
    assert!(
        matches!(&first.steps[1].outcome, Outcome::Failed { code: Some(c), .. } if c == "Waiting")
    );
    assert_eq!(
        ledger.state("k-2").as_deref(),
        None,
        "a waiting step claims nothing"
    );
    assert_eq!(first.status_code, 500);
    // Next run: the notice goes, then the key; the run after that does nothing.
    let working = FakeIam::default();
    let second = run(plan.clone(), &working, &ledger, false);
    assert_eq!(*working.calls.lock().unwrap(), ["notify", "deactivate_key"]);
    assert_eq!(second.status_code, 200);
    let third = run(plan, &working, &ledger, false);
    assert!(third.steps.iter().all(|s| s.outcome == Outcome::Duplicate));
    assert_eq!(working.calls.lock().unwrap().len(), 2);
}

#[test]
fn a_step_the_service_rejects_for_good_is_settled_once_and_the_next_goes_ahead() {
    let plan = two_steps(notify(), deactivate(), true);
    let ledger = MemLedger::default();
    let rejecting = FakeIam {
        fail_with: Some(EffectError::new(
            ErrorKind::Rejected,
            Some("MessageRejected"),
            "Email address is not verified",
        )),
        fail_only: Some("notify"),
        ..Default::default()
    };
    let first = run(plan.clone(), &rejecting, &ledger, false);
    assert_eq!(
        *rejecting.calls.lock().unwrap(),
        ["notify", "deactivate_key"]
    );
    assert!(
        matches!(&first.steps[0].outcome, Outcome::Rejected { code: Some(c), .. } if c == "MessageRejected")
    );
    assert_eq!(
        first.steps[1].outcome,
        Outcome::Applied {
            detail: Some("done".into())
        }
    );
    assert_eq!(first.status_code, 200, "a rejection is not a failed run");
    assert_eq!(ledger.state("k-1").as_deref(), Some("rejected"));
    // Redelivered: neither is tried again; the rejected one is still said rejected, never
    // done (a finding resolved on a "duplicate" would hide it).
    let second = run(plan, &rejecting, &ledger, false);
    assert!(
        matches!(&second.steps[0].outcome, Outcome::Rejected { code: Some(c), .. } if c == "SettledUndone")
    );
    assert_eq!(second.steps[1].outcome, Outcome::Duplicate);
    assert_eq!(second.status_code, 200);
    assert!(
        !crate::security_hub::clean(&second),
        "a rejected step is never clean"
    );
    assert_eq!(rejecting.calls.lock().unwrap().len(), 2);
}

#[test]
fn near_the_deadline_no_step_begins_and_none_is_claimed() {
    let plan = two_steps(notify(), deactivate(), false);
    let ledger = MemLedger::default();
    let iam = FakeIam::default();
    let soon = std::time::Instant::now() + STEP_MARGIN / 2;
    let cut = futures::executor::block_on(execute_with(
        plan.clone(),
        &iam,
        &ledger,
        false,
        chrono::Utc::now(),
        Some(soon),
        1,
    ));
    assert!(iam.calls.lock().unwrap().is_empty(), "nothing performed");
    assert_eq!(ledger.state("k-1").as_deref(), None, "nothing claimed");
    assert!(cut.steps.iter().all(
        |s| matches!(&s.outcome, Outcome::Failed { code: Some(c), .. } if c == "DeadlineNear")
    ));
    assert_eq!(cut.status_code, 500, "the run fails, so it is retried");
    // With time left, the same plan runs.
    let later = std::time::Instant::now() + STEP_MARGIN * 6;
    let done = futures::executor::block_on(execute_with(
        plan,
        &iam,
        &ledger,
        false,
        chrono::Utc::now(),
        Some(later),
        1,
    ));
    assert_eq!(done.status_code, 200);
    assert_eq!(*iam.calls.lock().unwrap(), ["notify", "deactivate_key"]);
}

#[test]
fn a_step_waiting_for_one_that_found_nothing_is_not_taken_and_not_a_failure() {
    let plan = two_steps(deactivate(), notify(), true);
    let gone = FakeIam {
        fail_with: Some(EffectError::new(
            ErrorKind::NotFound,
            Some("NoSuchEntity"),
            "no key",
        )),
        fail_only: Some("deactivate_key"),
        ..Default::default()
    };
    let r = run(plan, &gone, &MemLedger::default(), false);
    assert_eq!(
        *gone.calls.lock().unwrap(),
        ["deactivate_key"],
        "the notice is not sent"
    );
    assert!(
        matches!(&r.steps[1].outcome, Outcome::NotFound { message } if message.contains("k-1"))
    );
    assert_eq!(
        r.status_code, 404,
        "not a failure: no retry, no dead-letter"
    );
}

fn active() -> Prior {
    Prior::KeyStatus {
        status: "Active".into(),
    }
}

#[test]
fn what_a_write_replaces_is_in_its_row_before_the_write_and_handed_to_it() {
    let iam = FakeIam {
        prior: Some(Ok(active())),
        ..FakeIam::default()
    };
    let ledger = MemLedger::default();
    let report = run(plan_with(deactivate()), &iam, &ledger, false);
    assert!(matches!(report.steps[0].outcome, Outcome::Applied { .. }));
    assert_eq!(
        *iam.calls.lock().unwrap(),
        ["read deactivate_key", "deactivate_key"]
    );
    assert_eq!(*iam.handed.lock().unwrap(), [Some(active())]);
    let row = ledger.inner.row("k-1").unwrap();
    assert_eq!((row.status.as_str(), row.prior), ("done", Some(active())));
}

/// Containment's plan says what the key's write replaces (the status its facts read):
/// the claim keeps it, and nothing stands between the claim and the write: no second
/// read (the fake would report `read`) and no second ledger call (this ledger refuses
/// `record_prior`).
#[test]
fn a_write_whose_plan_knows_what_it_replaces_is_claimed_with_it_and_made_at_once() {
    let iam = FakeIam {
        prior: Some(Ok(Prior::KeyStatus {
            status: "Inactive".into(),
        })),
        ..FakeIam::default()
    };
    let ledger = MemLedger {
        priors_refused: true,
        ..MemLedger::default()
    };
    let mut plan = plan_with(deactivate());
    plan.steps[0].replaces = Some(active());
    let report = run(plan, &iam, &ledger, false);
    assert!(
        matches!(report.steps[0].outcome, Outcome::Applied { .. }),
        "{:?}",
        report.steps[0].outcome
    );
    assert_eq!(*iam.calls.lock().unwrap(), ["deactivate_key"]);
    assert_eq!(*iam.handed.lock().unwrap(), [Some(active())]);
    let row = ledger.inner.row("k-1").unwrap();
    assert_eq!((row.status.as_str(), row.prior), ("done", Some(active())));
}

#[test]
fn a_write_whose_prior_state_cannot_be_kept_is_not_made_and_can_be_retried() {
    let iam = FakeIam {
        prior: Some(Ok(active())),
        ..FakeIam::default()
    };
    let ledger = MemLedger {
        priors_refused: true,
        ..MemLedger::default()
    };
    let report = run(plan_with(deactivate()), &iam, &ledger, false);
    let Outcome::Failed { code, message } = &report.steps[0].outcome else {
        panic!("{:?}", report.steps[0].outcome)
    };
    assert_eq!(
        code.as_deref(),
        Some("ProvisionedThroughputExceededException")
    );
    assert!(
        message.contains("could not be kept in the ledger"),
        "{message}"
    );
    assert_eq!(*iam.calls.lock().unwrap(), ["read deactivate_key"]);
    assert_eq!(ledger.state("k-1").as_deref(), Some("failed"));
}

#[test]
fn a_write_whose_prior_state_cannot_be_read_is_not_made() {
    let iam = FakeIam {
        prior: Some(Err(EffectError::new(
            ErrorKind::Other,
            Some("Throttling"),
            "slow down",
        ))),
        ..FakeIam::default()
    };
    let ledger = MemLedger::default();
    let report = run(plan_with(deactivate()), &iam, &ledger, false);
    let Outcome::Failed { message, .. } = &report.steps[0].outcome else {
        panic!("{:?}", report.steps[0].outcome)
    };
    assert!(
        message.contains("reading the state it would replace"),
        "{message}"
    );
    assert_eq!(*iam.calls.lock().unwrap(), ["read deactivate_key"]);
    assert_eq!(ledger.state("k-1").as_deref(), Some("failed"));
}

/// Effects that yield once inside every call and note how many calls were under way at
/// once, and in which order calls began and ended.
#[derive(Default)]
struct Overlapping {
    in_flight: Mutex<(usize, usize)>,
    log: Mutex<Vec<String>>,
    fail_email_of: Option<&'static str>,
}

/// Pending once, then ready: lets the executor poll another chain.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

impl Effects for Overlapping {
    fn lacks(&self, _: &str) -> Option<&'static str> {
        None
    }

    async fn before(&self, _: Option<&Scope>, _: &Action) -> Result<Option<Prior>, EffectError> {
        Ok(None)
    }

    async fn perform(
        &self,
        _: Option<&Scope>,
        action: &Action,
        _: Option<&Prior>,
    ) -> Result<Option<String>, EffectError> {
        let who = action.user().map(|u| u.to_string()).unwrap_or_default();
        {
            let mut n = self.in_flight.lock().unwrap();
            n.0 += 1;
            n.1 = n.1.max(n.0);
        }
        self.log
            .lock()
            .unwrap()
            .push(format!("begin {} {who}", action.name()));
        YieldOnce(false).await;
        self.in_flight.lock().unwrap().0 -= 1;
        self.log
            .lock()
            .unwrap()
            .push(format!("end {} {who}", action.name()));
        match (action, self.fail_email_of) {
            (Action::SendEmail { .. }, Some(u)) if u == who => Err(EffectError::new(
                ErrorKind::Other,
                Some("Throttling"),
                "slow down",
            )),
            _ => Ok(Some("done".into())),
        }
    }
}

/// For each of `people`, an email, then the deactivation of their key waiting for it.
fn emails_then_keys(people: &[&str]) -> Plan {
    let mut plan = Plan::new("age-rotation", Decision::Act);
    plan.event_id = Some("ev-1".into());
    for (i, p) in people.iter().enumerate() {
        let user = UserName::parse(p).unwrap();
        let email = Step {
            replaces: None,
            after: None,
            scope: None,
            action: Action::SendEmail {
                email: crate::plan::Email {
                    to: format!("{p}@example.com"),
                    from: "k@example.com".into(),
                    subject: "s".into(),
                    text: "t".into(),
                    html: "h".into(),
                    user: Some(user.clone()),
                },
            },
            reason: "test".into(),
            idempotency_key: format!("email:{p}"),
            window: None,
        };
        let key = Step {
            after: Some(format!("email:{p}")),
            action: Action::DeactivateKey {
                user,
                key_id: AccessKeyId::parse(&format!("AKIAPERSONKEY{i:07}")).unwrap(),
            },
            idempotency_key: format!("key:{p}"),
            ..email.clone()
        };
        plan.steps.push(email);
        plan.steps.push(key);
    }
    plan
}

#[test]
fn chains_are_a_step_and_all_that_wait_for_it() {
    let mut plan = emails_then_keys(&["ann", "bo"]);
    // A notice of its own, and a second action of ann's after her key.
    plan.steps.push(plan_with(notify()).steps[0].clone());
    let mut again = plan.steps[1].clone();
    again.idempotency_key = "key2:ann".into();
    again.after = Some("key:ann".into());
    plan.steps.push(again);
    assert_eq!(
        chains(&plan.steps),
        vec![vec![0, 1, 5], vec![2, 3], vec![4]]
    );
}

#[test]
fn people_are_applied_side_by_side_each_in_order_and_the_report_keeps_the_plans_order() {
    let people = [
        "ann", "bo", "cy", "di", "ed", "flo", "gus", "hal", "ida", "jo",
    ];
    let run_with = |n: usize, effects: &Overlapping| {
        let ledger = MemLedger::default();
        let plan = emails_then_keys(&people);
        futures::executor::block_on(execute_with(
            plan,
            effects,
            &ledger,
            false,
            chrono::Utc::now(),
            None,
            n,
        ))
    };
    let one = Overlapping::default();
    let sequential = run_with(1, &one);
    assert_eq!(one.in_flight.lock().unwrap().1, 1);
    let eight = Overlapping::default();
    let report = run_with(8, &eight);
    assert_eq!(
        eight.in_flight.lock().unwrap().1,
        8,
        "eight people at once, no more"
    );
    // The same steps, in the plan's order, with the same outcomes.
    let outcomes = |r: &Report| -> Vec<(String, String)> {
        r.steps
            .iter()
            .map(|s| (s.step.idempotency_key.clone(), s.outcome.name().to_owned()))
            .collect()
    };
    assert_eq!(outcomes(&report), outcomes(&sequential));
    // Nobody's key before their email went through.
    let log = eight.log.lock().unwrap();
    for p in people {
        let at = |what: &str| log.iter().position(|l| l == what).unwrap();
        assert!(
            at(&format!("end send_email {p}")) < at(&format!("begin deactivate_key {p}")),
            "{p}: {log:?}"
        );
    }
}

#[test]
fn a_failed_email_holds_back_only_its_persons_key_when_applied_side_by_side() {
    let effects = Overlapping {
        fail_email_of: Some("bo"),
        ..Overlapping::default()
    };
    let ledger = MemLedger::default();
    let report = futures::executor::block_on(execute_with(
        emails_then_keys(&["ann", "bo", "cy"]),
        &effects,
        &ledger,
        false,
        chrono::Utc::now(),
        None,
        8,
    ));
    let got: Vec<(&str, &str)> = report
        .steps
        .iter()
        .map(|s| (s.step.idempotency_key.as_str(), s.outcome.name()))
        .collect();
    assert_eq!(
        got,
        [
            ("email:ann", "applied"),
            ("key:ann", "applied"),
            ("email:bo", "failed"),
            ("key:bo", "failed"),
            ("email:cy", "applied"),
            ("key:cy", "applied"),
        ]
    );
    assert!(!effects
        .log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("deactivate_key bo")));
}
