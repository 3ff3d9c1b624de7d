//! `user-created-with-key` (high): a successful `CreateAccessKey` for a user that the
//! same caller created less than `CORRELATION_MINUTES` before: a new identity with a key
//! of its own is a way back in that survives the caller's containment (Stratus Red
//! Team's `iam-create-admin-user`). `backdoor-key` already hands off the key created;
//! this rule hands off the caller's own long-term key, which built the backdoor. A
//! caller that is a role's session is alerted on, and nothing of it is containable.
//!
//! "The same caller" is the same principal in the same account: the same user, or any
//! session of the same role, names compared regardless of case. Roles in
//! `TRUSTED_KEY_CREATORS` (an onboarding pipeline) and the root user are not counted, as
//! for `backdoor-key`.

use super::memory::{event_time, same_caller, trusted_caller, Recall, SKEW};
use super::{long_term, Alert};
use crate::events::{ApiCall, CloudTrailRecord, IdentityType};
use crate::guard::{same_name, NameSet};
use crate::notice::Severity;

pub const RULE: &str = "user-created-with-key";

pub fn check(
    r: &CloudTrailRecord,
    recall: &Recall,
    minutes: u32,
    trusted: &NameSet,
) -> Option<Alert> {
    let ApiCall::CreateAccessKey(call) = &r.call else {
        return None;
    };
    let created = recall.user_created.as_ref()?;
    let id = &r.user_identity;
    if !r.succeeded() || id.identity_type == IdentityType::Root || trusted_caller(r, trusted) {
        return None;
    }
    let target = call.requested_user.as_deref()?;
    let caller = id.arn.as_deref()?;
    if !same_name(target, &created.user) || !same_caller(caller, &created.created_by) {
        return None;
    }
    let age = event_time(r)? - created.at;
    if age < -SKEW || age > chrono::Duration::minutes(i64::from(minutes)) {
        return None;
    }
    Some(Alert {
        rule: RULE,
        severity: Severity::High,
        why: "a caller that creates a user and then a key for it is building a way back in that outlives its own containment",
        summary: format!(
            "{caller} created user {target} and, {} min later, an access key for it",
            age.num_minutes().max(0)
        ),
        contain: long_term(id.access_key_id.as_deref(), id.user_name.as_deref()),
    })
}

#[cfg(test)]
mod tests;
