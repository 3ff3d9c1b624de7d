//! The one guard every policy asks before it touches a principal: which events to
//! believe, which account is keyguard's, and which principals are never touched
//! (keyguard's own, exempt users and roles). IAM user and role names are unique
//! regardless of case, and so is every comparison here.

use crate::config::{self, ConfigError, Env};
use crate::events::Trigger;
use crate::plan::Principal;
use crate::scope::{AccountId, Scope};
use std::collections::{BTreeMap, BTreeSet};

/// Who keyguard itself runs as. It never contains its own credential.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelfIdentity {
    pub key_id: Option<String>,
    pub user: Option<String>,
    pub role: Option<String>,
    /// The account keyguard runs in: the only one it acts in.
    pub account: Option<AccountId>,
}

/// The roles keyguard's own templates create (`infra/`): the five functions, the
/// runbook's role and the member roles. Their credentials are never contained or revoked
/// by keyguard, whichever function is asked.
pub const DEFAULT_KEYGUARD_ROLES: &[&str] = &[
    "keyguard-deactivate-key",
    "keyguard-guardduty-translator",
    "keyguard-age-rotation",
    "keyguard-createkey-detector",
    "keyguard-secrets-rotator",
    "keyguard-runbook",
    "keyguard-age-rotation-member",
    "keyguard-member",
    "keyguard-secrets-rotator-member",
];

/// IAM names compared as IAM compares them: regardless of case.
pub fn same_name(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// A tag's value, its key compared regardless of case.
pub fn tag_value<'a>(tags: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(k, _)| same_name(k, key))
        .map(|(_, v)| v.as_str())
}

/// A set of IAM names, kept lower-case so membership ignores case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameSet(BTreeSet<String>);

impl NameSet {
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(&name.to_ascii_lowercase())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<S: AsRef<str>> FromIterator<S> for NameSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|s| s.as_ref().to_ascii_lowercase())
                .collect(),
        )
    }
}

/// Why a principal is not touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protected {
    /// One of keyguard's own principals (or the very credential it runs with).
    Keyguard,
    /// `EXEMPT_USERS`, `EXEMPT_ROLES` or the exemption tag.
    Exempt,
    /// A canary keyguard issued, proven harmless by its deny ([`crate::canary`]):
    /// containing it would end the tracking, and its use is alerted on by itself.
    Canary,
}

/// What the adapter found out about a direct hand-off's authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoffCheck {
    /// The hand-off's MAC verified with keyguard's hand-off key.
    Verified,
    /// It did not, or could not be checked: the reason.
    Rejected(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// `EXEMPT_TAG`, default `keyguard:exempt=true` (key and value compared regardless of case).
    pub exempt_tag: (String, String),
    /// `EXEMPT_USERS`: break-glass users never deactivated automatically.
    pub exempt_users: NameSet,
    /// `EXEMPT_ROLES`: roles whose sessions are never revoked automatically.
    pub exempt_roles: NameSet,
    /// `EXEMPT_TAGGERS`: the roles whose sessions may set the exemption tag; when set, a
    /// tag anyone else set is not believed ([`crate::exemption`]).
    pub exempt_taggers: NameSet,
    /// `TRUSTED_CUSTOM_SOURCES`: non-`aws.*` EventBridge sources accepted anyway.
    pub trusted_sources: BTreeSet<String>,
    /// `KEYGUARD_ROLES` (default [`DEFAULT_KEYGUARD_ROLES`]), plus the role keyguard runs as.
    pub keyguard_roles: NameSet,
    pub me: SelfIdentity,
    /// Organisation mode, for the functions that act in member accounts; `None`: keyguard
    /// acts in its own account only.
    pub organization: Option<crate::organization::Organization>,
    /// A member account's view ([`Self::in_account`]): there keyguard may not have seen
    /// who set an exemption tag, and a tag it did not see set is not believed.
    pub member_view: bool,
}

impl Guard {
    pub fn from_env(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        let listed = config::list(env, "KEYGUARD_ROLES");
        let mut roles: Vec<String> = if listed.is_empty() {
            DEFAULT_KEYGUARD_ROLES
                .iter()
                .map(|r| (*r).to_owned())
                .collect()
        } else {
            listed.into_iter().collect()
        };
        roles.extend(me.role.clone());
        Ok(Self {
            exempt_tag: config::pair(env, "EXEMPT_TAG", ("keyguard:exempt", "true"))?,
            exempt_users: config::list(env, "EXEMPT_USERS").iter().collect(),
            exempt_roles: config::list(env, "EXEMPT_ROLES").iter().collect(),
            exempt_taggers: config::list(env, "EXEMPT_TAGGERS").iter().collect(),
            trusted_sources: config::list(env, "TRUSTED_CUSTOM_SOURCES"),
            keyguard_roles: roles.iter().collect(),
            me,
            organization: None,
            member_view: false,
        })
    }

    /// Acts in member accounts too (`ORGANIZATION_MODE`, read by the functions that can);
    /// the member role joins keyguard's own roles, never contained.
    pub fn with_organization(mut self, org: Option<crate::organization::Organization>) -> Self {
        if let Some(o) = &org {
            self.keyguard_roles
                .0
                .insert(o.member_role.to_ascii_lowercase());
        }
        self.organization = org;
        self
    }

    pub fn tagged_exempt(&self, tags: &BTreeMap<String, String>) -> bool {
        tag_value(tags, &self.exempt_tag.0).is_some_and(|v| same_name(v, &self.exempt_tag.1))
    }

    /// Whether a CloudTrail request (`TagUser`, `TagRole`, `CreateUser`, `CreateRole`)
    /// sets the exemption tag: its `tags` list holds it. The tag is written by whoever
    /// may tag the principal, a leaked key on its own user included, so who set it is
    /// what tells an exemption from an escape.
    pub fn sets_exemption(&self, request: Option<&serde_json::Value>) -> bool {
        let field = |tag: &serde_json::Value, names: [&str; 2]| {
            names
                .iter()
                .find_map(|n| tag.get(*n).and_then(serde_json::Value::as_str))
                .map(str::to_owned)
        };
        request
            .and_then(|r| r.get("tags"))
            .and_then(serde_json::Value::as_array)
            .is_some_and(|tags| {
                tags.iter().any(|t| {
                    let (Some(k), Some(v)) =
                        (field(t, ["key", "Key"]), field(t, ["value", "Value"]))
                    else {
                        return false;
                    };
                    self.tagged_exempt(&[(k, v)].into())
                })
            })
    }

    /// Whether the user is keyguard's own (the user it runs as).
    pub fn is_me_user(&self, user: &str) -> bool {
        self.me.user.as_deref().is_some_and(|u| same_name(u, user))
    }

    fn is_me_key(&self, key_id: Option<&str>) -> bool {
        key_id.is_some_and(|k| self.me.key_id.as_deref() == Some(k))
    }

    /// Whether `principal` (or the key it is named by) is keyguard's own.
    pub fn is_keyguard(&self, principal: &Principal, key_id: Option<&str>) -> bool {
        self.is_me_key(key_id)
            || match principal {
                Principal::User(u) => self.is_me_user(u.as_str()),
                Principal::Role(r) => self.keyguard_roles.contains(r.as_str()),
            }
    }

    /// Whether keyguard must leave the principal alone, and why.
    pub fn protection(
        &self,
        principal: &Principal,
        key_id: Option<&str>,
        tags: &BTreeMap<String, String>,
    ) -> Option<Protected> {
        if self.is_keyguard(principal, key_id) {
            return Some(Protected::Keyguard);
        }
        let listed = match principal {
            Principal::User(u) => self.exempt_users.contains(u.as_str()),
            Principal::Role(r) => self.exempt_roles.contains(r.as_str()),
        };
        (listed || self.tagged_exempt(tags)).then_some(Protected::Exempt)
    }

    /// For the policies that only know a user's name and tags (age, rotation, sweep):
    /// keyguard's own user, an exempt one or a canary (old on purpose, never rotated).
    pub fn user_untouchable(&self, user: &str, tags: &BTreeMap<String, String>) -> bool {
        self.is_me_user(user)
            || self.exempt_users.contains(user)
            || self.tagged_exempt(tags)
            || crate::canary::is_canary(user, tags)
    }

    /// Why the event cannot be believed, if it cannot. EventBridge lets only AWS publish
    /// `aws.*` sources; anyone allowed to put events can publish any other. A payload
    /// without an envelope has no provenance at all: only a hand-off whose MAC verified
    /// may come without one.
    pub fn untrusted(&self, trigger: &Trigger, handoff: Option<&HandoffCheck>) -> Option<String> {
        if let Some(env) = trigger.envelope() {
            return (!env.is_from_aws() && !self.trusted_sources.contains(&env.source)).then(|| {
                format!(
                    "source {:?} is not an AWS source and not in TRUSTED_CUSTOM_SOURCES: anyone allowed to put events could have sent it",
                    crate::events::bounded_text(&env.source, 64)
                )
            });
        }
        match (trigger, handoff) {
            (Trigger::Handoff(_), Some(HandoffCheck::Verified)) => None,
            (Trigger::Handoff(_), Some(HandoffCheck::Rejected(why))) => {
                Some(format!("hand-off not authenticated: {why}"))
            }
            (Trigger::Handoff(_), None) => {
                Some("hand-off not authenticated: its MAC was not checked".to_owned())
            }
            // Secrets Manager invokes its rotation function directly; only secrets-rotator
            // reads these, and it checks the secret itself.
            (Trigger::Rotation(_), _) => None,
            _ => Some(
                "no EventBridge envelope and not an authenticated hand-off: a bare record has no provenance"
                    .to_owned(),
            ),
        }
    }

    /// Why a credential in `scope` is not keyguard's to act on, if it is not: with
    /// organisation mode off, any account but keyguard's own; with it on, an account
    /// `MEMBER_ACCOUNTS` leaves out. Whether the organisation has the account is read
    /// later, with the credential ([`crate::organization::Membership`]).
    pub fn foreign(&self, scope: Option<&Scope>) -> Option<String> {
        let Some(home) = &self.me.account else {
            return Some(
                "keyguard does not know its own account (sts:GetCallerIdentity), so it cannot tell whose credential this is"
                    .to_owned(),
            );
        };
        let s = match scope {
            None => return Some("the event names no account for the credential".to_owned()),
            Some(s) if &s.account == home => return None,
            Some(s) => s,
        };
        match &self.organization {
            None => Some(format!(
                "the credential belongs to account {}, not keyguard's account {home}: organisation mode is not on",
                s.account
            )),
            Some(org) => org.refuses(&s.account),
        }
    }

    /// The guard for a credential of `account`. With organisation mode on, names mean
    /// different principals in different accounts: in a member account only the member
    /// role is keyguard's (a user or role named like keyguard's own there is somebody
    /// else's, as is an `EXEMPT_TAGGERS` role), and `EXEMPT_USERS`, `EXEMPT_ROLES` and
    /// `EXEMPT_TAGGERS` hold there only as `ACCOUNT:NAME`; a bare name is keyguard's own
    /// account's. Otherwise the guard as it is.
    pub fn in_account(&self, account: Option<&AccountId>) -> std::borrow::Cow<'_, Self> {
        use std::borrow::Cow;
        let (Some(org), Some(account)) = (&self.organization, account) else {
            return Cow::Borrowed(self);
        };
        let home = self.is_home(account);
        let prefix = format!("{account}:");
        let here = |names: &NameSet| -> NameSet {
            names
                .0
                .iter()
                .filter_map(|n| match n.split_once(':') {
                    Some(_) => n.strip_prefix(&prefix),
                    None => home.then_some(n.as_str()),
                })
                .collect()
        };
        let mut view = Self {
            exempt_users: here(&self.exempt_users),
            exempt_roles: here(&self.exempt_roles),
            exempt_taggers: here(&self.exempt_taggers),
            ..self.clone()
        };
        if !self.exempt_taggers.is_empty() && view.exempt_taggers.is_empty() {
            // EXEMPT_TAGGERS names none of this account's roles: no tagger here is
            // believed (an empty set would believe any role's). No IAM name holds ':'.
            view.exempt_taggers = std::iter::once(":").collect();
        }
        if !home {
            // Only the role this function acts through is keyguard's own there: another
            // name (age-rotation's member role, which not every member has) could be
            // taken by whoever may create roles in the member, to hide behind it.
            view.keyguard_roles = std::iter::once(org.member_role.as_str()).collect();
            view.me.user = None;
            view.member_view = true;
        }
        Cow::Owned(view)
    }

    /// Whether `account` is keyguard's own.
    pub fn is_home(&self, account: &AccountId) -> bool {
        self.me.account.as_ref() == Some(account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{RoleName, UserName};

    fn guard(env: &[(&str, &str)]) -> Guard {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let get = |k: &str| env.get(k).cloned();
        Guard::from_env(
            &get,
            SelfIdentity {
                key_id: Some("ASIAKEYGUARDSELF0001".into()),
                user: Some("Keyguard-Ci".into()),
                role: Some("my-custom-keyguard-role".into()),
                account: Some(AccountId::parse("111111111111").unwrap()),
            },
        )
        .unwrap()
    }

    fn user(n: &str) -> Principal {
        Principal::User(UserName::parse(n).unwrap())
    }

    fn role(n: &str) -> Principal {
        Principal::Role(RoleName::parse(n).unwrap())
    }

    #[test]
    fn names_and_tag_keys_compare_regardless_of_case() {
        let g = guard(&[
            ("EXEMPT_USERS", "breakglass"),
            ("EXEMPT_ROLES", "Ops-Admin"),
            ("EXEMPT_TAG", "KeyGuard:Exempt=True"),
        ]);
        let none = BTreeMap::new();
        assert_eq!(
            g.protection(&user("BreakGlass"), None, &none),
            Some(Protected::Exempt)
        );
        assert_eq!(
            g.protection(&role("ops-admin"), None, &none),
            Some(Protected::Exempt)
        );
        assert_eq!(g.protection(&user("alice"), None, &none), None);
        let tagged: BTreeMap<String, String> =
            [("keyguard:exempt".to_owned(), "TRUE".to_owned())].into();
        assert_eq!(
            g.protection(&user("alice"), None, &tagged),
            Some(Protected::Exempt)
        );
        assert!(g.user_untouchable("KEYGUARD-CI", &none));
    }

    #[test]
    fn age_and_sweep_leave_alone_a_user_with_a_canarys_name_and_tag() {
        let g = guard(&[]);
        let tagged: BTreeMap<String, String> =
            [("keyguard:canary".to_owned(), "true".to_owned())].into();
        let none = BTreeMap::new();
        assert!(g.user_untouchable("keyguard-canary-ci", &tagged));
        for (name, tags) in [
            ("keyguard-canary-ci", &none),
            ("alice", &tagged),
            ("Keyguard-Canary-ci", &tagged),
        ] {
            assert!(!g.user_untouchable(name, tags), "{name}");
        }
        // Containment needs the deny as well, which only its facts know.
        assert_eq!(
            g.protection(&user("keyguard-canary-ci"), None, &tagged),
            None
        );
    }

    #[test]
    fn every_keyguard_role_is_protected_not_only_its_own() {
        let g = guard(&[]);
        let none = BTreeMap::new();
        for r in DEFAULT_KEYGUARD_ROLES
            .iter()
            .chain(&["my-custom-keyguard-role"])
        {
            assert_eq!(
                g.protection(&role(r), None, &none),
                Some(Protected::Keyguard),
                "{r}"
            );
            assert_eq!(
                g.protection(&role(&r.to_ascii_uppercase()), None, &none),
                Some(Protected::Keyguard),
                "{r}"
            );
        }
        assert_eq!(
            g.protection(&user("anyone"), Some("ASIAKEYGUARDSELF0001"), &none),
            Some(Protected::Keyguard)
        );
        // A role merely named like keyguard's is not protected.
        assert_eq!(g.protection(&role("keyguard-admin"), None, &none), None);
        let listed = guard(&[("KEYGUARD_ROLES", "kg-a, kg-b")]);
        assert_eq!(
            listed.protection(&role("KG-B"), None, &none),
            Some(Protected::Keyguard)
        );
        assert_eq!(
            listed.protection(&role("my-custom-keyguard-role"), None, &none),
            Some(Protected::Keyguard)
        );
        assert_eq!(
            listed.protection(&role("keyguard-deactivate-key"), None, &none),
            None
        );
    }

    #[test]
    fn only_the_home_account_is_acted_in() {
        let g = guard(&[]);
        let scope = |a: &str| Scope {
            account: AccountId::parse(a).unwrap(),
            region: None,
        };
        assert_eq!(g.foreign(Some(&scope("111111111111"))), None);
        assert!(g
            .foreign(Some(&scope("222222222222")))
            .unwrap()
            .contains("222222222222"));
        assert!(g.foreign(None).is_some());
        let mut blind = g.clone();
        blind.me.account = None;
        assert!(blind.foreign(Some(&scope("111111111111"))).is_some());
    }

    #[test]
    fn organisation_mode_opens_the_allowed_members_only() {
        let env: BTreeMap<String, String> = [
            ("ORGANIZATION_MODE", "true"),
            ("MEMBER_ACCOUNTS", "222222222222"),
            ("MEMBER_ROLE_NAME", "Sec-Member"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let org =
            crate::organization::Organization::from_env(&|k: &str| env.get(k).cloned()).unwrap();
        let g = guard(&[]).with_organization(org);
        let scope = |a: &str| Scope {
            account: AccountId::parse(a).unwrap(),
            region: None,
        };
        assert_eq!(g.foreign(Some(&scope("111111111111"))), None);
        assert_eq!(g.foreign(Some(&scope("222222222222"))), None);
        assert!(g
            .foreign(Some(&scope("333333333333")))
            .unwrap()
            .contains("MEMBER_ACCOUNTS"));
        assert!(g.foreign(None).is_some(), "an event naming no account");
        // The member role is keyguard's own, whatever its case.
        assert!(g.keyguard_roles.contains("sec-member"));
    }

    #[test]
    fn in_a_member_account_only_the_member_role_and_that_accounts_exemptions_protect() {
        let env: BTreeMap<String, String> = [("ORGANIZATION_MODE", "true")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let org =
            crate::organization::Organization::from_env(&|k: &str| env.get(k).cloned()).unwrap();
        let g = guard(&[
            ("EXEMPT_USERS", "BreakGlass,222222222222:Member-Admin"),
            ("EXEMPT_ROLES", "ops-admin"),
        ])
        .with_organization(org);
        let none = BTreeMap::new();
        let home = AccountId::parse("111111111111").unwrap();
        let member = AccountId::parse("222222222222").unwrap();
        let other = AccountId::parse("333333333333").unwrap();
        let at_home = g.in_account(Some(&home));
        assert!(at_home
            .protection(&user("BreakGlass"), None, &none)
            .is_some());
        assert!(at_home
            .protection(&role("keyguard-runbook"), None, &none)
            .is_some());
        assert!(at_home
            .protection(&user("Member-Admin"), None, &none)
            .is_none());
        let there = g.in_account(Some(&member));
        assert_eq!(
            there.protection(&user("member-admin"), None, &none),
            Some(Protected::Exempt)
        );
        // A role or user named like keyguard's own, or like a home exemption, made in a
        // member is not protected there.
        for p in [
            user("BreakGlass"),
            role("keyguard-runbook"),
            role("ops-admin"),
        ] {
            assert_eq!(there.protection(&p, None, &none), None, "{p:?}");
        }
        assert_eq!(
            there.protection(&role("KEYGUARD-MEMBER"), None, &none),
            Some(Protected::Keyguard)
        );
        // Another keyguard name is free to take in a member: not protected by it there.
        assert_eq!(
            there.protection(&role("keyguard-age-rotation-member"), None, &none),
            None
        );
        // A tagger is a home role unless named with its account.
        let taggers = guard(&[("EXEMPT_TAGGERS", "sec-admin,222222222222:member-sec")])
            .with_organization(g.organization.clone());
        assert!(taggers
            .in_account(Some(&home))
            .exempt_taggers
            .contains("sec-admin"));
        let member_taggers = taggers.in_account(Some(&member));
        assert!(!member_taggers.exempt_taggers.contains("sec-admin"));
        assert!(member_taggers.exempt_taggers.contains("member-sec"));
        // Listing only home roles believes no member's tagger, rather than any.
        let home_only =
            guard(&[("EXEMPT_TAGGERS", "sec-admin")]).with_organization(g.organization.clone());
        let there = home_only.in_account(Some(&member));
        let p = crate::exemption::Provenance {
            set_by: "arn:aws:sts::222222222222:assumed-role/sec-admin/x".into(),
            own: false,
            long_term_key: false,
            role_session: true,
            call: "TagUser".into(),
            at: "2026-12-07T10:00:00Z".into(),
            event_id: "e".into(),
        };
        assert!(there.doubts(&p).is_some());
        assert!(home_only.in_account(Some(&home)).doubts(&p).is_none());
        assert!(g
            .in_account(Some(&other))
            .protection(&user("Member-Admin"), None, &none)
            .is_none());
    }

    #[test]
    fn bare_records_and_unauthenticated_hand_offs_are_not_believed() {
        let g = guard(&[("TRUSTED_CUSTOM_SOURCES", "custom.demo")]);
        let parse = |v: serde_json::Value| crate::parse(v.to_string().as_bytes()).unwrap();
        let bare = parse(
            serde_json::json!({"eventName": "CreateAccessKey", "eventSource": "iam.amazonaws.com", "userIdentity": {"type": "IAMUser"}}),
        );
        assert!(g
            .untrusted(&bare, None)
            .unwrap()
            .contains("no EventBridge envelope"));
        let bare_finding = parse(
            serde_json::json!({"id": "f", "type": "UnauthorizedAccess:IAMUser/X", "severity": 8, "schemaVersion": "2.0"}),
        );
        assert!(g.untrusted(&bare_finding, None).is_some());
        let wrapped = |source: &str| {
            parse(
                serde_json::json!({"id": "1", "detail-type": "Scheduled Event", "source": source, "detail": {}}),
            )
        };
        assert_eq!(g.untrusted(&wrapped("aws.events"), None), None);
        assert_eq!(g.untrusted(&wrapped("custom.demo"), None), None);
        assert!(g.untrusted(&wrapped("custom.other"), None).is_some());
        let handoff = parse(
            serde_json::json!({"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "accountId": "111111111111"}),
        );
        assert!(g.untrusted(&handoff, None).is_some());
        assert!(g
            .untrusted(&handoff, Some(&HandoffCheck::Rejected("bad mac".into())))
            .unwrap()
            .contains("bad mac"));
        assert_eq!(g.untrusted(&handoff, Some(&HandoffCheck::Verified)), None);
    }
}
