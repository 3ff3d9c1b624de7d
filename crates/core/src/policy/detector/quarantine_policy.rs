//! `quarantine-policy-attached` (critical): AWS found one of a user's keys exposed in
//! public and quarantined the user: the managed `AWSCompromisedKeyQuarantine` (and its
//! `V2`, `V3` and any later version) attached, or the inline
//! `AWSExposedCredentialPolicy_DO_NOT_REMOVE` put on the user. It names the user, never
//! contains every key of theirs blindly: the key itself is contained from the AWS Health
//! event that names it.

use super::Alert;
use crate::events::{ApiCall, CloudTrailRecord};
use crate::notice::Severity;

const EXPOSED_INLINE: &str = "AWSExposedCredentialPolicy_DO_NOT_REMOVE";

pub fn check(r: &CloudTrailRecord) -> Option<Alert> {
    if !r.succeeded() {
        return None;
    }
    let (what, user) = match &r.call {
        ApiCall::AttachUserPolicy(call) => {
            let policy = call.policy_arn.as_deref()?;
            if !policy.contains(":policy/AWSCompromisedKeyQuarantine") {
                return None;
            }
            (format!("{policy} attached to"), call.user_name.as_deref())
        }
        _ if r.event_source == "iam.amazonaws.com" && r.event_name == "PutUserPolicy" => {
            let params = r.request_parameters.as_ref()?;
            if params.get("policyName")?.as_str()? != EXPOSED_INLINE {
                return None;
            }
            let user = params.get("userName").and_then(|u| u.as_str());
            (format!("inline policy {EXPOSED_INLINE} put on"), user)
        }
        _ => return None,
    };
    Some(Alert {
        rule: "quarantine-policy-attached",
        severity: Severity::Critical,
        why: "AWS quarantines a user when it finds the user's access key exposed",
        summary: format!("{what} user {}", user.unwrap_or("(unknown)")),
        contain: None,
    })
}
