//! Validated identifiers: access key ids, user and role names.
//!
//! Validation happens once, at the door, so every later step can trust the value: a
//! user name with a control character or a key id of the wrong shape never reaches IAM.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What an access key id says about its credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// `AKIA…`: an IAM user's long-term key; it can be set Inactive.
    LongTerm,
    /// `ASIA…`: an STS session key; it cannot be deactivated, only its role's sessions revoked.
    Temporary,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("access key id must be 20 characters, got {0}")]
    KeyLength(usize),
    #[error("access key id may hold only A-Z and 0-9")]
    KeyCharset,
    #[error("access key id must start with AKIA (long-term) or ASIA (temporary), got {0:?}")]
    KeyPrefix(String),
    #[error("{what} must be 1 to {max} characters, got {len}")]
    NameLength {
        what: &'static str,
        max: usize,
        len: usize,
    },
    #[error("{what} may hold only letters, digits and +=,.@_-")]
    NameCharset { what: &'static str },
}

/// An AWS access key id, checked for shape and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AccessKeyId(String);

impl AccessKeyId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let len = raw.chars().count();
        if len != 20 {
            return Err(IdError::KeyLength(len));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(IdError::KeyCharset);
        }
        match &raw[..4] {
            "AKIA" | "ASIA" => Ok(Self(raw.to_owned())),
            other => Err(IdError::KeyPrefix(other.to_owned())),
        }
    }

    pub fn kind(&self) -> KeyKind {
        if self.0.starts_with("ASIA") {
            KeyKind::Temporary
        } else {
            KeyKind::LongTerm
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccessKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AccessKeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

fn check_name(raw: &str, what: &'static str, max: usize) -> Result<(), IdError> {
    let len = raw.chars().count();
    if len == 0 || len > max {
        return Err(IdError::NameLength { what, max, len });
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    if !raw.chars().all(allowed) {
        return Err(IdError::NameCharset { what });
    }
    Ok(())
}

macro_rules! iam_name {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                check_name(raw, $what, $max)?;
                Ok(Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

iam_name!(
    /// An IAM user name (IAM's own rule: 1–64 of `[A-Za-z0-9+=,.@_-]`).
    UserName,
    "user name",
    64
);
iam_name!(
    /// An IAM role name (1–64 of `[A-Za-z0-9+=,.@_-]`).
    RoleName,
    "role name",
    64
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_by_shape() {
        let cases: &[(&str, Result<KeyKind, IdError>)] = &[
            ("AKIAIOSFODNN7EXAMPLE", Ok(KeyKind::LongTerm)),
            ("ASIA5ZXAKGI33TI7QQGW", Ok(KeyKind::Temporary)),
            ("AKIAIOSFODNN7EXAMPL", Err(IdError::KeyLength(19))),
            ("AKIAIOSFODNN7EXAMPLE1", Err(IdError::KeyLength(21))),
            ("akiaiosfodnn7example", Err(IdError::KeyCharset)),
            ("AKIAIOSFODNN7EXAMPL\u{0}", Err(IdError::KeyCharset)),
            (
                "AIDAQRSTUVWXYZEXAMPL",
                Err(IdError::KeyPrefix("AIDA".into())),
            ),
            ("", Err(IdError::KeyLength(0))),
            ("AKIAÉOSFODNN7EXAMPLE", Err(IdError::KeyCharset)),
        ];
        for (raw, want) in cases {
            assert_eq!(&AccessKeyId::parse(raw).map(|k| k.kind()), want, "{raw:?}");
        }
    }

    #[test]
    fn user_names_follow_iam_rules() {
        assert!(UserName::parse("alice.smith+ops@example.com").is_ok());
        assert!(UserName::parse(&"a".repeat(64)).is_ok());
        assert!(matches!(
            UserName::parse(&"a".repeat(65)),
            Err(IdError::NameLength { len: 65, .. })
        ));
        assert!(matches!(
            UserName::parse(""),
            Err(IdError::NameLength { len: 0, .. })
        ));
        for bad in ["al ice", "bob\n", "@everyone<script>", "x/y", "a\u{202e}b"] {
            assert!(
                matches!(UserName::parse(bad), Err(IdError::NameCharset { .. })),
                "{bad:?}"
            );
        }
    }
}
