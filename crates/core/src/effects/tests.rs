use super::*;
use crate::key::{AccessKeyId, UserName};
use crate::notice::{Notice, Severity};
use crate::plan::Decision;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
struct FakeIam {
    calls: Mutex<Vec<String>>,
    fail_with: Option<EffectError>,
}

impl Effects for FakeIam {
    async fn perform(&self, action: &Action) -> Result<Option<String>, EffectError> {
        self.calls.lock().unwrap().push(action.name().to_owned());
        match &self.fail_with {
            Some(e) => Err(e.clone()),
            None => Ok(Some("done".into())),
        }
    }
}

/// An in-memory ledger with the same rule as the DynamoDB one: a key can be claimed when
/// absent or when its last attempt failed.
#[derive(Default)]
struct MemLedger {
    rows: Mutex<BTreeMap<String, &'static str>>,
    down: bool,
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
        let mut rows = self.rows.lock().unwrap();
        match rows.get(&entry.idempotency_key) {
            Some(&"failed") | None => {
                rows.insert(entry.idempotency_key.clone(), "claimed");
                Ok(Claim::Won)
            }
            Some(_) => Ok(Claim::Taken),
        }
    }
    async fn settle(&self, key: &str, outcome: &Outcome) -> Result<(), EffectError> {
        let state = if matches!(outcome, Outcome::Applied { .. }) {
            "done"
        } else {
            "failed"
        };
        self.rows.lock().unwrap().insert(key.to_owned(), state);
        Ok(())
    }
}

fn plan_with(action: Action) -> Plan {
    let mut plan = Plan::new("deactivate-key", Decision::Act);
    plan.event_id = Some("ev-1".into());
    plan.steps.push(Step {
        action,
        reason: "test".into(),
        idempotency_key: "k-1".into(),
    });
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
    assert!(ledger.rows.lock().unwrap().is_empty());
}

#[test]
fn a_failed_step_can_be_retried() {
    let failing = FakeIam {
        fail_with: Some(EffectError::new(
            ErrorKind::Other,
            Some("Throttling"),
            "slow down",
        )),
        ..Default::default()
    };
    let ledger = MemLedger::default();
    let r = run(plan_with(deactivate()), &failing, &ledger, false);
    assert_eq!(r.status_code, 500);
    assert!(
        matches!(&r.steps[0].outcome, Outcome::Failed { code: Some(c), .. } if c == "Throttling")
    );
    let ok = FakeIam::default();
    let r = run(plan_with(deactivate()), &ok, &ledger, false);
    assert_eq!(r.status_code, 200);
    assert_eq!(ok.calls.lock().unwrap().len(), 1);
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
        Outcome::NotFound { message: why() },
        Outcome::Failed {
            code: None,
            message: why(),
        },
    ] {
        assert_eq!(serde_json::to_value(&o).unwrap()["outcome"], o.name());
    }
}
