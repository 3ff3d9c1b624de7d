//! `backdoor-key` (high): a successful `CreateAccessKey` for a user other than the caller:
//! a classic way to keep access after a compromise. The caller's user name comes from its
//! ARN and is compared whole, never as a prefix or suffix (`jack` ≠ `jackson`). The root
//! user creating a key for an IAM user is not counted: root can do anything anyway, and
//! the published rule tests treat it as no alert. Nor are roles listed in
//! `TRUSTED_KEY_CREATORS` (keyguard's own rotator creates keys for others by design).
//! A key for a user named like a canary is `canary-key-issued` (high) instead:
//! `keyguard canary create` makes one, but so might someone dressing a backdoor user as
//! a decoy. It is handed off like any backdoor, and deactivate-key decides: a canary
//! that can do nothing (keyguard puts its deny before its key) is left alone with a
//! low notice, anything else is contained.

use super::{caller_user, long_term, Alert};
use crate::events::{ApiCall, CloudTrailRecord, IdentityType};
use crate::guard::{same_name, NameSet};
use crate::notice::Severity;

/// Names compare as IAM compares them, regardless of case: `alice` creating a key for
/// `Alice` creates it for herself.
pub fn check(r: &CloudTrailRecord, trusted_creators: &NameSet) -> Option<Alert> {
    let ApiCall::CreateAccessKey(call) = &r.call else {
        return None;
    };
    if !r.succeeded() || r.user_identity.identity_type == IdentityType::Root {
        return None;
    }
    if super::memory::trusted_caller(r, trusted_creators) {
        return None;
    }
    let target = call.requested_user.as_deref()?;
    if caller_user(r).is_some_and(|me| same_name(me, target)) {
        return None;
    }
    let caller = r
        .user_identity
        .arn
        .as_deref()
        .unwrap_or("an unknown caller");
    let created = call.created.as_ref();
    let contain = long_term(
        created.and_then(|c| c.access_key_id.as_deref()),
        Some(target),
    );
    if crate::canary::named(target) {
        return Some(Alert {
            rule: "canary-key-issued",
            severity: Severity::High,
            why: "a key for a user named like a canary: routine when keyguard canary create made it (deactivate-key checks it can do nothing), otherwise a backdoor dressed as a decoy",
            summary: format!("{caller} created an access key for canary {target}"),
            contain,
        });
    }
    Some(Alert {
        rule: "backdoor-key",
        severity: Severity::High,
        why: "an access key created for another user is a way to keep access after a compromise",
        summary: format!("{caller} created an access key for user {target}"),
        contain,
    })
}
