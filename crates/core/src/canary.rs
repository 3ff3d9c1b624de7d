//! Canary keys: decoy IAM users keyguard issues (`keyguard canary create`), whose every
//! use is an alarm. What makes a user a canary, in one place, for the CLI that makes
//! them, the detector that alerts on them and the policies that must leave them alone.
//!
//! Two ways of knowing, for two uses:
//! - **To alert**, the name: `keyguard-canary-…`, exactly (keyguard makes it so), in the
//!   account keyguard runs in. Every CloudTrail record the key signs carries it, so the
//!   detector's EventBridge pattern matches a canary without a list. The path
//!   (`/keyguard/canary/`) is set too, but proves nothing: `UpdateUser` moves any user.
//! - **To leave alone**, proof that the user is harmless: the name, the tag
//!   `keyguard:canary=true` and keyguard's deny-everything inline policy, as IAM reports
//!   them now (containment reads the policy). Anyone who can create users can forge
//!   all three, but a user under an explicit `Deny *` can do nothing, so a forgery is
//!   as harmless as a canary. A user that merely looks like one (name and tag, the deny
//!   gone) is contained like any other. age-rotation and the secrets sweep, which read
//!   no policy, go by name and tag; a forged canary there keeps an old key, and every
//!   call that key makes is a critical alert.

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

/// Whether a user name is a canary's: the prefix exactly as keyguard writes it. A
/// `Keyguard-Canary-…` user is no canary anywhere, so nothing treats as one a user that
/// EventBridge's case-sensitive prefix match would not deliver.
pub fn named(user: &str) -> bool {
    user.starts_with(NAME_PREFIX)
}

/// Whether an inline policy document is keyguard's canary deny: one statement denying
/// every action on every resource, unconditionally. Anything else (an allow beside it,
/// a condition, a narrower deny) is not, whatever its name.
pub fn denies_everything(document: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(document) else {
        return false;
    };
    let statements = match &doc["Statement"] {
        serde_json::Value::Array(list) => list.clone(),
        one @ serde_json::Value::Object(_) => vec![one.clone()],
        _ => return false,
    };
    let all = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s == "*",
        serde_json::Value::Array(a) => a.iter().any(|x| x == "*"),
        _ => false,
    };
    let [only] = statements.as_slice() else {
        return false;
    };
    only["Effect"] == "Deny"
        && all(&only["Action"])
        && all(&only["Resource"])
        && ["Condition", "NotAction", "NotResource", "NotPrincipal"]
            .iter()
            .all(|k| only.get(k).is_none())
}

/// Whether IAM's user carries a canary's name and tag (what age-rotation and the sweep
/// go by; containment also needs [`denies_everything`]).
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
    /// Its deny of everything is in place ([`denies_everything`]): it can do nothing.
    /// A used key of a canary without it is a live credential, and is handed off.
    #[serde(default)]
    pub denied: bool,
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
    fn a_canary_is_known_by_its_exact_prefix() {
        assert!(named("keyguard-canary-x"));
        assert!(
            !named("KEYGUARD-Canary-x"),
            "EventBridge would not deliver it"
        );
        assert!(!named("keyguard-canar"));
        assert!(!named("alice-keyguard-canary-x"));
        assert!(!named("kéyguard-canary-x"));
    }

    #[test]
    fn only_keyguards_unconditional_deny_of_everything_is_one() {
        assert!(denies_everything(DENY_DOCUMENT));
        assert!(denies_everything(
            r#"{"Statement":{"Effect":"Deny","Action":["*"],"Resource":"*"}}"#
        ));
        for other in [
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Deny","Action":"*","Resource":"arn:aws:s3:::b"}]}"#,
            r#"{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:ViaAWSService":"false"}}}]}"#,
            r#"{"Statement":[{"Effect":"Deny","NotAction":"iam:*","Action":"*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"},{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            "not json",
            "{}",
        ] {
            assert!(!denies_everything(other), "{other}");
        }
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
