//! `canary-key-used` (critical): any call signed by the key of a canary of this account
//! ([`crate::canary`]), whatever the call, and whether it succeeded or was denied (a
//! canary may do nothing, so its calls mostly come back `AccessDenied`). Nobody
//! legitimate holds a canary key: its first use means one of the places it was planted
//! has leaked. A denied call is watched, not fought: nothing is contained. A call that
//! got past authorization (it succeeded, or failed for another reason than a refusal)
//! although it needs a permission means the canary's deny is gone, and the
//! key is handed to deactivate-key, which contains it unless it finds the canary still
//! harmless. One alert per canary per `CANARY_ALERT_MINUTES` (the ledger window), so a
//! burst does not flood the channel.

use super::{long_term, Alert};
use crate::events::{bounded_text, CloudTrailRecord, IdentityType};
use crate::key::{AccessKeyId, UserName};
use crate::notice::Severity;
use crate::scope::AccountId;

pub const RULE: &str = "canary-key-used";

/// Calls that need no permission, so succeed even under an explicit deny (the STS API
/// reference says so of `GetCallerIdentity`): their success proves nothing.
const NEED_NO_PERMISSION: &[(&str, &str)] = &[("sts.amazonaws.com", "GetCallerIdentity")];

/// The canary behind the call: its key and user as the record names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub key: Option<AccessKeyId>,
    pub user: Option<UserName>,
    /// The name the window is held under: the key, else the user.
    pub subject: String,
}

/// Whether a canary of `home` signed the call: an IAM user of that account whose name
/// has the canary prefix. Another account's user so named is not ours to alert on (any
/// account can name a user so and call into this one).
pub fn caller(r: &CloudTrailRecord, home: Option<&AccountId>) -> Option<Caller> {
    let id = &r.user_identity;
    if id.identity_type != IdentityType::IamUser {
        return None;
    }
    if let (Some(home), Some(account)) = (home, id.account_id.as_deref()) {
        if home.as_str() != account {
            return None;
        }
    }
    let name = id
        .user_name
        .as_deref()
        .or_else(|| id.arn.as_deref().and_then(|a| a.rsplit('/').next()))?;
    if !crate::canary::named(name) {
        return None;
    }
    let key = id
        .access_key_id
        .as_deref()
        .and_then(|k| AccessKeyId::parse(k).ok());
    let user = UserName::parse(name).ok();
    let subject = key
        .as_ref()
        .map(|k| k.to_string())
        .or_else(|| user.as_ref().map(|u| u.to_string()))?;
    Some(Caller { key, user, subject })
}

pub fn check(r: &CloudTrailRecord, home: Option<&AccountId>) -> Option<Alert> {
    let c = caller(r, home)?;
    let who = c
        .user
        .as_ref()
        .map_or_else(|| "a canary".to_owned(), |u| format!("canary {u}"));
    let key = c
        .key
        .as_ref()
        .map_or_else(String::new, |k| format!("'s key {k}"));
    let service = r.event_source.split('.').next().unwrap_or("?");
    let outcome = r.error_code.as_deref().map_or_else(
        || "it succeeded".to_owned(),
        |e| format!("denied: {}", bounded_text(e, 64)),
    );
    let from = r
        .source_ip_address
        .as_deref()
        .unwrap_or("an unknown address");
    let region = r.aws_region.as_deref().unwrap_or("an unknown region");
    let agent = r.user_agent.as_deref().map_or_else(String::new, |a| {
        format!(", user agent {}", bounded_text(a, 120))
    });
    let proves_nothing = NEED_NO_PERMISSION
        .iter()
        .any(|(source, name)| r.event_source == *source && r.event_name == *name);
    // Any answer but a refusal came after IAM let the call through (a validation error,
    // a dry run, a missing resource): the deny is gone as surely as on success.
    let refused = r.error_code.as_deref().is_some_and(|code| {
        let code = code.rsplit('.').next().unwrap_or(code);
        code.starts_with("AccessDenied") || code.starts_with("Unauthorized") || code == "Forbidden"
    });
    let acted = !refused && !proves_nothing;
    Some(Alert {
        rule: RULE,
        severity: Severity::Critical,
        why: if acted {
            "a canary key's call got past authorization: its deny is gone, so the key is a live leaked credential"
        } else {
            "nobody legitimate holds a canary key: one of the places it was planted has leaked"
        },
        summary: format!(
            "{who}{key} called {service}:{} ({outcome}) from {from} in {region}{agent}",
            bounded_text(&r.event_name, 128)
        ),
        contain: if acted {
            long_term(id_key(r), c.user.as_ref().map(UserName::as_str))
        } else {
            None
        },
    })
}

fn id_key(r: &CloudTrailRecord) -> Option<&str> {
    r.user_identity.access_key_id.as_deref()
}
