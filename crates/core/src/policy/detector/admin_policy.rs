//! `admin-policy-attached` (high): `AdministratorAccess` attached to a user, role or group:
//! full control granted in one call.

use super::{policy_holder, Alert};
use crate::events::CloudTrailRecord;
use crate::notice::Severity;

const CALLS: &[&str] = &["AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy"];

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
    let policy = params.get("policyArn")?.as_str()?;
    if !policy.ends_with(":policy/AdministratorAccess") {
        return None;
    }
    let to = policy_holder(params);
    Some(Alert {
        rule: "admin-policy-attached",
        severity: Severity::High,
        why: "AdministratorAccess grants every permission",
        summary: format!("AdministratorAccess attached to {to}"),
        contain: None,
    })
}
