//! `check-requests [DIR]`: every AWS request keyguard made in the tests and the demo, as
//! the moto launcher described it (`requests-*.jsonl` in `target/test-logs/`, see
//! `tools/moto_requests.py`), evaluated against the role it acted as in the templates
//! (`keyguard_testkit::policy`). Fails, naming the call, the permission, the resource and
//! the statements that name the action, on any request its role would not allow, on a
//! call with no permission mapping, and on a role no template defines. `make test` runs
//! it after the tests and the demo.

use keyguard_testkit::policy::{self, Permission, Verdict};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

/// Requests a test makes on purpose that AWS would refuse, by role, action and resource
/// (a glob), each with why keyguard handles AWS's refusal as it handles moto's answer.
const EXPECTED_DENIALS: &[(&str, &str, &str, &str)] = &[(
    "keyguard-secrets-rotator",
    "secretsmanager:DescribeSecret",
    "arn:aws:secretsmanager:*:*:secret:nope-*",
    "a rotation step for a secret that does not exist: AWS answers AccessDenied (the tag \
     condition), moto ResourceNotFound, and keyguard reads both as no secret of its own (404)",
)];

fn expected_denial(role: &str, p: &Permission) -> bool {
    EXPECTED_DENIALS.iter().any(|(r, action, resource, _)| {
        *r == role && *action == p.action && policy::glob(resource, &p.resource, true, false)
    })
}

/// Roles whose requests every full run makes: none missing, or a client built without
/// `keyguard_aws::as_function` would pass unchecked, as if it were a test's set-up.
const EXPECTED_ROLES: &[&str] = &[
    "keyguard-deactivate-key",
    "keyguard-guardduty-translator",
    "keyguard-age-rotation",
    "keyguard-createkey-detector",
    "keyguard-secrets-rotator",
    "keyguard-runbook",
    // deactivate-key's organisation-mode tests act in member accounts as it.
    "keyguard-member",
    // guardduty-translator's member runbook runs in the member as it.
    "keyguard-member-runbook",
    // secrets-rotator's organisation sweep reads and acts in members as it.
    "keyguard-secrets-rotator-member",
];

#[derive(Default)]
struct Tally {
    requests: usize,
    files: usize,
    expected: usize,
    by_role: BTreeMap<String, usize>,
    checked: BTreeSet<(String, String)>,
    /// (role, what) → (how often, an example)
    failures: BTreeMap<(String, String), (usize, String)>,
}

impl Tally {
    fn fail(&mut self, role: &str, what: String, example: String) {
        let entry = self
            .failures
            .entry((role.to_owned(), what))
            .or_insert((0, example));
        entry.0 += 1;
    }
}

fn permission(raw: &Value) -> Permission {
    Permission {
        action: raw["action"].as_str().unwrap_or_default().to_owned(),
        resource: raw["resource"].as_str().unwrap_or_default().to_owned(),
        context: raw["context"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect(),
    }
}

/// The statements of `role` that name the action at all, for the failure message.
fn naming(statements: &[policy::Statement], action: &str) -> String {
    let named: Vec<String> = statements
        .iter()
        .filter(|s| {
            s.actions
                .iter()
                .any(|a| policy::glob(a, action, true, true))
        })
        .map(|s| {
            let resources: Vec<String> = s
                .resources
                .iter()
                .map(|r| r.replace(policy::ANY, "<parameter>"))
                .collect();
            format!("{} on {}", s.sid, resources.join(", "))
        })
        .collect();
    if named.is_empty() {
        format!("no statement names {action}")
    } else {
        format!("statements naming {action}: {}", named.join("; "))
    }
}

fn check(
    record: &Value,
    roles: &BTreeMap<String, (String, Vec<policy::Statement>)>,
    t: &mut Tally,
) {
    let role = record["role"].as_str().unwrap_or("?");
    let call = record["call"].as_str().unwrap_or("?");
    t.requests += 1;
    *t.by_role.entry(role.to_owned()).or_default() += 1;
    let Some((file, statements)) = roles.get(role) else {
        t.fail(
            role,
            format!("no template under infra/ defines the role {role}"),
            call.to_owned(),
        );
        return;
    };
    if record["unmapped"] == true {
        t.fail(
            role,
            format!("{call} has no permission mapping in tools/moto_requests.py: add one"),
            call.to_owned(),
        );
        return;
    }
    let account = record["account"].as_str().unwrap_or_default();
    let region = record["region"].as_str().unwrap_or_default();
    for raw in record["permissions"].as_array().into_iter().flatten() {
        let p = permission(raw);
        t.checked.insert((role.to_owned(), p.action.clone()));
        match policy::evaluate(statements, &p, account, region) {
            Verdict::Allowed { .. } => {}
            _ if expected_denial(role, &p) => t.expected += 1,
            Verdict::Denied { by } => t.fail(
                role,
                format!("{call}: {} is denied by {by} in {file}", p.action),
                format!("first on {}, context {:?}", p.resource, p.context),
            ),
            Verdict::NotAllowed => t.fail(
                role,
                format!(
                    "{call}: nothing in {file} allows {} ({})",
                    p.action,
                    naming(statements, &p.action)
                ),
                format!("first on {}, context {:?}", p.resource, p.context),
            ),
        }
    }
}

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(keyguard_testkit::logs::dir);
    let roles = policy::roles();
    let mut t = Tally::default();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("requests-") && n.ends_with(".jsonl"))
        })
        .collect();
    paths.sort();
    for path in &paths {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        t.files += 1;
        for (n, line) in text.lines().enumerate() {
            match serde_json::from_str::<Value>(line) {
                Ok(record) => check(&record, &roles, &mut t),
                Err(e) => t.fail(
                    "?",
                    format!("{}:{}: not a request record: {e}", path.display(), n + 1),
                    String::new(),
                ),
            }
        }
    }
    for ((role, what), (count, example)) in &t.failures {
        eprintln!("check-requests: {role}: {what} [{count}x; {example}]");
    }
    let roles_seen: Vec<String> = t.by_role.iter().map(|(r, n)| format!("{r} {n}")).collect();
    println!(
        "check-requests: {} requests in {} files ({}), {} distinct role permissions, {} denied, {} denied as a test intends",
        t.requests,
        t.files,
        roles_seen.join(", "),
        t.checked.len(),
        t.failures.len(),
        t.expected
    );
    let missing: Vec<&str> = EXPECTED_ROLES
        .iter()
        .filter(|r| !t.by_role.contains_key(**r))
        .copied()
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "check-requests: no request was made as {}: are its clients built without keyguard_aws::as_function?",
            missing.join(", ")
        );
        return ExitCode::FAILURE;
    }
    if t.files == 0 {
        eprintln!(
            "check-requests: no request log in {}: run the tests first",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    if t.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
