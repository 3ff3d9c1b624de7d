//! Canary keys: decoy IAM users keyguard issues (`keyguard canary create`), whose every
//! use is an alarm. What makes a user a canary, in one place, for the CLI that makes
//! them, the detector that alerts on them and the policies that must leave them alone.
//!
//! Two ways of knowing, for two uses:
//! - **To alert**, the name or the path is enough (`keyguard-canary-…`, or
//!   `/keyguard/canary/`): both are in every CloudTrail record the key signs, so the
//!   detector's EventBridge pattern matches a canary without a list. A false match only
//!   costs an alert.
//! - **To leave alone** (never contain, never age out, never sweep), the name *and* the
//!   tag `keyguard:canary=true`, as IAM reports them. Anyone who can create users can
//!   forge both; a forged canary is never contained automatically, but every call it
//!   makes is a critical `canary-key-used` alert, so forging one is loud.

use crate::guard::{same_name, tag_value};
use crate::key::{AccessKeyId, IdError, UserName};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every canary user's path.
pub const PATH: &str = "/keyguard/canary/";
/// Every canary user's name starts so; `NAME` follows.
pub const NAME_PREFIX: &str = "keyguard-canary-";
/// The tag every canary carries.
pub const TAG: (&str, &str) = ("keyguard:canary", "true");
/// The inline policy that denies a canary everything.
pub const DENY_POLICY_NAME: &str = "keyguard-canary-deny-all";
/// What the inline policy says: nothing is allowed, whatever is attached later.
pub const DENY_DOCUMENT: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"KeyguardCanary","Effect":"Deny","Action":"*","Resource":"*"}]}"#;

/// The IAM user for canary `name`: `keyguard-canary-NAME`, within IAM's 64 characters.
pub fn user_name(name: &str) -> Result<UserName, IdError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(IdError::NameLength {
            what: "canary name",
            max: 64 - NAME_PREFIX.len(),
            len: 0,
        });
    }
    UserName::parse(&format!("{NAME_PREFIX}{name}")).map_err(|e| match e {
        IdError::NameLength { len, .. } => IdError::NameLength {
            what: "canary name",
            max: 64 - NAME_PREFIX.len(),
            len: len - NAME_PREFIX.len(),
        },
        IdError::NameCharset { .. } => IdError::NameCharset {
            what: "canary name",
        },
        other => other,
    })
}

/// Whether a user name is a canary's (IAM names compare regardless of case).
pub fn named(user: &str) -> bool {
    user.len() >= NAME_PREFIX.len()
        && user.is_char_boundary(NAME_PREFIX.len())
        && same_name(&user[..NAME_PREFIX.len()], NAME_PREFIX)
}

/// Whether an IAM user's ARN is a canary's, by its path or its name.
pub fn arn(arn: &str) -> bool {
    let Some((_, rest)) = arn.split_once(":user/") else {
        return false;
    };
    rest.starts_with(&PATH[1..]) || rest.rsplit('/').next().is_some_and(named)
}

/// Whether IAM's user is a canary keyguard issued: the name and the tag.
pub fn is_canary(user: &str, tags: &BTreeMap<String, String>) -> bool {
    named(user) && tag_value(tags, TAG.0).is_some_and(|v| same_name(v, TAG.1))
}

/// One canary's key as IAM reports it: what `keyguard canary list` shows and what the
/// hourly last-use check compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanaryKey {
    pub user: UserName,
    pub key_id: AccessKeyId,
    /// `Active`, `Inactive`, as IAM says.
    pub status: String,
    pub created: Option<Timestamp>,
    /// `GetAccessKeyLastUsed`: when, by which service, in which region (`N/A` when never).
    pub last_used: Option<Timestamp>,
    pub service: Option<String>,
    pub region: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_canary_name_fits_iam_and_says_what_is_wrong() {
        assert_eq!(
            user_name("ci-vars").unwrap().as_str(),
            "keyguard-canary-ci-vars"
        );
        assert_eq!(
            user_name(&"a".repeat(49)),
            Err(IdError::NameLength {
                what: "canary name",
                max: 48,
                len: 49
            })
        );
        assert!(user_name(&"a".repeat(48)).is_ok());
        assert_eq!(
            user_name("laptop/bob"),
            Err(IdError::NameCharset {
                what: "canary name"
            })
        );
        assert!(user_name("  ").is_err());
    }

    #[test]
    fn a_canary_is_known_by_name_or_path_for_alerts() {
        assert!(named("keyguard-canary-x"));
        assert!(named("KEYGUARD-Canary-x"));
        assert!(!named("keyguard-canar"));
        assert!(!named("alice-keyguard-canary-x"));
        assert!(!named("kéyguard-canary-x"));
        assert!(arn(
            "arn:aws:iam::111122223333:user/keyguard/canary/keyguard-canary-ci"
        ));
        assert!(arn(
            "arn:aws:iam::111122223333:user/keyguard/canary/renamed"
        ));
        assert!(arn("arn:aws:iam::111122223333:user/keyguard-canary-ci"));
        assert!(!arn("arn:aws:iam::111122223333:user/alice"));
        assert!(!arn("arn:aws:iam::111122223333:user/ops/keyguard/canary/x"));
        assert!(!arn(
            "arn:aws:sts::111122223333:assumed-role/keyguard-canary-r/s"
        ));
    }

    #[test]
    fn only_name_and_tag_together_protect_a_canary() {
        let tagged: BTreeMap<String, String> =
            [("Keyguard:Canary".to_owned(), "TRUE".to_owned())].into();
        assert!(is_canary("keyguard-canary-ci", &tagged));
        assert!(!is_canary("keyguard-canary-ci", &BTreeMap::new()));
        assert!(!is_canary("alice", &tagged));
    }
}
