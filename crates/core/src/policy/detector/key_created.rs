//! `key-created` (info): a user created an access key for themselves. Routine, but worth a
//! trace next to the other rules.

use super::{caller_user, Alert};
use crate::events::{ApiCall, CloudTrailRecord, IdentityType};
use crate::notice::Severity;

pub fn check(r: &CloudTrailRecord) -> Option<Alert> {
    let ApiCall::CreateAccessKey(call) = &r.call else {
        return None;
    };
    if !r.succeeded() || r.user_identity.identity_type == IdentityType::Root {
        return None;
    }
    let me = caller_user(r)?;
    if call
        .requested_user
        .as_deref()
        .is_some_and(|t| !crate::guard::same_name(t, me))
    {
        return None;
    }
    Some(Alert {
        rule: "key-created",
        severity: Severity::Info,
        why: "a new long-term credential exists",
        summary: format!("user {me} created an access key for themselves"),
        contain: None,
    })
}
