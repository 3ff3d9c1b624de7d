//! `inline-admin-policy` (high): `PutUserPolicy`, `PutRolePolicy` or `PutGroupPolicy` whose
//! document allows every action on every resource: `AdministratorAccess` written inline,
//! where `admin-policy-attached` does not look. A deny (keyguard's own revocation, a
//! quarantine) never fires it.

use super::{policy_holder, Alert};
use crate::events::CloudTrailRecord;
use crate::notice::Severity;
use serde_json::Value;

const CALLS: &[&str] = &["PutUserPolicy", "PutRolePolicy", "PutGroupPolicy"];

/// `*`, alone or in a list.
fn everything(v: &Value) -> bool {
    match v {
        Value::String(s) => s == "*",
        Value::Array(all) => all.iter().any(|x| x.as_str() == Some("*")),
        _ => false,
    }
}

/// The document as CloudTrail records it: JSON text (as sent), or already an object.
fn document(raw: &Value) -> Option<Value> {
    match raw {
        Value::String(s) => serde_json::from_str(s).ok(),
        Value::Object(_) => Some(raw.clone()),
        _ => None,
    }
}

pub fn check(r: &CloudTrailRecord) -> Option<Alert> {
    // IAM's calls only: another service's call of the same name grants nothing here,
    // and replay decodes only the requests of the calls its rules read.
    if r.event_source != "iam.amazonaws.com"
        || !CALLS.contains(&r.event_name.as_str())
        || !r.succeeded()
    {
        return None;
    }
    let params = r.request_parameters.as_ref()?;
    let doc = document(params.get("policyDocument")?)?;
    let statements = match &doc["Statement"] {
        Value::Array(all) => all.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => return None,
    };
    let admin = statements
        .iter()
        .any(|s| s["Effect"] == "Allow" && everything(&s["Action"]) && everything(&s["Resource"]));
    if !admin {
        return None;
    }
    let to = policy_holder(params);
    let name = params
        .get("policyName")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)");
    Some(Alert {
        rule: "inline-admin-policy",
        severity: Severity::High,
        why: "an inline policy allowing every action on every resource is AdministratorAccess by another name",
        summary: format!("inline policy {name} allowing * on * put on {to}"),
        contain: None,
    })
}
