//! `admin-policy-attached` (high): `AdministratorAccess` attached to a user, role or group:
//! full control granted in one call.

use super::Alert;
use crate::events::CloudTrailRecord;
use crate::notice::Severity;

const CALLS: &[&str] = &["AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy"];

pub fn check(r: &CloudTrailRecord) -> Option<Alert> {
    if !CALLS.contains(&r.event_name.as_str()) || !r.succeeded() {
        return None;
    }
    let params = r.request_parameters.as_ref()?;
    let policy = params.get("policyArn")?.as_str()?;
    if !policy.ends_with(":policy/AdministratorAccess") {
        return None;
    }
    let to = ["userName", "roleName", "groupName"]
        .iter()
        .find_map(|k| {
            params
                .get(*k)
                .and_then(|v| v.as_str())
                .map(|v| format!("{} {v}", &k[..k.len() - 4]))
        })
        .unwrap_or_else(|| "a principal".into());
    Some(Alert {
        rule: "admin-policy-attached",
        severity: Severity::High,
        why: "AdministratorAccess grants every permission",
        summary: format!("AdministratorAccess attached to {to}"),
        contain: None,
    })
}
