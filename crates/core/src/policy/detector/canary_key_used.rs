//! `canary-key-used` (critical): any call signed by a canary's key ([`crate::canary`]),
//! whatever the call, and whether it succeeded or was denied (a canary may do nothing,
//! so its calls mostly come back `AccessDenied`). Nobody legitimate holds a canary key:
//! its first use means one of the places it was planted has leaked. Nothing is
//! contained, neither the canary (that would end the tracking) nor anything its calls
//! touch: the caller is watched, not fought. One alert per canary per
//! `CANARY_ALERT_MINUTES` (the ledger window), so a burst does not flood the channel.

use super::Alert;
use crate::events::{bounded_text, CloudTrailRecord, IdentityType};
use crate::key::{AccessKeyId, UserName};
use crate::notice::Severity;

pub const RULE: &str = "canary-key-used";

/// The canary behind the call: its key and user as the record names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub key: Option<AccessKeyId>,
    pub user: Option<UserName>,
    /// The name the window is held under: the key, else the user.
    pub subject: String,
}

/// Whether a canary signed the call. An IAM user's record carries its ARN (path and
/// name) and its name; either is enough to alert.
pub fn caller(r: &CloudTrailRecord) -> Option<Caller> {
    let id = &r.user_identity;
    if id.identity_type != IdentityType::IamUser {
        return None;
    }
    let by_arn = id.arn.as_deref().is_some_and(crate::canary::arn);
    let by_name = id.user_name.as_deref().is_some_and(crate::canary::named);
    if !by_arn && !by_name {
        return None;
    }
    let key = id
        .access_key_id
        .as_deref()
        .and_then(|k| AccessKeyId::parse(k).ok());
    let user = id
        .user_name
        .as_deref()
        .or_else(|| id.arn.as_deref().and_then(|a| a.rsplit('/').next()))
        .and_then(|u| UserName::parse(u).ok());
    let subject = key
        .as_ref()
        .map(|k| k.to_string())
        .or_else(|| user.as_ref().map(|u| u.to_string().to_ascii_lowercase()))?;
    Some(Caller { key, user, subject })
}

pub fn check(r: &CloudTrailRecord) -> Option<Alert> {
    let c = caller(r)?;
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
    Some(Alert {
        rule: RULE,
        severity: Severity::Critical,
        why: "nobody legitimate holds a canary key: one of the places it was planted has leaked",
        summary: format!(
            "{who}{key} called {service}:{} ({outcome}) from {from} in {region}{agent}",
            bounded_text(&r.event_name, 128)
        ),
        contain: None,
    })
}
