//! How a result is shown: a table for a person at a terminal, JSON for a script (the
//! default when the output is piped), whichever `--output` asks for.

use serde_json::Value;
use std::io::IsTerminal;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

impl Format {
    /// The format asked for, else a table on a terminal and JSON when piped.
    pub fn chosen(asked: Option<Self>) -> Self {
        asked.unwrap_or_else(|| {
            if std::io::stdout().is_terminal() {
                Self::Table
            } else {
                Self::Json
            }
        })
    }
}

/// A plan for a person: its decision and why, then one line per step (action, where it
/// acts, and the reason), in the plan's order. Text from the event is cleaned as notices
/// are (no control or bidi characters reach the terminal).
pub fn plan_table(plan: &Value) -> String {
    let text = |v: &Value| keyguard_core::notice::clean(v.as_str().unwrap_or(""), 2_000);
    let mut out = format!(
        "{} {}: {}",
        text(&plan["function"]),
        text(&plan["event_id"]),
        text(&plan["decision"])
    );
    if let Some(why) = plan["why"].as_str().or(plan["what"].as_str()) {
        out.push_str(&format!(" ({})", keyguard_core::notice::clean(why, 2_000)));
    }
    out.push('\n');
    let steps = plan["steps"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if steps.is_empty() {
        out.push_str("  (no steps)\n");
    }
    let width = steps
        .iter()
        .map(|s| text(&s["action"]["type"]).len())
        .max()
        .unwrap_or(0);
    for (n, s) in steps.iter().enumerate() {
        let account = s["scope"]["account"].as_str().unwrap_or("-");
        out.push_str(&format!(
            "  {:>2}. {:<width$}  {account:<12}  {}\n",
            n + 1,
            text(&s["action"]["type"]),
            text(&s["reason"])
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_plan_reads_as_a_decision_and_its_steps_in_order() {
        let plan = json!({"function": "deactivate-key", "event_id": "ev-1", "decision": "act",
        "steps": [
            {"action": {"type": "deactivate_key"}, "reason": "key leaked", "scope": {"account": "111111111111"}},
            {"action": {"type": "notify"}, "reason": "tell the team"}
        ]});
        let table = plan_table(&plan);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "deactivate-key ev-1: act");
        assert!(
            lines[1].contains("1. deactivate_key")
                && lines[1].contains("111111111111")
                && lines[1].ends_with("key leaked"),
            "{table}"
        );
        assert!(
            lines[2].contains("2. notify") && lines[2].contains("  -  "),
            "{table}"
        );
        let refused = json!({"function": "deactivate-key", "event_id": "ev-2", "decision": "refused", "why": "forged", "steps": []});
        assert_eq!(
            plan_table(&refused),
            "deactivate-key ev-2: refused (forged)\n  (no steps)\n"
        );
    }
}
