//! `console-backdoor` (high): a successful `CreateLoginProfile` or `UpdateLoginProfile`
//! that gives another user a console password the caller knows (Stratus Red Team's
//! `iam-create-user-login-profile` and `iam-update-user-login-profile`). The caller is
//! named by its ARN's last segment, as panther-analysis names it: the user of an IAM user,
//! the session of an assumed role (a person's SSO session carries their name). A password
//! set with `passwordResetRequired` is `console-password-reset` (low) instead: an
//! administrator's routine reset, which panther does not alert on, but the caller still
//! knows the first password, so keyguard says so below the medium line. The caller's own
//! credential is not contained: administrators set other users' passwords by design, and
//! a false positive would lock the administrator out.

use super::Alert;
use crate::events::{ApiCall, CloudTrailRecord, IdentityType};
use crate::guard::same_name;
use crate::notice::Severity;

pub fn check(r: &CloudTrailRecord) -> Option<Alert> {
    let (call, verb) = match &r.call {
        ApiCall::CreateLoginProfile(c) => (c, "created"),
        ApiCall::UpdateLoginProfile(c) => (c, "changed"),
        _ => return None,
    };
    if !r.succeeded() || r.user_identity.identity_type == IdentityType::Root {
        return None;
    }
    let target = call.user_name.as_deref()?;
    let caller_arn = r.user_identity.arn.as_deref();
    let caller = caller_arn.and_then(|a| a.rsplit('/').next());
    if caller.is_some_and(|me| same_name(me, target)) {
        return None;
    }
    let who = caller_arn.unwrap_or("an unknown caller");
    Some(if call.password_reset_required == Some(true) {
        Alert {
            rule: "console-password-reset",
            severity: Severity::Low,
            why: "a password set for another user with a reset required: routine for an administrator, yet the caller knows the first one",
            summary: format!("{who} {verb} the console password of user {target}, reset required"),
            contain: None,
        }
    } else {
        Alert {
            rule: "console-backdoor",
            severity: Severity::High,
            why: "a console password the caller chose for another user is a way back in after a compromise",
            summary: format!("{who} {verb} the console password of user {target}"),
            contain: None,
        }
    })
}
