use super::*;
use crate::plan::{Decision, Plan, Principal, Step};
use crate::report::{Outcome, Report, StepReport};
use crate::scope::{AccountId, Scope};
use crate::{AccessKeyId, Notice, RoleName, Severity, UserName};

const HOME: &str = "111111111111";
const MEMBER: &str = "222222222222";
const KEY: &str = "AKIAIOSFODNN7EXAMPLE";

fn cfg() -> Findings {
    Findings::new(AccountId::parse(HOME).unwrap(), "eu-west-1", "aws")
}

fn now() -> Timestamp {
    crate::parse_time("2026-12-07T12:00:00Z").unwrap()
}

fn scope(account: &str) -> Option<Scope> {
    Some(Scope {
        account: AccountId::parse(account).unwrap(),
        region: None,
    })
}

fn step(action: Action, account: Option<&str>, outcome: Outcome) -> StepReport {
    StepReport {
        step: Step {
            replaces: None,
            idempotency_key: format!("deactivate-key:{}:ev-1", action.name()),
            reason: format!("because of {}", action.name()),
            action,
            window: None,
            after: None,
            scope: account.and_then(scope),
        },
        outcome,
        retried: false,
    }
}

fn applied() -> Outcome {
    Outcome::Applied { detail: None }
}

fn deactivate() -> Action {
    Action::DeactivateKey {
        user: UserName::parse("alice").unwrap(),
        key_id: AccessKeyId::parse(KEY).unwrap(),
    }
}

fn notice(severity: Severity, subject: &str) -> Action {
    Action::Notify {
        notice: Notice::new(severity, subject)
            .user(Some(UserName::parse("alice").unwrap()))
            .key(Some(AccessKeyId::parse(KEY).unwrap())),
    }
}

fn report(decision: Decision, steps: Vec<StepReport>) -> Report {
    Report::new(
        Plan::for_event("deactivate-key", decision, "ev-1"),
        false,
        steps,
    )
}

fn contained(outcome: fn() -> Outcome) -> Report {
    report(
        Decision::Act,
        vec![
            step(deactivate(), Some(HOME), outcome()),
            step(
                notice(Severity::High, "key contained"),
                Some(HOME),
                outcome(),
            ),
        ],
    )
}

/// Every documented limit AWS holds an imported finding to.
fn within_limits(f: &Finding) {
    assert!(
        !f.id.is_empty() && f.id.chars().count() <= limits::ID,
        "{}",
        f.id
    );
    assert!(f.generator_id.chars().count() <= limits::GENERATOR_ID);
    assert!(!f.title.is_empty() && f.title.chars().count() <= limits::TITLE);
    assert!(!f.description.is_empty() && f.description.chars().count() <= limits::DESCRIPTION);
    assert!((1..=limits::RESOURCES).contains(&f.resources.len()));
    assert!((1..=limits::TYPES).contains(&f.types.len()));
    for t in &f.types {
        let namespace = t.split('/').next().unwrap();
        assert!(
            [
                "Software and Configuration Checks",
                "TTPs",
                "Effects",
                "Unusual Behaviors",
                "Sensitive Data Identifications"
            ]
            .contains(&namespace),
            "{t}"
        );
    }
    assert!(f.product_fields.len() <= limits::PRODUCT_FIELDS);
    for (k, v) in &f.product_fields {
        assert!(k.chars().count() <= limits::PRODUCT_FIELD_KEY, "{k}");
        assert!(v.chars().count() <= limits::PRODUCT_FIELD_VALUE, "{k}");
    }
    assert!(f.remediation.chars().count() <= limits::REMEDIATION_TEXT);
    assert_eq!(
        f.aws_account_id.as_str(),
        HOME,
        "imported where keyguard runs"
    );
    assert_eq!(
        f.product_arn,
        format!("arn:aws:securityhub:eu-west-1:{HOME}:product/{HOME}/default")
    );
    for text in [&f.title, &f.description] {
        assert!(
            !text.chars().any(|c| c.is_control()
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')),
            "{text:?}"
        );
    }
}

#[test]
fn a_containment_is_one_finding_about_the_key_it_contained() {
    let r = contained(applied);
    let f = finding(&r, &cfg(), now()).unwrap();
    within_limits(&f);
    assert_eq!(f.severity, Label::High);
    assert_eq!(f.title, "key contained");
    assert_eq!(f.types, ["TTPs/Credential Access"]);
    assert_eq!(f.resources.len(), 1, "{:?}", f.resources);
    let key = &f.resources[0];
    assert_eq!(key.kind, "AwsIamAccessKey");
    assert_eq!(key.id, format!("AWS::IAM::AccessKey:{KEY}"));
    assert_eq!(key.key_id.as_deref(), Some(KEY));
    assert_eq!(key.principal.as_deref(), Some("alice"));
    assert_eq!(key.principal_type, Some("IAMUser"));
    assert!(
        f.description.contains("deactivate_key"),
        "{}",
        f.description
    );
    assert_eq!(f.product_fields["keyguard/decision"], "act");
    assert_eq!(f.product_fields["keyguard/step/00/deactivate_key"], "done");
}

#[test]
fn a_retry_updates_the_same_finding_and_a_redelivery_never_overwrites_it() {
    let failed = || Outcome::Failed {
        code: Some("Throttling".into()),
        message: "slow down".into(),
    };
    let import = |r: &Report| super::step(r, &cfg(), now()).unwrap();
    let finding_of = |s: &Step| match &s.action {
        Action::ImportFinding { finding, .. } => finding.clone(),
        other => panic!("{other:?}"),
    };
    // A first run whose containment failed, then the retry that finished it.
    let first = import(&contained(failed));
    let retry = import(&report(
        Decision::Act,
        vec![
            step(deactivate(), Some(HOME), applied()),
            step(
                notice(Severity::High, "key contained"),
                Some(HOME),
                Outcome::Duplicate,
            ),
        ],
    ));
    assert_eq!(
        finding_of(&first).id,
        finding_of(&retry).id,
        "one finding per event"
    );
    assert_ne!(
        first.idempotency_key, retry.idempotency_key,
        "the retry updates it"
    );
    assert!(finding_of(&first).description.contains("failed: slow down"));
    assert!(!finding_of(&retry).description.contains("failed"));
    // Unsettled, the first holds no window: the retry's import is not held back by it.
    assert_eq!(first.window, None);
    let window = retry
        .window
        .clone()
        .expect("a settled finding holds its Id");
    assert_eq!(
        window.key,
        format!("deactivate-key:import_finding:{}", finding_of(&retry).id)
    );
    assert!(window.until > now() + chrono::Duration::hours(SETTLED_HOURS - 1));
    // A redelivery of a run that went through: the same step, which the ledger keeps once.
    let went_through = import(&contained(applied));
    assert_eq!(
        went_through.idempotency_key,
        import(&contained(|| Outcome::Duplicate)).idempotency_key
    );
    assert_eq!(retry.idempotency_key, went_through.idempotency_key);
    // The same event re-planned later (the key now found already contained) is another
    // step under the same window: the ledger holds it back, and the finding stays.
    let replanned = import(&report(
        Decision::AlreadyContained,
        vec![step(deactivate(), Some(HOME), Outcome::Duplicate)],
    ));
    assert_ne!(replanned.idempotency_key, went_through.idempotency_key);
    assert_eq!(replanned.window.unwrap().key, window.key);
    // The same steps failing a run at the end (users left unread) is another state.
    let unread = Report {
        decision: Decision::Failed {
            why: "2 users unread".into(),
        },
        ..contained(applied)
    };
    assert_ne!(
        import(&unread).idempotency_key,
        went_through.idempotency_key
    );
    // Another event about the same key is another finding.
    let other = Report {
        event_id: Some("ev-2".into()),
        ..contained(applied)
    };
    assert_ne!(
        finding(&other, &cfg(), now()).unwrap().id,
        finding_of(&went_through).id
    );
}

#[test]
fn a_burst_held_by_a_window_adds_no_finding() {
    let held = || Outcome::Suppressed {
        window: "createkey-detector:alert:canary".into(),
    };
    let burst = report(
        Decision::Act,
        vec![step(
            notice(Severity::Critical, "canary used"),
            None,
            held(),
        )],
    );
    assert_eq!(finding(&burst, &cfg(), now()), None);
}

#[test]
fn only_decisions_security_teams_must_see_are_findings() {
    for decision in [
        Decision::Ignored { why: "x".into() },
        Decision::NothingToDo { why: "x".into() },
        Decision::Invalid { why: "x".into() },
    ] {
        let r = report(
            decision.clone(),
            vec![step(notice(Severity::Low, "n"), None, applied())],
        );
        assert_eq!(finding(&r, &cfg(), now()), None, "{decision:?}");
    }
    // Found already contained (a retry after its own containment): still reported, low.
    let found = report(
        Decision::AlreadyContained,
        vec![step(deactivate(), Some(HOME), Outcome::Duplicate)],
    );
    assert_eq!(finding(&found, &cfg(), now()).unwrap().severity, Label::Low);
    assert_eq!(
        finding(&report(Decision::AlreadyContained, vec![]), &cfg(), now()),
        None,
        "no step, nothing to tell"
    );
    // The detector only remembering a call is bookkeeping.
    let remembered = report(
        Decision::Act,
        vec![step(
            Action::RecordExemption {
                principal: Principal::User(UserName::parse("bob").unwrap()),
                account: None,
                provenance: crate::exemption::Provenance {
                    set_by: "arn:aws:iam::111111111111:user/bob".into(),
                    own: true,
                    long_term_key: true,
                    role_session: false,
                    call: "TagUser".into(),
                    at: "2026-12-07T11:00:00Z".into(),
                    event_id: "ev-0".into(),
                },
            },
            None,
            applied(),
        )],
    );
    assert_eq!(finding(&remembered, &cfg(), now()), None);
    // A run that failed before any step is one.
    let failed = report(
        Decision::Failed {
            why: "IAM unreadable".into(),
        },
        vec![],
    );
    let f = finding(&failed, &cfg(), now()).unwrap();
    within_limits(&f);
    assert_eq!(f.severity, Label::High);
    assert_eq!(f.resources[0].kind, "AwsAccount");
    assert!(f.description.contains("IAM unreadable"));
    assert!(f.remediation.contains("could not finish"));
}

#[test]
fn a_refusal_names_the_credential_and_its_account() {
    let r = report(
        Decision::ForeignAccount {
            why: "another account's key".into(),
        },
        vec![step(
            notice(Severity::Medium, "not contained"),
            Some(MEMBER),
            applied(),
        )],
    );
    let f = finding(&r, &cfg(), now()).unwrap();
    within_limits(&f);
    assert_eq!(f.severity, Label::Medium);
    assert_eq!(f.resources[0].account.as_str(), MEMBER);
    assert!(
        !f.id.contains(MEMBER),
        "one finding per event, whatever account: {}",
        f.id
    );
    assert!(f.remediation.contains("by hand"));
    assert!(f
        .description
        .starts_with("foreign_account: another account's key"));
}

#[test]
fn a_roles_sessions_are_a_role_resource() {
    let revoke = Action::RevokeSessions {
        principal: Principal::Role(RoleName::parse("Deploy").unwrap()),
        issued_before: now(),
        policy_name: "keyguard-revoke-older-sessions".into(),
        key_id: None,
    };
    let r = report(Decision::Act, vec![step(revoke, Some(MEMBER), applied())]);
    let f = finding(&r, &cfg(), now()).unwrap();
    within_limits(&f);
    assert_eq!(f.resources[0].kind, "AwsIamRole");
    assert_eq!(
        f.resources[0].id,
        format!("arn:aws:iam::{MEMBER}:role/Deploy")
    );
    assert_eq!(f.resources[0].principal_type, Some("Role"));
}

#[test]
fn hostile_and_huge_runs_stay_within_asff_limits() {
    let hostile = format!(
        "{}\u{202E}evil\u{2028}line{}",
        "x".repeat(500),
        "y".repeat(5000)
    );
    let mut steps = Vec::new();
    for n in 0..60 {
        let key = AccessKeyId::parse(&format!("AKIAHEALTHKEY{n:07}")).unwrap();
        steps.push(step(
            Action::DeactivateKey {
                user: UserName::parse(&format!("user-{n}")).unwrap(),
                key_id: key,
            },
            Some(HOME),
            Outcome::Failed {
                code: None,
                message: hostile.clone(),
            },
        ));
    }
    steps.push(step(
        notice(Severity::Critical, &hostile),
        Some(HOME),
        applied(),
    ));
    let r = Report {
        classifier_source: Some(format!("createkey-detector/{hostile}")),
        event_id: Some(hostile.clone()),
        ..report(Decision::Act, steps)
    };
    let f = finding(&r, &cfg(), now()).unwrap();
    within_limits(&f);
    assert_eq!(f.resources.len(), limits::RESOURCES);
    assert_eq!(f.severity, Label::Critical);
}

#[test]
fn the_detectors_rules_name_their_tactic() {
    for (rule, kind) in [
        ("createkey-detector/backdoor-key", "TTPs/Persistence"),
        (
            "createkey-detector/logging-disabled",
            "TTPs/Defense Evasion",
        ),
        (
            "createkey-detector/runs-instances",
            "Effects/Resource Consumption",
        ),
        ("createkey-detector/threat-ip", "TTPs/Credential Access"),
    ] {
        let r = Report {
            classifier_source: Some(rule.into()),
            ..contained(applied)
        };
        let f = finding(&r, &cfg(), now()).unwrap();
        assert_eq!(f.types, [kind], "{rule}");
        assert_eq!(f.generator_id, format!("keyguard/{rule}"));
    }
}

#[test]
fn only_a_clean_run_that_retried_a_failed_step_may_resolve_the_finding() {
    let resolves = |r: &Report| match super::step(r, &cfg(), now()).unwrap().action {
        Action::ImportFinding { resolve, .. } => resolve,
        other => panic!("{other:?}"),
    };
    let retried = |action: Action, outcome: Outcome| StepReport {
        retried: true,
        ..step(action, Some(HOME), outcome)
    };
    let failed = || Outcome::Failed {
        code: Some("Throttling".into()),
        message: "slow down".into(),
    };
    let rejected = || Outcome::Rejected {
        code: Some("ForeignAccount".into()),
        message: "not ours".into(),
    };
    let told = |decision: Decision| {
        report(
            decision,
            vec![retried(notice(Severity::High, "key contained"), applied())],
        )
    };
    // The retry that completed the containment an earlier run failed at.
    let completed = report(
        Decision::Act,
        vec![
            retried(deactivate(), applied()),
            step(
                notice(Severity::High, "key contained"),
                Some(HOME),
                applied(),
            ),
        ],
    );
    assert!(resolves(&completed));
    assert!(resolves(&told(Decision::AlreadyContained)));
    // A first run that went cleanly: NEW, for the team to review.
    assert!(!resolves(&contained(applied)));
    // A retry that failed again, or left another step failed: not resolved.
    let still_failing = report(
        Decision::Act,
        vec![
            retried(deactivate(), applied()),
            step(
                notice(Severity::High, "key contained"),
                Some(HOME),
                failed(),
            ),
        ],
    );
    assert!(!resolves(&still_failing));
    assert!(!resolves(&report(
        Decision::Act,
        vec![retried(deactivate(), failed())]
    )));
    // A run that contained nothing is never clean, whatever its retried notice did: the
    // key is still out there.
    for decision in [
        Decision::Refused {
            why: "exempt".into(),
        },
        Decision::NotContainable {
            why: "a root key".into(),
        },
    ] {
        assert!(!resolves(&told(decision.clone())), "{decision:?}");
    }
    // A retried step the service rejected completed nothing.
    assert!(!resolves(&report(
        Decision::Act,
        vec![retried(deactivate(), rejected())]
    )));
}

#[test]
fn a_finding_told_of_a_failure_when_its_run_or_a_step_failed() {
    let fields = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert!(told_failure(&fields(&[("keyguard/decision", "failed")])));
    assert!(told_failure(&fields(&[
        ("keyguard/decision", "act"),
        ("keyguard/step/00/deactivate_key", "failed"),
    ])));
    assert!(!told_failure(&fields(&[
        ("keyguard/decision", "act"),
        ("keyguard/step/00/deactivate_key", "done"),
        ("keyguard/step/01/notify", "suppressed"),
    ])));
    // Someone else's field that happens to say failed is not keyguard's step.
    assert!(!told_failure(&fields(&[("other/step", "failed")])));
}

#[test]
fn a_clean_imports_retry_may_resolve_and_nothing_else_changes_on_retry() {
    let import = super::step(&contained(applied), &cfg(), now()).unwrap();
    let Some(Action::ImportFinding { clean, resolve, .. }) = import.action.on_retry() else {
        panic!("a clean run's import becomes a resolving one on retry");
    };
    assert!(clean && resolve);
    let unclean = super::step(
        &contained(|| Outcome::Failed {
            code: None,
            message: "x".into(),
        }),
        &cfg(),
        now(),
    )
    .unwrap();
    assert_eq!(unclean.action.on_retry(), None);
    assert_eq!(deactivate().on_retry(), None);
}

#[test]
fn a_finding_is_created_when_its_event_saw_it_and_stays_so() {
    let finding = |observed: Option<&str>, now: Timestamp| {
        let mut r = contained(applied);
        r.observed_at = observed.and_then(crate::parse_time);
        super::finding(&r, &cfg(), now).unwrap()
    };
    let later = now() + chrono::Duration::minutes(20);
    let first = finding(Some("2026-12-07T11:58:00Z"), now());
    let retry = finding(Some("2026-12-07T11:58:00Z"), later);
    assert_eq!(
        first.created_at,
        crate::parse_time("2026-12-07T11:58:00Z").unwrap()
    );
    assert_eq!(
        retry.created_at, first.created_at,
        "every import says the same"
    );
    assert_eq!(retry.updated_at, later);
    // An event that does not say, or says a time to come: the import's own.
    assert_eq!(finding(None, now()).created_at, now());
    assert_eq!(
        finding(Some("2027-01-01T00:00:00Z"), now()).created_at,
        now()
    );
}
