//! `role-trust-backdoor` (high): `CreateRole` or `UpdateAssumeRolePolicy` whose trust
//! policy lets a principal outside the account assume the role: `*` (anyone with an AWS
//! account), or a principal of another account, with no condition tying it to the
//! organisation (`aws:PrincipalOrgID`, `aws:PrincipalOrgPaths`). Stratus Red Team's
//! `iam-backdoor-role` and `iam-create-backdoor-role`; panther's `AWS.IAM.BackdoorRole`,
//! which fires on `*` even behind an `sts:ExternalId` condition (an external id is a
//! shared string, not a boundary), as this rule does.
//!
//! Service and federated principals are left to other controls: a service trust admits an
//! AWS service, and a web-identity trust is narrowed by conditions this rule cannot judge.
//! The caller's key is not contained: administrators write trust policies by design, and
//! an account of the organisation is indistinguishable here from an outsider's when the
//! policy says nothing about the organisation, so this alerts and leaves the judgement.

use super::Alert;
use crate::events::CloudTrailRecord;
use crate::notice::Severity;
use serde_json::Value;

/// The trust policy's field in each call's request.
fn document_field(event: &str) -> Option<&'static str> {
    match event {
        "CreateRole" => Some("assumeRolePolicyDocument"),
        "UpdateAssumeRolePolicy" => Some("policyDocument"),
        _ => None,
    }
}

fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(all) => all.iter().collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    }
}

/// The account an AWS principal names: `123456789012`, or an ARN's fifth field.
fn principal_account(p: &str) -> Option<&str> {
    if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
        return Some(p);
    }
    p.strip_prefix("arn:")?.split(':').nth(3)
}

/// Who outside `home` the statement admits, if anyone: `*`, or another account.
fn outsider(statement: &Value, home: Option<&str>) -> Option<String> {
    if statement["Effect"] != "Allow" {
        return None;
    }
    let assumes = one_or_many(&statement["Action"]).iter().any(|a| {
        a.as_str().is_some_and(|a| {
            a == "*"
                || a.eq_ignore_ascii_case("sts:*")
                || a.to_ascii_lowercase().starts_with("sts:assumerole")
        })
    });
    if !assumes {
        return None;
    }
    let conditions = statement["Condition"].to_string().to_ascii_lowercase();
    if conditions.contains("aws:principalorgid") || conditions.contains("aws:principalorgpaths") {
        return None;
    }
    let aws = match &statement["Principal"] {
        Value::String(s) if s == "*" => return Some("anyone (Principal *)".into()),
        Value::Object(p) => p.get("AWS").map(one_or_many).unwrap_or_default(),
        _ => return None,
    };
    aws.iter().filter_map(|p| p.as_str()).find_map(|p| {
        if p == "*" {
            return Some("anyone (AWS *)".into());
        }
        let account = principal_account(p)?;
        (Some(account) != home).then(|| format!("account {account} ({p})"))
    })
}

pub fn check(r: &CloudTrailRecord) -> Option<Alert> {
    let field = document_field(&r.event_name)?;
    if r.event_source != "iam.amazonaws.com" || !r.succeeded() {
        return None;
    }
    let params = r.request_parameters.as_ref()?;
    let doc: Value = match params.get(field)? {
        Value::String(s) => serde_json::from_str(s).ok()?,
        v @ Value::Object(_) => v.clone(),
        _ => return None,
    };
    let home = r
        .recipient_account_id
        .as_deref()
        .or(r.user_identity.account_id.as_deref());
    let admitted = one_or_many(&doc["Statement"])
        .into_iter()
        .find_map(|s| outsider(s, home))?;
    let role = params
        .get("roleName")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)");
    let who = r
        .user_identity
        .arn
        .as_deref()
        .unwrap_or("an unknown caller");
    let verb = if r.event_name == "CreateRole" {
        "created role"
    } else {
        "changed the trust policy of role"
    };
    Some(Alert {
        rule: "role-trust-backdoor",
        severity: Severity::High,
        why: "a role that a principal outside the account can assume is a way back in after a compromise",
        summary: format!("{who} {verb} {role}, assumable by {admitted}"),
        contain: None,
    })
}
