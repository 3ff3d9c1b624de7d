use super::*;
use crate::notice::{Notice, Severity};
use crate::plan::{Action, Decision, Plan, Step};
use crate::report::StepReport;

fn report(decision: Decision, outcomes: Vec<Outcome>) -> Report {
    let plan = Plan::new("deactivate-key", decision);
    let steps = outcomes
        .into_iter()
        .map(|outcome| StepReport {
            step: Step {
                replaces: None,
                action: Action::Notify {
                    notice: Notice::new(Severity::High, "x"),
                },
                reason: "r".into(),
                idempotency_key: "k".into(),
                window: None,
                after: None,
                scope: None,
            },
            outcome,
            retried: false,
        })
        .collect();
    Report::new(plan, false, steps)
}

#[test]
fn the_line_is_one_emf_document_whose_directive_names_every_member_it_holds() {
    let at = crate::parse_time("2026-12-07T10:00:00.250Z").unwrap();
    let r = report(
        Decision::Act,
        vec![
            Outcome::Applied { detail: None },
            Outcome::Applied { detail: None },
            Outcome::Duplicate,
            Outcome::Suppressed { window: "w".into() },
            Outcome::Failed {
                code: None,
                message: "m".into(),
            },
            Outcome::InProgress {
                message: "m".into(),
            },
            Outcome::Planned,
        ],
    );
    // One line of JSON, parsed back as CloudWatch reads it.
    let line = emf(&r, 42.5, at).to_string();
    assert!(!line.contains('\n'));
    let doc: Value = serde_json::from_str(&line).unwrap();
    let meta = &doc["_aws"];
    assert_eq!(meta["Timestamp"], json!(1_796_637_600_250_i64));
    let directives = meta["CloudWatchMetrics"].as_array().unwrap();
    assert_eq!(directives.len(), 1);
    let d = &directives[0];
    assert_eq!(d["Namespace"], "keyguard");
    // Every dimension key is a string member of the root, every metric a number.
    for set in d["Dimensions"].as_array().unwrap() {
        for key in set.as_array().unwrap() {
            assert!(doc[key.as_str().unwrap()].is_string(), "{key}");
        }
    }
    let names: Vec<&str> = d["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let name = m["Name"].as_str().unwrap();
            assert!(doc[name].is_number(), "{name}");
            assert!(["Count", "Milliseconds"].contains(&m["Unit"].as_str().unwrap()));
            name
        })
        .collect();
    assert_eq!(names.len(), METRICS.len());
    assert_eq!(doc["function"], "deactivate-key");
    for (name, want) in [
        ("StepsApplied", 2.0),
        ("StepsFailed", 2.0),
        ("StepsDuplicate", 1.0),
        ("StepsSuppressed", 1.0),
        ("Refused", 0.0),
        ("Duration", 42.5),
    ] {
        assert_eq!(doc[name].as_f64(), Some(want), "{name}: {line}");
    }
    // Nothing else at the root: the spec's members and ours.
    assert_eq!(doc.as_object().unwrap().len(), 2 + METRICS.len());
}

#[test]
fn a_refused_event_counts_one_refusal_and_no_steps() {
    let r = report(
        Decision::Refused {
            why: "untrusted".into(),
        },
        vec![],
    );
    let doc = emf(&r, -1.0, crate::parse_time("2026-12-07T10:00:00Z").unwrap());
    assert_eq!(doc["Refused"].as_f64(), Some(1.0));
    assert_eq!(doc["StepsApplied"].as_f64(), Some(0.0));
    assert_eq!(
        doc["Duration"].as_f64(),
        Some(0.0),
        "a clock that went back is 0"
    );
}
