//! A scan of every account of an organisation, one account at a time through the member
//! role there (age-rotation's ladder, secrets-rotator's sweep): how each account's went,
//! one report for them all, and one notice per account the role cannot be assumed in.

use crate::notice::{Notice, Severity};
use crate::plan::{Action, Decision, Plan, Step};

/// How one account's scan went.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountScan {
    Scanned(crate::report::Report),
    /// The member role cannot be assumed there (not deployed, as in the management
    /// account a service-managed StackSet skips, or trusting another scanner). Retrying
    /// changes nothing: named and alerted once, never a failed run.
    Unassumable(String),
    /// Something that a retry may mend (throttling, a timeout): the run fails.
    Failed(String),
    /// Not an ACTIVE account of the organisation (the SQS fan-out checks each queued
    /// account): not scanned, not retried.
    Outside(String),
}

impl AccountScan {
    /// Whether a retry should scan the account again: it failed, or its steps did not
    /// all go through (a failed step, one held elsewhere, users that could not be read).
    pub fn wants_retry(&self) -> bool {
        match self {
            Self::Failed(_) => true,
            Self::Scanned(report) => report.status_code >= 500,
            Self::Unassumable(_) | Self::Outside(_) => false,
        }
    }
}

impl From<Result<crate::report::Report, String>> for AccountScan {
    fn from(r: Result<crate::report::Report, String>) -> Self {
        match r {
            Ok(report) => Self::Scanned(report),
            Err(why) => Self::Failed(why),
        }
    }
}

/// One notice per account whose member role cannot be assumed, keyed by account and
/// role alone (no event): each is alerted once, not every day.
pub fn unassumable_notices(
    function: &'static str,
    event_ref: &str,
    role: &str,
    fix: &str,
    accounts: &[(String, String)],
) -> Plan {
    let mut plan = Plan::for_event(function, Decision::Act, event_ref.to_owned());
    for (account, why) in accounts {
        let scope = crate::scope::AccountId::parse(account).ok();
        let notice = Notice::new(
            Severity::High,
            format!("{function} cannot scan account {account}"),
        )
        .fact("account", account.clone())
        .fact("member_role", role)
        .fact("why", why.clone())
        .fact("fix", fix);
        plan.steps.push(Step {
            replaces: None,
            after: None,
            scope: scope.clone().map(|account| crate::scope::Scope {
                account,
                region: None,
            }),
            idempotency_key: crate::step_key::window(
                function,
                "notify_unassumable",
                scope.as_ref(),
                &crate::step_key::Subject::role(role),
            ),
            action: Action::Notify { notice },
            reason: format!("the member role {role} cannot be assumed in {account}: {why}"),
            window: None,
        });
    }
    plan
}

/// One report for an organisation's scan: every account's steps (their reasons naming
/// the account), and `failed` (500) when an account could not be scanned, naming it,
/// while the other accounts' work stands. `nothing`: why, when no account had anything
/// to do.
pub fn combine(
    function: &'static str,
    event_ref: &str,
    dry_run: bool,
    results: Vec<(String, AccountScan)>,
    nothing: &str,
) -> crate::report::Report {
    let mut steps = Vec::new();
    let mut failures = Vec::new();
    let mut acted = false;
    let mut skipped = Vec::new();
    let mut outside = Vec::new();
    for (account, result) in results {
        match result {
            AccountScan::Unassumable(why) => skipped.push(format!("{account} ({why})")),
            AccountScan::Outside(why) => outside.push(format!("{account} ({why})")),
            AccountScan::Scanned(report) => {
                acted |= report.decision == Decision::Act;
                if let Some(why) = report.decision.explanation().filter(|_| {
                    matches!(
                        report.decision,
                        Decision::Failed { .. } | Decision::Refused { .. }
                    )
                }) {
                    failures.push(format!("{account}: {why}"));
                }
                steps.extend(report.steps.into_iter().map(|mut s| {
                    s.step.reason = format!("account {account}: {}", s.step.reason);
                    s
                }));
            }
            AccountScan::Failed(why) => failures.push(format!("{account}: {why}")),
        }
    }
    let listed = |what: &str, accounts: Vec<String>| match accounts.is_empty() {
        true => String::new(),
        false => format!("; {what}: {}", accounts.join(", ")),
    };
    let skipped = listed("not scanned, the member role cannot be assumed", skipped)
        + &listed("not scanned, not acted in", outside);
    let decision = if !failures.is_empty() {
        Decision::Failed {
            why: format!("could not scan: {}{skipped}", failures.join("; ")),
        }
    } else if acted {
        Decision::Act
    } else {
        Decision::NothingToDo {
            why: format!("{nothing}{skipped}"),
        }
    };
    let plan = Plan::for_event(function, decision, event_ref.to_owned());
    crate::report::Report::new(plan, dry_run, steps)
}
