//! `root-key-created` (critical): the root user created an access key for itself. Root keys
//! can do anything and IAM cannot contain them: alert only.

use super::Alert;
use crate::events::{ApiCall, CloudTrailRecord, IdentityType};
use crate::notice::Severity;

pub fn check(r: &CloudTrailRecord) -> Option<Alert> {
    let ApiCall::CreateAccessKey(call) = &r.call else {
        return None;
    };
    if r.user_identity.identity_type != IdentityType::Root || !r.succeeded() {
        return None;
    }
    // Root creating a key for an IAM user is not a root key (backdoor-key covers it).
    if call.requested_user.is_some() {
        return None;
    }
    Some(Alert {
        rule: "root-key-created",
        severity: Severity::Critical,
        why: "root access keys have every permission and cannot be restricted or contained by IAM",
        summary: format!(
            "the root user of {} created an access key",
            r.user_identity
                .account_id
                .as_deref()
                .unwrap_or("the account")
        ),
        contain: None,
    })
}
