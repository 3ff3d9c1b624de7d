//! Where a credential lives and where a step acts: a validated account id and region.
//!
//! Every trigger names the account its credential belongs to; keyguard compares it with
//! its own before it touches anything, so a finding delivered from a member account (a
//! GuardDuty delegated administrator receives every member's) never acts on a
//! same-named principal in keyguard's own account.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("account id must be 12 digits, got {0:?}")]
    Account(String),
    #[error("region must be 1 to 32 of a-z, 0-9 and -, got {0:?}")]
    Region(String),
}

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        if raw.len() == 12 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ScopeError::Account(crate::events::bounded_text(raw, 40)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Stands for an account that cannot be named (all zeros), so that nothing takes it
    /// for keyguard's own.
    pub fn nobody() -> Self {
        Self("000000000000".to_owned())
    }
}

impl<'de> serde::Deserialize<'de> for AccountId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An AWS region name (`us-east-1`, `eu-west-1`, ...), checked for shape only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Region(String);

impl Region {
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        let ok = (1..=32).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ScopeError::Region(crate::events::bounded_text(raw, 40)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a credential lives: its account, and the region the event came from when it
/// says (IAM is global; the region is for the record).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Scope {
    pub account: AccountId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
}

impl Scope {
    /// The first account id present (the most specific source first), validated. `Ok(None)`
    /// when the event names none; `Err` when the one it names is malformed.
    pub fn from_raw(
        accounts: &[Option<&str>],
        region: Option<&str>,
    ) -> Result<Option<Self>, ScopeError> {
        let Some(raw) = accounts.iter().flatten().next() else {
            return Ok(None);
        };
        Ok(Some(Self {
            account: AccountId::parse(raw)?,
            // A malformed region is dropped rather than refused: nothing acts on it.
            region: region.and_then(|r| Region::parse(r).ok()),
        }))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.region {
            Some(r) => write!(f, "{}/{r}", self.account),
            None => write!(f, "{}", self.account),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_twelve_digits() {
        assert!(AccountId::parse("123456789012").is_ok());
        for bad in [
            "",
            "12345678901",
            "1234567890123",
            "12345678901a",
            "1234567890",
            "AKIAXXXXXXXXXX",
        ] {
            assert!(AccountId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_most_specific_account_wins_and_a_bad_one_is_an_error() {
        let s = Scope::from_raw(
            &[None, Some("222222222222"), Some("111111111111")],
            Some("eu-west-1"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.account.as_str(), "222222222222");
        assert_eq!(s.to_string(), "222222222222/eu-west-1");
        assert_eq!(Scope::from_raw(&[None, None], None), Ok(None));
        assert!(Scope::from_raw(&[Some("12")], None).is_err());
        let odd_region = Scope::from_raw(&[Some("111111111111")], Some("EU WEST"))
            .unwrap()
            .unwrap();
        assert_eq!(odd_region.region, None);
    }
}
