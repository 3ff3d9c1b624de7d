//! Who set a principal's exemption tag, and whether keyguard believes it.
//!
//! The tag (`EXEMPT_TAG`) is written by whoever may tag the principal: a leaked key with
//! `iam:TagUser` on its own user, or on a user it just created, can make itself
//! uncontainable. createkey-detector sees each call that sets the tag and keeps who made
//! it ([`Provenance`], in the ledger, the latest call winning); containment reads it for
//! a principal tagged exempt and does not believe a tag that:
//! - the principal set on itself, with any of its credentials;
//! - anything but a role's session set: an IAM user (its long-term key, its console
//!   session or a `GetSessionToken` session, all of which a leaked key can mint for a
//!   user it creates), the root user, or a caller the record does not name;
//! - anything but a session of a role in `EXEMPT_TAGGERS` set, when it is configured.
//!   Without it every role's session is believed, including one of a role the leaked
//!   key could assume or create: name the administrators' roles.
//!
//! A tag keyguard never saw set (before it was deployed, or while the detector was down)
//! is believed, as before.

use crate::events::CloudTrailRecord;
use crate::guard::{same_name, Guard};
use crate::key::KeyKind;
use crate::plan::Principal;
use crate::scope::AccountId;
use serde::{Deserialize, Serialize};

/// Who set the exemption tag, from the call's CloudTrail record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The caller's ARN (`unknown` when the record has none).
    pub set_by: String,
    /// The caller is the tagged principal itself (its user, or its role's session).
    pub own: bool,
    /// The call was signed with a long-term (`AKIA`) key.
    pub long_term_key: bool,
    /// The caller is a role's session (`AssumedRole`): how administrators exempt.
    #[serde(default)]
    pub role_session: bool,
    pub call: String,
    pub at: String,
    pub event_id: String,
}

/// The ledger item that keeps the provenance of one principal's tag, in one account.
/// Names are kept lower-case: IAM's are unique regardless of case.
pub fn ledger_key(account: Option<&AccountId>, principal: &Principal) -> String {
    let (kind, name) = match principal {
        Principal::User(u) => ("user", u.as_str()),
        Principal::Role(r) => ("role", r.as_str()),
    };
    format!(
        "exemption:{}:{kind}/{}",
        account.map_or("-", AccountId::as_str),
        name.to_ascii_lowercase()
    )
}

/// The name of the principal behind a caller's ARN: `user/NAME` or the role of
/// `assumed-role/ROLE/SESSION` (IAM names hold no `/`).
pub(crate) fn caller_name(arn: &str) -> Option<&str> {
    if let Some((_, rest)) = arn.split_once(":assumed-role/") {
        return rest.split('/').next();
    }
    arn.split_once(":user/")?.1.rsplit('/').next()
}

impl Provenance {
    /// Who made `record`, a call that set the exemption tag on `principal`.
    pub fn of(record: &CloudTrailRecord, principal: &Principal) -> Self {
        let id = &record.user_identity;
        let arn = id.arn.as_deref().unwrap_or("unknown");
        let own = match principal {
            Principal::User(u) => {
                arn.contains(":user/") && caller_name(arn).is_some_and(|n| same_name(n, u.as_str()))
            }
            Principal::Role(r) => {
                arn.contains(":assumed-role/")
                    && caller_name(arn).is_some_and(|n| same_name(n, r.as_str()))
            }
        };
        let long_term_key = id
            .access_key_id
            .as_deref()
            .and_then(|k| crate::key::AccessKeyId::parse(k).ok())
            .is_some_and(|k| k.kind() == KeyKind::LongTerm);
        let role_session = id.identity_type == crate::events::IdentityType::AssumedRole
            && arn.contains(":assumed-role/");
        Self {
            set_by: crate::events::bounded_text(arn, 300),
            own,
            long_term_key,
            role_session,
            call: record.event_name.clone(),
            at: record.event_time.clone().unwrap_or_default(),
            event_id: record.event_id.clone().unwrap_or_default(),
        }
    }

    fn what(&self) -> String {
        format!(
            "{} by {} at {} (CloudTrail event {})",
            self.call, self.set_by, self.at, self.event_id
        )
    }
}

impl Guard {
    /// Why the exemption tag set so is not believed, if it is not.
    pub fn doubts(&self, p: &Provenance) -> Option<String> {
        if p.own {
            return Some(format!(
                "the principal tagged itself exempt ({}): a leaked credential's escape, not an administrator's exemption",
                p.what()
            ));
        }
        if !self.exempt_taggers.is_empty() {
            // Roles only, as TRUSTED_KEY_CREATORS: a user named like a listed role is
            // still a user, and anyone who may create users could pick the name.
            let listed = p.set_by.contains(":assumed-role/")
                && caller_name(&p.set_by).is_some_and(|n| self.exempt_taggers.contains(n));
            return (!listed).then(|| {
                format!(
                    "the exemption tag was set by a principal not in EXEMPT_TAGGERS ({})",
                    p.what()
                )
            });
        }
        (!p.role_session).then(|| {
            let with = if p.long_term_key {
                "with a long-term access key, the credential a leak exposes"
            } else {
                "by no role's session (an IAM user's, the root user's, or an unnamed caller)"
            };
            format!(
                "the exemption tag was set {with} ({}); administrators exempt through roles, named in EXEMPT_TAGGERS",
                p.what()
            )
        })
    }
}

impl Provenance {
    /// What a record that exists but cannot be read stands for: a tag nobody can vouch
    /// for, so not believed (only a write to keyguard's own table makes one).
    pub fn unreadable() -> Self {
        Self {
            set_by: "(keyguard's record of it could not be read)".into(),
            own: false,
            long_term_key: false,
            role_session: false,
            call: "unknown".into(),
            at: "unknown".into(),
            event_id: "unknown".into(),
        }
    }
}

#[cfg(test)]
mod tests;
