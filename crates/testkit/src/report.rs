//! Reading a function's report in tests: its steps as (action, outcome) pairs.

use serde_json::Value;

/// The report's steps: (action type, outcome), in order.
pub fn steps(report: &Value) -> Vec<(String, String)> {
    report["steps"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|s| {
                    let text = |v: &Value| v.as_str().unwrap_or("?").to_owned();
                    (text(&s["action"]["type"]), text(&s["outcome"]))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Expected steps, written as string pairs.
pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}
