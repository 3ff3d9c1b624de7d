//! deactivate-key: which credential to contain, and how.
//!
//! Three stories, one file each:
//! - [`target`] (`target.rs`) reads the event: which credentials it names, in which
//!   account, or why nothing will be done (untrusted source, unauthenticated hand-off,
//!   nothing to act on);
//! - [`gather`] (`gather.rs`) reads from IAM only what each credential's [`Lookup`] asks,
//!   finding a key's owner from the key when the event names none or the wrong one;
//! - [`decide`] (`decide.rs`) turns target and facts into the plan:
//!   - a long-term `AKIA` key that is not Inactive → deactivate exactly that key, never
//!     the user's other keys; already Inactive → nothing to write;
//!   - a temporary `ASIA` key cannot be deactivated → deny every session of its role (or
//!     user, for `GetSessionToken` sessions) issued before now;
//!   - a root identity cannot be contained through IAM → a critical notice only;
//!   - a credential of another account, keyguard's own principals, an exempt user or
//!     role → a notice only, never a write;
//!   - no owner found, even after a second read a few seconds later → a notice.

mod decide;
mod gather;
mod target;
pub mod trail;

pub use crate::guard::SelfIdentity;
pub use decide::decide;
pub(crate) use decide::user_sessions;
pub use gather::{gather, gather_all, gather_each, InAccount, Recheck};
pub use target::SELF_EXEMPTION;
pub use target::{finding_contested, finding_subject, role_from_arn, target, Early};

use crate::config::{self, ConfigError, Env};
use crate::effects::EffectError;
use crate::guard::Guard;
use crate::key::{AccessKeyId, UserName};
use crate::plan::Principal;
use crate::scope::{AccountId, Scope};
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

pub const FUNCTION: &str = "deactivate-key";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainmentConfig {
    /// Exemptions, keyguard's own principals, trusted sources, keyguard's account.
    pub guard: Guard,
    /// `REVOKE_POLICY_NAME`: the inline policy that revokes older sessions.
    pub revoke_policy_name: String,
    /// `REVOKE_USER_SESSIONS` (default true): containing a user's long-term key also
    /// denies that user's temporary credentials issued before now, since the sessions
    /// the key minted (`GetSessionToken`, `GetFederationToken`) outlive its deactivation.
    pub revoke_user_sessions: bool,
    /// `NOT_FOUND_RECHECK_SECONDS` (default 3; 0 reads once): IAM is eventually
    /// consistent, so "no such key" is concluded only when a second read this long after
    /// the first agrees.
    pub recheck: Recheck,
    /// `HANDOFF_MAX_AGE_SECONDS` (default 21600, Lambda's longest wait for an
    /// asynchronous event): an older hand-off is a replay, refused.
    pub handoff_max_age: Duration,
    /// `LOOKBACK_HOURS`, `SWEEP_CREATED_KEYS`: what a contained key did, read afterwards.
    pub sweep: trail::SweepConfig,
}

impl ContainmentConfig {
    /// A hand-off too old to act on, refused at the door before its MAC is asked about:
    /// the function and `keyguard plan` both ask this first.
    pub fn stale_handoff(
        &self,
        trigger: &crate::Trigger,
        now: crate::Timestamp,
    ) -> Option<crate::guard::HandoffCheck> {
        let crate::Trigger::Handoff(h) = trigger else {
            return None;
        };
        h.stale(now, self.handoff_max_age)
            .map(crate::guard::HandoffCheck::Rejected)
    }

    pub fn from_env(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        Ok(Self {
            guard: Guard::from_env(env, me)?,
            revoke_policy_name: config::string(
                env,
                "REVOKE_POLICY_NAME",
                "keyguard-revoke-older-sessions",
            ),
            revoke_user_sessions: config::flag(env, "REVOKE_USER_SESSIONS", true)?,
            recheck: Recheck {
                delay: config::seconds(env, "NOT_FOUND_RECHECK_SECONDS", 3.0)?,
            },
            handoff_max_age: config::seconds(env, "HANDOFF_MAX_AGE_SECONDS", 21_600.0)?,
            sweep: trail::SweepConfig::from_env(env)?,
        })
    }

    /// deactivate-key's configuration: containment's, with its organisation mode. One
    /// place, so that `keyguard plan` reads what the function reads.
    pub fn deactivate_key_from_env(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        Ok(Self::from_env(env, me)?
            .in_organization(crate::organization::Organization::from_env(env)?))
    }

    /// Containment in member accounts too (deactivate-key's `ORGANIZATION_MODE`). Only a
    /// function whose effects reach a member through its role may turn it on: the other
    /// users of this configuration keep refusing another account's credential.
    pub fn in_organization(mut self, org: Option<crate::organization::Organization>) -> Self {
        self.guard = self.guard.with_organization(org);
        self
    }

    pub fn me(&self) -> &SelfIdentity {
        &self.guard.me
    }

    /// The revocation's policy name when containment revokes a user's sessions: what
    /// [`gather`] reads for a key already Inactive.
    pub fn sessions_policy(&self) -> Option<&str> {
        self.revoke_user_sessions
            .then_some(self.revoke_policy_name.as_str())
    }

    /// What [`gather`] reads beyond the credential.
    pub fn reads(&self) -> Reads<'_> {
        Reads {
            sessions_policy: self.sessions_policy(),
            guard: &self.guard,
        }
    }
}

/// What [`gather`] reads beyond the credential, from containment's configuration: the
/// revocation in force for a key already Inactive, and who set an exemption tag.
#[derive(Debug, Clone, Copy)]
pub struct Reads<'a> {
    pub sessions_policy: Option<&'a str>,
    pub guard: &'a Guard,
}

/// The credential an event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A long-term key; the user is looked up from the key when the event does not say
    /// (or names one who does not hold it).
    UserKey {
        key_id: AccessKeyId,
        user: Option<UserName>,
    },
    /// A temporary key and whose sessions it belongs to.
    Session {
        key_id: AccessKeyId,
        principal: Principal,
    },
    /// Root's credentials: nothing in IAM can contain them.
    Root { key_id: Option<String> },
    /// An identity type whose key no IAM call contains (federated, service, ...).
    Uncontainable {
        identity: String,
        key_id: Option<String>,
    },
}

impl Subject {
    /// The key id, when the subject has a valid one.
    pub fn key_id(&self) -> Option<&AccessKeyId> {
        match self {
            Self::UserKey { key_id, .. } | Self::Session { key_id, .. } => Some(key_id),
            Self::Root { .. } | Self::Uncontainable { .. } => None,
        }
    }
}

/// One credential an event names, and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub subject: Subject,
    pub scope: Option<Scope>,
    /// Why this credential is not keyguard's to act on (another account, or an event
    /// that names none), if it is not: it gets a notice, and nothing is read.
    pub foreign: Option<String>,
    /// Why the exemption tag on the credential's user is not believed, when it is not:
    /// the tag is written by whoever may tag the user, and here the leaked side wrote it
    /// (the key tagged its own user: the detector's `exemption-tagged` hand-off; or a
    /// contained key tagged the user it made a key for: the sweep's history). An
    /// exemption by name (`EXEMPT_USERS`) still holds.
    pub tag_not_believed: Option<String>,
    /// Another account the event names for the credential (a finding's remote caller,
    /// [`target::finding_contested`]): nothing is read until STS says the key is the
    /// scope's, and a key STS gives to another account is not acted on anywhere.
    pub contested: Option<AccountId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// One credential for most events; every exposed key of an AWS Health event.
    pub credentials: Vec<Credential>,
    pub classifier_source: Option<String>,
    /// The id that stays the same across redeliveries; idempotency keys are built on it.
    pub event_ref: String,
}

/// What the adapter must read before [`decide`] can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// `ListAccessKeys` and `ListUserTags` for the named user; `GetAccessKeyLastUsed`
    /// when no user is named or the named one does not hold the key.
    UserKey {
        key_id: AccessKeyId,
        user: Option<UserName>,
    },
    /// Does the principal exist, and its tags.
    Principal(Principal),
    Nothing,
}

impl Credential {
    /// The credential as it is acted on once STS has said whose its key is
    /// (`facts.key_account`): where it is scoped when STS agrees; in the other account the
    /// event names when STS says that one (and only if keyguard may act there, `guard`);
    /// nowhere otherwise, or when STS was not asked. Uncontested, it is as it is.
    pub fn settled(&self, facts: &Facts, guard: &Guard) -> std::borrow::Cow<'_, Self> {
        use std::borrow::Cow;
        let Some(remote) = &self.contested else {
            return Cow::Borrowed(self);
        };
        let named = self.scope.as_ref().map(|s| &s.account);
        let owner = facts.key_account.as_ref();
        let mut settled = Self {
            contested: None,
            ..self.clone()
        };
        if owner.is_some() && owner == named {
            return Cow::Owned(settled);
        }
        if let Some(owner) = owner.filter(|o| *o == remote) {
            let scope = Scope {
                account: owner.clone(),
                region: self.scope.as_ref().and_then(|s| s.region.clone()),
            };
            settled.foreign = guard.foreign(Some(&scope)).map(|why| {
                format!("STS says the key belongs to account {owner}, the event's remote caller's: {why}")
            });
            settled.scope = Some(scope);
            return Cow::Owned(settled);
        }
        settled.foreign = Some(format!(
            "the event names account {} for the credential and account {remote} for its remote caller; {}: not acted on in either",
            named.map_or("(none)", AccountId::as_str),
            owner.map_or_else(
                || "whose the key is was not told".to_owned(),
                |o| format!("STS says the key belongs to account {o}")
            ),
        ));
        Cow::Owned(settled)
    }

    /// The credential to read, given whose STS says its key is (`key_account`; asked only
    /// when [`Self::key_to_ask`]): as it is, settled ([`Self::settled`]), or, when it is
    /// acted on nowhere, `Err` with the facts that say so (nothing read).
    pub fn to_read(
        &self,
        key_account: Option<&AccountId>,
        guard: &Guard,
    ) -> Result<std::borrow::Cow<'_, Self>, Box<Facts>> {
        if self.contested.is_none() {
            return Ok(std::borrow::Cow::Borrowed(self));
        }
        let told = Facts {
            key_account: key_account.cloned(),
            ..Facts::default()
        };
        let settled = self.settled(&told, guard);
        if settled.foreign.is_some() {
            return Err(Box::new(told));
        }
        Ok(settled)
    }

    /// The key STS must be asked about before anything is read, if any: the event names
    /// two accounts for the credential, and STS's answer decides where it is read, or,
    /// when nothing is read (a root key, a finding that only alerts), whose window and
    /// notice it is. A credential already refused reads nothing and asks nothing.
    pub fn key_to_ask(&self, lookup: &Lookup) -> Option<AccessKeyId> {
        self.contested.as_ref()?;
        if *lookup == Lookup::Nothing && self.foreign.is_some() {
            return None;
        }
        match &self.subject {
            Subject::UserKey { key_id, .. } | Subject::Session { key_id, .. } => {
                Some(key_id.clone())
            }
            Subject::Root { key_id } | Subject::Uncontainable { key_id, .. } => {
                key_id.as_deref().and_then(|k| AccessKeyId::parse(k).ok())
            }
        }
    }

    pub fn lookup(&self) -> Lookup {
        if self.foreign.is_some() {
            return Lookup::Nothing;
        }
        match &self.subject {
            Subject::UserKey { key_id, user } => Lookup::UserKey {
                key_id: key_id.clone(),
                user: user.clone(),
            },
            Subject::Session { principal, .. } => Lookup::Principal(principal.clone()),
            Subject::Root { .. } | Subject::Uncontainable { .. } => Lookup::Nothing,
        }
    }
}

impl Target {
    /// One lookup per credential, in order.
    pub fn lookups(&self) -> Vec<Lookup> {
        self.credentials.iter().map(Credential::lookup).collect()
    }
}

/// An access key's status. IAM documents `Active`, `Inactive` and (in current API
/// versions) `Expired`; only `Inactive` counts as contained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Inactive,
    Expired,
    /// A status keyguard does not know yet.
    Other,
}

impl KeyStatus {
    /// IAM's name for the status; `None` for one keyguard does not know.
    pub fn as_iam(self) -> Option<&'static str> {
        match self {
            Self::Active => Some("Active"),
            Self::Inactive => Some("Inactive"),
            Self::Expired => Some("Expired"),
            Self::Other => None,
        }
    }

    pub fn from_iam(raw: &str) -> Self {
        match raw {
            "Active" => Self::Active,
            "Inactive" => Self::Inactive,
            "Expired" => Self::Expired,
            _ => Self::Other,
        }
    }
}

/// What IAM said about one credential.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The user who owns the key, as IAM spells it (named by the event or found from
    /// the key).
    pub owner: Option<UserName>,
    /// The user or role exists.
    pub exists: bool,
    /// The key's status when the user has it; `None` when the user has no such key.
    pub key_status: Option<KeyStatus>,
    pub tags: BTreeMap<String, String>,
    /// The event named another user than the one who holds the key (renamed, or a
    /// wrong name): the owner was found from the key.
    pub named_other: Option<UserName>,
    /// Read only for a key already Inactive: when IAM last saw it used (`None`: never,
    /// or not recorded yet), and the cut-off of keyguard's revocation already on its
    /// user. A key last used before that cut-off has no session left to end.
    pub last_used: Option<Timestamp>,
    pub sessions_denied_before: Option<Timestamp>,
    /// The owner is a canary keyguard issued and still harmless: its name, its tag and
    /// keyguard's deny of everything, read now ([`crate::canary`]).
    pub canary: bool,
    /// Who set the principal's exemption tag, as createkey-detector recorded it: read
    /// only for a principal tagged exempt ([`crate::exemption`]).
    pub exemption: Option<crate::exemption::Provenance>,
    /// Organisation mode: the organisation does not have the credential's account as an
    /// ACTIVE member, and why. Nothing else was read.
    pub outside: Option<String>,
    /// Whose STS says the key is (`sts:GetAccessKeyInfo`), asked when the event names two
    /// accounts for it ([`Credential::settled`]).
    pub key_account: Option<AccountId>,
}

impl Facts {
    /// Why the exemption tag on this credential's principal is not believed, if it is
    /// not: the event says the credential set it itself, or keyguard's record of who set
    /// it says so ([`crate::exemption`]), or (a member account) keyguard has no record
    /// of who set it.
    pub fn tag_doubt(&self, guard: &Guard, credential: &Credential) -> Option<String> {
        if !guard.tagged_exempt(&self.tags) {
            return None;
        }
        credential.tag_not_believed.clone().or_else(|| match &self.exemption {
            Some(p) => guard.doubts(p),
            None if guard.member_view => Some(
                "in a member account keyguard believes an exemption tag only when it saw who set it (exempt by name with EXEMPT_USERS=ACCOUNT:NAME)"
                    .to_owned(),
            ),
            None => None,
        })
    }

    /// Why keyguard must leave this credential alone, if it must: keyguard's own and
    /// exempt principals (the guard), and a canary still harmless (these facts).
    /// `believe_tag` false leaves the exemption tag out ([`Self::tag_doubt`]).
    pub fn protection(
        &self,
        guard: &crate::guard::Guard,
        principal: &Principal,
        key_id: Option<&str>,
        believe_tag: bool,
    ) -> Option<crate::guard::Protected> {
        let none = BTreeMap::new();
        let tags = if believe_tag { &self.tags } else { &none };
        guard
            .protection(principal, key_id, tags)
            .or_else(|| self.canary.then_some(crate::guard::Protected::Canary))
    }
}

/// A user's keys as `ListAccessKeys` returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserKeys {
    /// The user's name as IAM returns it (from the key metadata; `None` with no keys).
    pub user: Option<UserName>,
    pub keys: Vec<(String, KeyStatus)>,
}

/// The reads [`gather`] needs from IAM, implemented over the SDK by keyguard-aws and over
/// a facts file by the CLI, so both gather facts the same way.
pub trait IamReader {
    /// The user a long-term key belongs to (`GetAccessKeyLastUsed`); `None` if no user has it.
    fn key_owner(
        &self,
        key_id: &AccessKeyId,
    ) -> impl Future<Output = Result<Option<UserName>, EffectError>> + Send;
    /// The user's keys and their status (`ListAccessKeys`); `None` if there is no such user.
    fn user_keys(
        &self,
        user: &UserName,
    ) -> impl Future<Output = Result<Option<UserKeys>, EffectError>> + Send;
    /// The principal's tags; `None` if it does not exist.
    fn tags(
        &self,
        principal: &Principal,
    ) -> impl Future<Output = Result<Option<BTreeMap<String, String>>, EffectError>> + Send;
    /// When the key was last used (`GetAccessKeyLastUsed`); `None`: never, as far as IAM
    /// has recorded.
    fn key_last_used(
        &self,
        key_id: &AccessKeyId,
    ) -> impl Future<Output = Result<Option<Timestamp>, EffectError>> + Send;
    /// The cut-off of the principal's revocation policy of this name
    /// ([`crate::revocation::cut_off_of`]); `None` when it has none (`GetUserPolicy`).
    fn revocation_cut_off(
        &self,
        principal: &Principal,
        policy_name: &str,
    ) -> impl Future<Output = Result<Option<Timestamp>, EffectError>> + Send;
    /// Whether the user's inline policy `keyguard-canary-deny-all` denies everything
    /// ([`crate::canary::denies_everything`]); `false` when it has none.
    fn canary_denied(
        &self,
        user: &UserName,
    ) -> impl Future<Output = Result<bool, EffectError>> + Send;
    /// Who set the principal's exemption tag, as keyguard recorded it; `None` when it
    /// recorded nothing (a reader without the record).
    fn exemption_set(
        &self,
        principal: &Principal,
    ) -> impl Future<Output = Result<Option<crate::exemption::Provenance>, EffectError>> + Send
    {
        let _ = principal;
        async { Ok(None) }
    }
    /// Waits before a second read (IAM is eventually consistent). Offline readers return
    /// at once.
    fn pause(&self, wait: Duration) -> impl Future<Output = ()> + Send;
}

#[cfg(test)]
mod tests;
