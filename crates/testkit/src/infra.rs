//! A function's SAM template (`infra/<function>/template.yaml`) and its page
//! (`docs/<function>.md`) against what the function reads: every variable the template
//! sets is one the function reads, the function accepts the template's environment (so
//! every variable it requires is set), and the page's configuration tables list exactly
//! the variables it reads.
//!
//! The template is read through `tools/check_patterns.py --json` (PyYAML from the venv
//! the tests already need, with CloudFormation's short-form tags kept).

use serde_json::Value;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// Read by the runtime or the SDK rather than the function's settings.
const RUNTIME: &[&str] = &["LOG_LEVEL", "LOG_FORMAT", "AWS_MAX_ATTEMPTS"];

/// The five functions, each with its template under `infra/<function>/`.
pub const FUNCTIONS: [&str; 5] = [
    "deactivate-key",
    "guardduty-translator",
    "createkey-detector",
    "secrets-rotator",
    "age-rotation",
];

pub fn template(function: &str) -> Value {
    template_at(&super::workspace_root().join(format!("infra/{function}/template.yaml")))
}

/// The function's template as deployed with these parameters (the others at their
/// defaults): every `!If` replaced by the branch its condition picks.
pub fn template_with(function: &str, parameters: &[(&str, &str)]) -> Value {
    let t = template(function);
    let given: BTreeMap<&str, &str> = parameters.iter().copied().collect();
    resolved(&t, &t, &given)
}

/// A parameter's value: given, else its default, as text.
fn parameter(t: &Value, name: &str, given: &BTreeMap<&str, &str>) -> String {
    match given.get(name) {
        Some(v) => (*v).to_owned(),
        None => match &t["Parameters"][name]["Default"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => panic!("parameter {name} has no default to read ({other})"),
        },
    }
}

/// The value of a condition expression: `Equals`, `Not`, `And`, `Or`, a named `Condition`.
fn holds(t: &Value, v: &Value, given: &BTreeMap<&str, &str>) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => match other["Ref"].as_str() {
            Some(p) => parameter(t, p, given),
            None => panic!("a condition compares {other}, which this reader cannot"),
        },
    };
    let args = |key: &str| v[key].as_array().cloned().unwrap_or_default();
    if let Some(name) = v.as_str().or_else(|| v["Condition"].as_str()) {
        return holds(t, &t["Conditions"][name], given);
    }
    match v
        .as_object()
        .and_then(|o| o.keys().next())
        .map(String::as_str)
    {
        Some("Equals") => {
            let a = args("Equals");
            text(&a[0]) == text(&a[1])
        }
        Some("Not") => !holds(t, &args("Not")[0], given),
        Some("And") => args("And").iter().all(|c| holds(t, c, given)),
        Some("Or") => args("Or").iter().any(|c| holds(t, c, given)),
        _ => panic!("a condition this reader cannot evaluate: {v}"),
    }
}

fn resolved(t: &Value, v: &Value, given: &BTreeMap<&str, &str>) -> Value {
    match v {
        Value::Object(o) if o.len() == 1 && o.contains_key("If") => {
            let branches = o["If"].as_array().cloned().unwrap_or_default();
            let picked = match holds(t, &branches[0], given) {
                true => &branches[1],
                false => &branches[2],
            };
            resolved(t, picked, given)
        }
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), resolved(t, v, given)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| resolved(t, v, given)).collect()),
        other => other.clone(),
    }
}

/// Any CloudFormation template of the tree, as JSON (short-form tags as `{"Sub": …}`).
pub fn template_at(path: &std::path::Path) -> Value {
    let root = super::workspace_root();
    let out = std::process::Command::new(super::moto::python())
        .arg(root.join("tools/check_patterns.py"))
        .arg("--json")
        .arg(path)
        .output()
        .expect("run tools/check_patterns.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the template as JSON")
}

/// Checks a function's worst case against its template: `worst` (from the environment
/// as deployed, with `SECURITY_HUB=true`) must count the finding, and fit the function's
/// `Timeout` with a quarter to spare, or Lambda ends a slow invocation before the step
/// that tells what happened. Returns the environment, for further checks.
pub fn assert_worst_case_fits(
    function: &str,
    worst: impl Fn(&BTreeMap<String, String>) -> std::time::Duration,
) -> BTreeMap<String, String> {
    let timeout = template(function)["Resources"]["Function"]["Properties"]["Timeout"]
        .as_u64()
        .expect("the function's Timeout");
    let mut env = template_env(function);
    env.insert("SECURITY_HUB".into(), "false".into());
    let without = worst(&env);
    env.insert("SECURITY_HUB".into(), "true".into());
    let with = worst(&env);
    assert!(
        with > without,
        "{function}: the Security Hub finding is counted"
    );
    assert!(
        with.as_secs_f64() * 1.25 <= timeout as f64,
        "{function}: worst case {with:?} does not fit Timeout {timeout} s with a 25% margin"
    );
    env
}

/// The function's environment as the template sets it: literals as they are, a `!Ref` to a
/// parameter as its default, anything else (an ARN from another stack) as a well-formed
/// placeholder.
pub fn template_env(function: &str) -> BTreeMap<String, String> {
    template_env_with(function, &[])
}

/// [`template_env`] as deployed with these parameters ([`template_with`]).
pub fn template_env_with(function: &str, parameters: &[(&str, &str)]) -> BTreeMap<String, String> {
    let t = template_with(function, parameters);
    let vars = t["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    vars.into_iter()
        .map(|(name, v)| {
            let value = match &v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    let param = other["Ref"].as_str().unwrap_or_default();
                    match &t["Parameters"][param]["Default"] {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        _ if name.ends_with("_ARN") || name.ends_with("_SECRET_ID") => {
                            format!("arn:aws:sns:us-east-1:123456789012:{param}")
                        }
                        _ if name.ends_with("EMAIL") => "keyguard@example.com".to_owned(),
                        _ => format!("placeholder-{param}"),
                    }
                }
            };
            (name, value)
        })
        .collect()
}

/// Builds the function's settings from its template's environment (through `settings`,
/// which gets a lookup to read from) and checks both directions.
pub fn check_env(
    function: &str,
    settings: impl Fn(&dyn Fn(&str) -> Option<String>) -> Result<(), String>,
) {
    let env = template_env(function);
    assert!(!env.is_empty(), "{function}'s template sets no environment");
    let asked = RefCell::new(BTreeSet::new());
    let lookup = |name: &str| {
        asked.borrow_mut().insert(name.to_owned());
        env.get(name).cloned()
    };
    if let Err(e) = settings(&lookup) {
        panic!("{function} refuses its template's environment: {e}");
    }
    let asked = asked.into_inner();
    for name in env.keys() {
        assert!(
            asked.contains(name) || RUNTIME.contains(&name.as_str()),
            "infra/{function}/template.yaml sets {name}, which {function} never reads"
        );
    }
    let listed = documented(function);
    // The runtime's and the SDK's own are the function's configuration too.
    for name in RUNTIME {
        assert!(
            listed.contains(*name),
            "docs/{function}.md does not list {name}, which the runtime reads"
        );
    }
    for name in &asked {
        assert!(
            listed.contains(name),
            "{function} reads {name}, which docs/{function}.md does not list"
        );
    }
    for name in &listed {
        assert!(
            asked.contains(name) || RUNTIME.contains(&name.as_str()),
            "docs/{function}.md lists {name}, which {function} never reads"
        );
    }
}

/// The variables `docs/<function>.md` lists: every name in the first column of its
/// configuration tables (those headed `| variable | default | meaning |`).
pub fn documented(function: &str) -> BTreeSet<String> {
    let path = super::workspace_root().join(format!("docs/{function}.md"));
    let page = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut listed = BTreeSet::new();
    let mut in_table = false;
    for line in page.lines() {
        let line = line.trim();
        if line.replace(' ', "") == "|variable|default|meaning|" {
            in_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        if !in_table {
            continue;
        }
        let first = line.trim_matches('|').split('|').next().unwrap_or_default();
        listed.extend(
            first
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|n| {
                    !n.is_empty()
                        && n.chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                })
                .map(str::to_owned),
        );
    }
    assert!(
        !listed.is_empty(),
        "docs/{function}.md has no configuration table (| variable | default | meaning |)"
    );
    listed
}

/// Every action the function's own role is granted, from its template's inline policies.
pub fn granted(function: &str) -> BTreeSet<String> {
    let t = template(function);
    let mut out = BTreeSet::new();
    for policy in t["Resources"]["Role"]["Properties"]["Policies"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for statement in policy["PolicyDocument"]["Statement"]
            .as_array()
            .into_iter()
            .flatten()
        {
            // A statement that exists only when a channel is configured:
            // `!If [Condition, statement, !Ref AWS::NoValue]`, counted as granted.
            let statement = match statement.get("If") {
                Some(branches) => &branches[1],
                None => statement,
            };
            match &statement["Action"] {
                Value::String(a) => {
                    out.insert(a.clone());
                }
                Value::Array(all) => {
                    out.extend(all.iter().filter_map(|a| a.as_str().map(str::to_owned)))
                }
                _ => {}
            }
        }
    }
    out
}
