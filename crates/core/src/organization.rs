//! Organisation mode: the member accounts keyguard acts in besides its own, and the role
//! it assumes there. Off by default: a credential of any other account is refused
//! (`foreign_account`). On, an account is acted in when it is allowed here
//! (`MEMBER_ACCOUNTS`, when set) and the organisation says it is one of its ACTIVE
//! accounts (`organizations:DescribeAccount`, read by the adapter: [`Membership`]).

use crate::config::{self, ConfigError, Env};
use crate::scope::AccountId;
use std::collections::BTreeSet;

/// The default `MEMBER_ROLE_NAME`: the role `infra/member/` deploys in every member.
pub const DEFAULT_MEMBER_ROLE: &str = "keyguard-member";

/// secrets-rotator's default `MEMBER_ROLE_NAME`: the sweep's own role, which
/// `infra/member/` deploys beside `keyguard-member` with the sweep's calls alone.
pub const SWEEP_MEMBER_ROLE: &str = "keyguard-secrets-rotator-member";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// `MEMBER_ROLE_NAME`: assumed in a member account to act there.
    pub member_role: String,
    /// `MEMBER_ACCOUNTS`: when set, the only member accounts acted in.
    pub allowed: Option<BTreeSet<AccountId>>,
}

/// What the organisation says of an account a credential belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    /// keyguard's own account: no role needed.
    Home,
    /// An ACTIVE account of the organisation, acted in through the member role.
    Member,
    /// Not keyguard's to act in, and why (not in the organisation, suspended, ...).
    Outside(String),
}

impl Organization {
    /// `None` unless `ORGANIZATION_MODE` is true. The other settings are checked either
    /// way, so that a bad one fails the deployment that sets it, not the day the mode is
    /// turned on.
    pub fn from_env(env: &impl Env) -> Result<Option<Self>, ConfigError> {
        Self::from_env_or(env, DEFAULT_MEMBER_ROLE)
    }

    /// The same, for a function whose member role is not `keyguard-member` by default
    /// (secrets-rotator's sweep: [`SWEEP_MEMBER_ROLE`]).
    pub fn from_env_or(env: &impl Env, default_role: &str) -> Result<Option<Self>, ConfigError> {
        let on = config::flag(env, "ORGANIZATION_MODE", false)?;
        let member_role = config::string(env, "MEMBER_ROLE_NAME", default_role);
        if !is_role_name(&member_role) {
            return Err(ConfigError {
                variable: "MEMBER_ROLE_NAME".into(),
                message: format!(
                    "an IAM role name is 1 to 64 of letters, digits and +=,.@_-, got {:?}",
                    crate::events::bounded_text(&member_role, 80)
                ),
            });
        }
        let listed = config::list(env, "MEMBER_ACCOUNTS");
        let allowed = if listed.is_empty() {
            None
        } else {
            let parsed = listed
                .iter()
                .map(|a| AccountId::parse(a))
                .collect::<Result<BTreeSet<_>, _>>()
                .map_err(|e| ConfigError {
                    variable: "MEMBER_ACCOUNTS".into(),
                    message: e.to_string(),
                })?;
            Some(parsed)
        };
        Ok(on.then_some(Self {
            member_role,
            allowed,
        }))
    }

    /// Why `account` (not keyguard's own) is not acted in whatever the organisation says,
    /// if it is not: outside `MEMBER_ACCOUNTS`.
    pub fn refuses(&self, account: &AccountId) -> Option<String> {
        match &self.allowed {
            Some(allowed) if !allowed.contains(account) => Some(format!(
                "the credential belongs to account {account}, which is not in MEMBER_ACCOUNTS"
            )),
            _ => None,
        }
    }

    /// The member role's ARN in `account`.
    pub fn role_arn(&self, account: &AccountId) -> String {
        format!("arn:aws:iam::{account}:role/{}", self.member_role)
    }
}

/// Why a key an event names as `named`'s is not acted on, when STS says it belongs to
/// `owner` (`sts:GetAccessKeyInfo`): an event that names one account for a key of another
/// (a finding's remote account, a forged custom event) acts in neither.
pub fn key_elsewhere(
    named: &AccountId,
    key_id: &crate::key::AccessKeyId,
    owner: &AccountId,
) -> Option<String> {
    (named != owner).then(|| {
        format!(
            "the event names account {named} for key {key_id}, but STS says the key belongs to account {owner}"
        )
    })
}

/// Why a member account the organisation does not have is not acted in.
pub fn not_a_member(account: &AccountId) -> String {
    format!(
        "the credential belongs to account {account}, which is not an account of keyguard's organisation (or keyguard's account is in none)"
    )
}

/// IAM's rule for role names.
pub(crate) fn is_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// An STS role session name for `function` acting on `event`: AWS allows 2 to 64 of
/// letters, digits and `+=,.@-` (and `_`); anything else in the event's id becomes `-`,
/// and the name is cut to fit, so that CloudTrail in the member account names who acted
/// and for which event.
pub fn session_name(function: &str, event: &str) -> String {
    let raw = format!("{function}@{event}");
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    while name.len() < 2 {
        name.push('-');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn org(vars: &[(&str, &str)]) -> Result<Option<Organization>, ConfigError> {
        let env: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Organization::from_env(&move |k: &str| env.get(k).cloned())
    }

    #[test]
    fn off_unless_asked_and_defaults_to_the_member_role() {
        assert_eq!(org(&[]).unwrap(), None);
        assert_eq!(org(&[("ORGANIZATION_MODE", "false")]).unwrap(), None);
        let on = org(&[("ORGANIZATION_MODE", "true")]).unwrap().unwrap();
        assert_eq!(on.member_role, DEFAULT_MEMBER_ROLE);
        assert_eq!(on.allowed, None);
        let b = AccountId::parse("222222222222").unwrap();
        assert_eq!(on.refuses(&b), None);
        assert_eq!(
            on.role_arn(&b),
            "arn:aws:iam::222222222222:role/keyguard-member"
        );
    }

    #[test]
    fn the_allow_list_refuses_every_other_account() {
        let on = org(&[
            ("ORGANIZATION_MODE", "true"),
            ("MEMBER_ACCOUNTS", "222222222222, 333333333333"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(on.refuses(&AccountId::parse("333333333333").unwrap()), None);
        let why = on
            .refuses(&AccountId::parse("444444444444").unwrap())
            .unwrap();
        assert!(why.contains("444444444444") && why.contains("MEMBER_ACCOUNTS"));
    }

    #[test]
    fn bad_settings_name_their_variable() {
        for (vars, variable) in [
            (vec![("ORGANIZATION_MODE", "maybe")], "ORGANIZATION_MODE"),
            (vec![("MEMBER_ACCOUNTS", "x")], "MEMBER_ACCOUNTS"),
            (
                vec![("ORGANIZATION_MODE", "true"), ("MEMBER_ACCOUNTS", "2222")],
                "MEMBER_ACCOUNTS",
            ),
            (
                vec![("ORGANIZATION_MODE", "true"), ("MEMBER_ROLE_NAME", "a/b")],
                "MEMBER_ROLE_NAME",
            ),
        ] {
            assert_eq!(org(&vars).unwrap_err().variable, variable);
        }
    }

    #[test]
    fn session_names_fit_sts() {
        assert_eq!(
            session_name("deactivate-key", "abc:def/1"),
            "deactivate-key@abc-def-1"
        );
        let long = session_name("deactivate-key", &"x".repeat(200));
        assert_eq!(long.len(), 64);
        assert!(session_name("", "").len() >= 2);
    }
}
