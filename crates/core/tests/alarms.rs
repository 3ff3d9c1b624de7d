//! Each function's template pages the notice topic on what needs a person: an invocation
//! that failed, a step that did not go through (keyguard's own `StepsFailed`, from the
//! EMF line every invocation logs), an event left in the on-failure queue, and, for
//! age-rotation, a daily run that did not happen.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use keyguard_testkit::infra::{self, FUNCTIONS};
use serde_json::{json, Value};

/// The template's alarm on `namespace`/`metric`, if there is one.
fn alarm<'a>(t: &'a Value, namespace: &str, metric: &str) -> Option<&'a Value> {
    t["Resources"].as_object().unwrap().values().find_map(|r| {
        let p = &r["Properties"];
        (r["Type"] == "AWS::CloudWatch::Alarm"
            && p["Namespace"] == namespace
            && p["MetricName"] == metric)
            .then_some(p)
    })
}

#[test]
fn every_function_pages_on_failed_invocations_failed_steps_and_failed_events() {
    for function in FUNCTIONS {
        let t = infra::template(function);
        let to_topic = |p: &Value| p["AlarmActions"] == json!([{"Ref": "NoticeTopicArn"}]);
        let errors = alarm(&t, "AWS/Lambda", "Errors")
            .unwrap_or_else(|| panic!("{function}: no alarm on failed invocations"));
        assert_eq!(
            errors["Dimensions"],
            json!([{"Name": "FunctionName", "Value": {"Ref": "Function"}}]),
            "{function}"
        );
        assert!(to_topic(errors), "{function}");
        let steps = alarm(&t, keyguard_core::metrics::NAMESPACE, "StepsFailed")
            .unwrap_or_else(|| panic!("{function}: no alarm on failed steps"));
        // The dimension the function's own EMF line carries.
        assert_eq!(
            steps["Dimensions"],
            json!([{"Name": "function", "Value": function}]),
            "{function}"
        );
        assert!(keyguard_core::metrics::METRICS
            .iter()
            .any(|(m, _)| *m == "StepsFailed"));
        assert!(to_topic(steps), "{function}");
        let queue = alarm(&t, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
            .unwrap_or_else(|| panic!("{function}: no alarm on the on-failure queue"));
        assert_eq!(
            queue["Dimensions"][0]["Value"],
            json!({"GetAtt": "FailedEvents.QueueName"}),
            "{function}"
        );
        assert!(to_topic(queue), "{function}");
    }
}

#[test]
fn a_daily_scan_that_did_not_run_is_an_alarm() {
    let t = infra::template("age-rotation");
    let none =
        alarm(&t, "AWS/Lambda", "Invocations").expect("an alarm on age-rotation's invocations");
    assert_eq!(none["ComparisonOperator"], "LessThanThreshold");
    assert_eq!(none["TreatMissingData"], "breaching", "no data is no run");
    // Hours with nothing, over a day and an hour: every one of them empty. A single
    // day-long period would page each morning between yesterday's run and today's.
    let period = none["Period"].as_u64().unwrap();
    let hours = none["EvaluationPeriods"].as_u64().unwrap();
    assert_eq!(period, 3600);
    assert_eq!(none["DatapointsToAlarm"].as_u64(), Some(hours));
    assert!(
        (24 * 3600 + 1..=26 * 3600).contains(&(period * hours)),
        "{hours} h"
    );
}
