//! `federation-token` (medium): `GetFederationToken` signed by a long-term key (Stratus
//! Red Team's `sts-federation-token`). The token it returns lives up to 36 hours, outlives
//! the key's deactivation, and can open the console: a leaked key's way to stay. Some
//! federation brokers call it by design, so it is medium, below the default
//! `CONTAIN_MIN_SEVERITY`: it alerts, and hands the calling key off only where the
//! threshold is lowered to medium. When it is contained, deactivate-key's revocation of
//! the user's older sessions ends the token too.

use super::{long_term, Alert};
use crate::events::{ApiCall, CloudTrailRecord, IdentityType};
use crate::notice::Severity;

pub fn check(r: &CloudTrailRecord) -> Option<Alert> {
    let ApiCall::GetFederationToken(call) = &r.call else {
        return None;
    };
    let id = &r.user_identity;
    if !r.succeeded() || id.identity_type != IdentityType::IamUser {
        return None;
    }
    let contain = long_term(id.access_key_id.as_deref(), id.user_name.as_deref())?;
    let who = id.arn.as_deref().unwrap_or("an IAM user");
    Some(Alert {
        rule: "federation-token",
        severity: Severity::Medium,
        why: "a federation token minted with a long-term key outlives the key and can open the console",
        summary: format!(
            "{who} minted a federation token{} with long-term key {}",
            call.name
                .as_deref()
                .map_or_else(String::new, |n| format!(" for {n:?}")),
            contain.0
        ),
        contain: Some(contain),
    })
}
