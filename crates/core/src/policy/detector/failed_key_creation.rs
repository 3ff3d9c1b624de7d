//! `failed-key-creation` (medium): `CreateAccessKey` refused (`AccessDenied`,
//! `LimitExceeded`, ...): often someone probing what a stolen credential may do. No key
//! exists, so nothing to contain.

use super::Alert;
use crate::events::{ApiCall, CloudTrailRecord};
use crate::notice::Severity;

pub fn check(r: &CloudTrailRecord) -> Option<Alert> {
    let ApiCall::CreateAccessKey(call) = &r.call else {
        return None;
    };
    let code = r.error_code.as_deref().filter(|c| !c.is_empty())?;
    Some(Alert {
        rule: "failed-key-creation",
        severity: Severity::Medium,
        why: "a refused CreateAccessKey is often a stolen credential being probed",
        summary: format!(
            "{} failed to create an access key for {} ({code})",
            r.user_identity.arn.as_deref().unwrap_or("a caller"),
            call.requested_user.as_deref().unwrap_or("itself")
        ),
        contain: None,
    })
}
