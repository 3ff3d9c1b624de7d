//! Each function's template pages the notice topic on what needs a person: an invocation
//! that failed, a step that did not go through (keyguard's own `StepsFailed`, from the
//! EMF line every invocation logs), an event left in the on-failure queue, and, for
//! age-rotation, a daily run that did not happen.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use keyguard_testkit::infra::{self, FUNCTIONS};
use serde_json::{json, Value};

/// The template's alarms on `namespace`/`metric`.
fn alarms<'a>(
    t: &'a Value,
    namespace: &'a str,
    metric: &'a str,
) -> impl Iterator<Item = &'a Value> {
    t["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(move |r| {
            let p = &r["Properties"];
            (r["Type"] == "AWS::CloudWatch::Alarm"
                && p["Namespace"] == namespace
                && p["MetricName"] == metric)
                .then_some(p)
        })
}

/// The template's (first) alarm on `namespace`/`metric`, if there is one.
fn alarm<'a>(t: &'a Value, namespace: &'a str, metric: &'a str) -> Option<&'a Value> {
    alarms(t, namespace, metric).next()
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
        // Every queue of what failed for good (a `-failed` name: the on-failure queue,
        // age-rotation's account dead letters) pages when a message waits in it.
        let paged: Vec<&Value> = alarms(&t, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
            .filter(|a| to_topic(a))
            .map(|a| &a["Dimensions"][0]["Value"])
            .collect();
        let dead: Vec<Value> = t["Resources"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, r)| {
                r["Type"] == "AWS::SQS::Queue"
                    && r["Properties"]["QueueName"]
                        .as_str()
                        .is_some_and(|n| n.ends_with("-failed"))
            })
            .map(|(name, _)| json!({ "GetAtt": format!("{name}.QueueName") }))
            .collect();
        assert!(
            dead.contains(&json!({"GetAtt": "FailedEvents.QueueName"})),
            "{function}: no on-failure queue"
        );
        for queue in &dead {
            assert!(paged.contains(&queue), "{function}: no alarm on {queue}");
        }
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
