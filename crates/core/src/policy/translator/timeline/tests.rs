use super::*;
use crate::key::{AccessKeyId, UserName};
use crate::notice::Severity;
use crate::plan::Incident;
use crate::report::StepReport;
use crate::scope::{AccountId, Scope};

const ARN: &str = "arn:aws:ssm-incidents::111111111111:incident-record/keyguard/0e1b";
const KEY: &str = "AKIAIOSFODNN7EXAMPLE";

fn scope() -> Option<Scope> {
    Some(Scope {
        account: AccountId::parse("111111111111").unwrap(),
        region: None,
    })
}

trait Windowed {
    fn windowed(self, key: &str) -> Self;
}

impl Windowed for Step {
    fn windowed(mut self, key: &str) -> Self {
        self.window = Some(crate::plan::Window {
            key: key.into(),
            until: crate::parse_time("2026-12-01T11:00:00Z").unwrap(),
        });
        self
    }
}

fn step(action: Action, key: &str) -> Step {
    Step {
        replaces: None,
        action,
        reason: "r".into(),
        idempotency_key: key.into(),
        window: None,
        after: None,
        scope: scope(),
    }
}

fn incident_step() -> Step {
    step(
        Action::OpenIncident {
            incident: Incident {
                response_plan_arn: "arn:aws:ssm-incidents::111111111111:response-plan/keyguard"
                    .into(),
                title: "t".into(),
                impact: 2,
                source: "keyguard".into(),
                timestamp: crate::parse_time("2026-12-01T10:00:00Z").unwrap(),
                trigger_arn: None,
                raw_data: "{}".into(),
                related: vec![],
                user: None,
                key_id: None,
                client_token: "c".into(),
            },
        },
        "guardduty-translator:open_incident:111111111111:alice:f-1",
    )
    .windowed("guardduty-translator:open_incident:111111111111:alice")
}

fn listing(facts: usize) -> Step {
    let mut notice = Notice::new(Severity::High, format!("Contained key {KEY}: 2 action(s)"))
        .key(Some(AccessKeyId::parse(KEY).unwrap()))
        .user(Some(UserName::parse("alice").unwrap()));
    for i in 0..facts {
        notice = notice.fact(
            &format!("action {i:03}"),
            format!("2026-12-01T09:00:00Z CreateUser (event e-{i}): created user u{i}"),
        );
    }
    step(
        Action::Notify { notice },
        &format!("guardduty-translator:notify:111111111111:sweep/{KEY}:f-1"),
    )
}

fn report(steps: Vec<(Step, Outcome)>) -> Report {
    let plan = Plan::for_event(FUNCTION, Decision::Act, "f-1");
    Report::new(
        plan,
        false,
        steps
            .into_iter()
            .map(|(step, outcome)| StepReport {
                step,
                outcome,
                retried: false,
            })
            .collect(),
    )
}

#[test]
fn the_incident_is_found_where_the_run_left_it() {
    let applied = Outcome::Applied {
        detail: Some(crate::plan::incident_detail(ARN)),
    };
    let cases = [
        (applied, Some(IncidentAt::Opened(ARN.into()))),
        (
            Outcome::Duplicate,
            Some(IncidentAt::Recorded(vec![
                "guardduty-translator:open_incident:111111111111:alice:f-1".into(),
                "guardduty-translator:open_incident:111111111111:alice".into(),
            ])),
        ),
        (
            Outcome::Suppressed {
                window: "guardduty-translator:open_incident:111111111111:alice".into(),
            },
            Some(IncidentAt::Recorded(vec![
                "guardduty-translator:open_incident:111111111111:alice".into(),
            ])),
        ),
        (
            Outcome::Failed {
                code: None,
                message: "m".into(),
            },
            None,
        ),
        (Outcome::Planned, None),
    ];
    for (outcome, want) in cases {
        let r = report(vec![(incident_step(), outcome.clone())]);
        assert_eq!(incident(&r), want, "{outcome:?}");
    }
    assert_eq!(incident(&report(vec![])), None);
}

#[test]
fn the_arn_is_read_back_from_an_applied_rows_outcome_only() {
    let row = |o: &Outcome| serde_json::to_string(o).unwrap();
    let applied = Outcome::Applied {
        detail: Some(crate::plan::incident_detail(ARN)),
    };
    assert_eq!(arn_in_ledger_outcome(&row(&applied)), Some(ARN.into()));
    for other in [
        Outcome::Applied {
            detail: Some("published as 1".into()),
        },
        Outcome::Duplicate,
        Outcome::Failed {
            code: None,
            message: "incident arn:aws:x".into(),
        },
    ] {
        assert_eq!(arn_in_ledger_outcome(&row(&other)), None, "{other:?}");
    }
    assert_eq!(arn_in_ledger_outcome("not json"), None);
}

#[test]
fn each_listing_becomes_one_timeline_event_within_the_limit() {
    let now = crate::parse_time("2026-12-01T12:00:00Z").unwrap();
    let other_notice = step(
        Action::Notify {
            notice: Notice::new(Severity::High, "GuardDuty finding"),
        },
        "guardduty-translator:notify:111111111111:alice:f-1",
    );
    let r = report(vec![
        (other_notice, Outcome::Duplicate),
        (
            listing(2),
            Outcome::Failed {
                code: None,
                message: "sns down".into(),
            },
        ),
    ]);
    let p = plan(&r, ARN, now);
    assert_eq!(p.steps.len(), 1, "{p:#?}");
    let s = &p.steps[0];
    assert_eq!(
        s.idempotency_key,
        format!("guardduty-translator:add_to_incident:111111111111:sweep/{KEY}:f-1")
    );
    let Action::AddToIncident {
        incident_arn,
        event_data,
        client_token,
        event_time,
        ..
    } = &s.action
    else {
        panic!("{s:#?}")
    };
    assert_eq!(incident_arn, ARN);
    assert_eq!(*event_time, now);
    assert!(event_data.starts_with(&format!("Contained key {KEY}")));
    assert!(event_data.contains("action 001: 2026-12-01T09:00:00Z CreateUser (event e-1)"));
    assert!(client_token.len() <= 128);
    assert_eq!(
        s.action.iam_permissions(),
        ["ssm-incidents:CreateTimelineEvent"]
    );
    // A long list is cut at whole lines, within the service's 12,000 characters.
    let long = plan(&report(vec![(listing(400), Outcome::Duplicate)]), ARN, now);
    let Action::AddToIncident { event_data, .. } = &long.steps[0].action else {
        panic!()
    };
    assert!(event_data.chars().count() <= TIMELINE_EVENT_LIMIT);
    assert!(event_data.ends_with("more line(s) not shown: see the notice"));
    // Nothing listed, nothing to add; nor without an event to key the steps on.
    assert_eq!(
        plan(&report(vec![]), ARN, now).decision.name(),
        "nothing_to_do"
    );
    let mut unnamed = report(vec![(listing(2), Outcome::Duplicate)]);
    unnamed.event_id = None;
    assert!(plan(&unnamed, ARN, now).steps.is_empty());
}
