//! `mfa-removed` (high): a successful `DeactivateMFADevice` of another user's device: the
//! second factor taken away from an account someone else may now sign in to. Deleting a
//! virtual device whose name is not the caller's is medium (administrators clean up
//! unassigned devices; a device in use must be deactivated first, which is the high
//! signal). The caller is named by its ARN's last segment, as in `console-backdoor`.
//! Nothing is contained: removing a lost device for a colleague is an administrator's job.

use super::Alert;
use crate::events::{ApiCall, CloudTrailRecord, IdentityType};
use crate::guard::same_name;
use crate::notice::Severity;

pub fn check(r: &CloudTrailRecord) -> Option<Alert> {
    if !r.succeeded() || r.user_identity.identity_type == IdentityType::Root {
        return None;
    }
    let caller_arn = r.user_identity.arn.as_deref();
    let caller = caller_arn.and_then(|a| a.rsplit('/').next());
    let mine = |name: &str| caller.is_some_and(|me| same_name(me, name));
    let who = caller_arn.unwrap_or("an unknown caller");
    match &r.call {
        ApiCall::DeactivateMfaDevice(call) => {
            let target = call.user_name.as_deref()?;
            (!mine(target)).then(|| Alert {
                rule: "mfa-removed",
                severity: Severity::High,
                why: "another user's second factor removed: their account can now be signed in to with a password alone",
                summary: format!("{who} deactivated the MFA device of user {target}"),
                contain: None,
            })
        }
        ApiCall::DeleteVirtualMfaDevice(call) => {
            let serial = call.serial_number.as_deref()?;
            let device = serial.rsplit('/').next().unwrap_or(serial);
            (!mine(device)).then(|| Alert {
                rule: "mfa-removed",
                severity: Severity::Medium,
                why: "a virtual MFA device not named after the caller deleted",
                summary: format!("{who} deleted the virtual MFA device {serial}"),
                contain: None,
            })
        }
        _ => None,
    }
}
