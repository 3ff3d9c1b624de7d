//! `quarantine-policy-attached` (critical): AWS attached `AWSCompromisedKeyQuarantine*` to
//! a user: AWS found that user's key exposed in public.

use super::Alert;
use crate::events::{ApiCall, CloudTrailRecord};
use crate::notice::Severity;

pub fn check(r: &CloudTrailRecord) -> Option<Alert> {
    let ApiCall::AttachUserPolicy(call) = &r.call else {
        return None;
    };
    let policy = call.policy_arn.as_deref()?;
    if !r.succeeded() || !policy.contains(":policy/AWSCompromisedKeyQuarantine") {
        return None;
    }
    Some(Alert {
        rule: "quarantine-policy-attached",
        severity: Severity::Critical,
        why: "AWS quarantines a user when it finds the user's access key exposed",
        summary: format!(
            "{policy} attached to user {}",
            call.user_name.as_deref().unwrap_or("(unknown)")
        ),
        contain: None,
    })
}
