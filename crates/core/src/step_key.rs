//! Idempotency and window keys, built in one place from the function, the action, the
//! account, the credential and the event, so that two policies can never disagree on
//! what "the same step" or "the same window" means.
//!
//! - A step key names the event it answers: the same event delivered again finds it.
//! - A window key names no event: every event about the same credential (or principal)
//!   finds it while it is held.
//!
//! The account is in both, so the same user name in two accounts never shares either.

use crate::scope::AccountId;

/// What a step or window is about: a key, a principal (`user/NAME`, `role/NAME`,
/// `root`), or both. Names are lower-cased, as IAM compares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject(String);

impl Subject {
    pub fn key(key_id: &str) -> Self {
        Self(key_id.to_owned())
    }

    pub fn user(name: &str) -> Self {
        Self(format!("user/{}", name.to_ascii_lowercase()))
    }

    pub fn role(name: &str) -> Self {
        Self(format!("role/{}", name.to_ascii_lowercase()))
    }

    pub fn principal(p: &crate::plan::Principal) -> Self {
        match p {
            crate::plan::Principal::User(u) => Self::user(u.as_str()),
            crate::plan::Principal::Role(r) => Self::role(r.as_str()),
        }
    }

    /// Anything else a step may be about (`root`, a rule, a secret): kept as given.
    pub fn other(what: &str) -> Self {
        Self(what.to_owned())
    }

    /// This subject narrowed to one of its keys: a principal's credential.
    pub fn with_key(&self, key_id: &str) -> Self {
        Self(format!("{}/{key_id}", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The account part of a key; `-` where keyguard does not know it (an offline plan).
fn account_part(account: Option<&AccountId>) -> &str {
    account.map_or("-", AccountId::as_str)
}

/// `FUNCTION:ACTION:ACCOUNT:SUBJECT:EVENT`: the ledger item of one step for one event.
pub fn step(
    function: &str,
    action: &str,
    account: Option<&AccountId>,
    subject: &Subject,
    event_ref: &str,
) -> String {
    format!(
        "{function}:{action}:{}:{}:{event_ref}",
        account_part(account),
        subject.as_str()
    )
}

/// `FUNCTION:ACTION:ACCOUNT:SUBJECT`: the window every event about `subject` shares.
pub fn window(
    function: &str,
    action: &str,
    account: Option<&AccountId>,
    subject: &Subject,
) -> String {
    format!(
        "{function}:{action}:{}:{}",
        account_part(account),
        subject.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_function_action_account_subject_and_event() {
        let a = AccountId::parse("111111111111").unwrap();
        let b = AccountId::parse("222222222222").unwrap();
        let alice = Subject::user("Alice");
        assert_eq!(
            step("f", "act", Some(&a), &alice, "ev"),
            "f:act:111111111111:user/alice:ev"
        );
        assert_ne!(
            step("f", "act", Some(&a), &alice, "ev"),
            step("f", "act", Some(&b), &alice, "ev")
        );
        assert_eq!(
            window("f", "act", Some(&a), &Subject::user("ALICE")),
            window("f", "act", Some(&a), &alice)
        );
        assert_ne!(
            window("f", "act", Some(&a), &alice.with_key("AKIA1")),
            window("f", "act", Some(&a), &alice.with_key("AKIA2"))
        );
        assert_eq!(
            window("f", "act", None, &Subject::other("root")),
            "f:act:-:root"
        );
    }
}
