//! One CloudWatch embedded-metric-format (EMF) line per invocation: what the run did, as
//! numbers CloudWatch extracts from the function's log (no `PutMetricData`, no extra
//! permission), under namespace `keyguard` with one dimension, `function`. The templates'
//! alarms watch `StepsFailed`; the rest graphs what keyguard does.
//!
//! The line is the specification's document: a root object whose `_aws` member holds the
//! `Timestamp` (milliseconds since the epoch) and one metric directive naming the
//! namespace, the dimension set and each metric with its unit; the dimension and every
//! metric are members of the root beside it.

use crate::report::{Outcome, Report};
use crate::time::Timestamp;
use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "keyguard";

/// The metrics, with their units, in the order the line names them.
pub const METRICS: &[(&str, &str)] = &[
    ("StepsApplied", "Count"),
    ("StepsFailed", "Count"),
    ("StepsDuplicate", "Count"),
    ("StepsSuppressed", "Count"),
    ("Refused", "Count"),
    ("Duration", "Milliseconds"),
];

/// The EMF document for one invocation's report, which took `duration_ms`, ending `at`.
pub fn emf(report: &Report, duration_ms: f64, at: Timestamp) -> Value {
    let count = |f: fn(&Outcome) -> bool| report.steps.iter().filter(|s| f(&s.outcome)).count();
    let values = [
        count(|o| matches!(o, Outcome::Applied { .. })) as f64,
        // A step that may not have happened (a claim still in its lease) is not done: it
        // counts with the failures.
        count(|o| matches!(o, Outcome::Failed { .. } | Outcome::InProgress { .. })) as f64,
        count(|o| matches!(o, Outcome::Duplicate)) as f64,
        count(|o| matches!(o, Outcome::Suppressed { .. })) as f64,
        f64::from(u8::from(matches!(
            report.decision,
            crate::plan::Decision::Refused { .. }
        ))),
        duration_ms.max(0.0),
    ];
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["function"]],
                "Metrics": METRICS.iter().map(|(name, unit)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        }),
    );
    root.insert("function".into(), Value::String(report.function.clone()));
    for ((name, _), value) in METRICS.iter().zip(values) {
        root.insert((*name).into(), json!(value));
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests;
