//! deactivate-key: which credential to contain, and how.
//!
//! Two pure steps. [`target`] reads the event and says which credential it names (or why
//! nothing will be done). The adapter then looks up the [`Facts`] the target asks for
//! ([`Target::lookup`]), and [`decide`] turns target + facts into the plan:
//!
//! - a long-term `AKIA` key that is Active → deactivate exactly that key, never the user's
//!   other keys; already Inactive → nothing to write;
//! - a temporary `ASIA` key cannot be deactivated → deny every session of its role (or
//!   user, for `GetSessionToken` sessions) issued before now;
//! - a root identity cannot be contained through IAM → a critical notice only;
//! - keyguard's own credential, an exempt user or role → a notice only, never a write;
//! - unknown user, role or key → a clean "not found".

use crate::config::{self, ConfigError, Env};
use crate::effects::EffectError;
use crate::events::{Finding, IdentityType, Trigger};
use crate::key::{AccessKeyId, KeyKind, RoleName, UserName};
use crate::notice::{Notice, Severity};
use crate::plan::{Action, Decision, Plan, Principal, Step};
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

pub const FUNCTION: &str = "deactivate-key";

/// Who keyguard itself runs as. It never contains its own credential.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelfIdentity {
    pub key_id: Option<String>,
    pub user: Option<String>,
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainmentConfig {
    /// `EXEMPT_TAG`, default `keyguard:exempt=true` (value compared case-insensitively).
    pub exempt_tag: (String, String),
    /// `EXEMPT_USERS`: break-glass users never deactivated automatically.
    pub exempt_users: BTreeSet<String>,
    /// `EXEMPT_ROLES`: roles whose sessions are never revoked automatically.
    pub exempt_roles: BTreeSet<String>,
    /// `TRUSTED_CUSTOM_SOURCES`: non-`aws.*` EventBridge sources accepted anyway.
    pub trusted_sources: BTreeSet<String>,
    /// `REVOKE_POLICY_NAME`: the inline policy that revokes older sessions.
    pub revoke_policy_name: String,
    pub me: SelfIdentity,
}

impl ContainmentConfig {
    pub fn from_env(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        Ok(Self {
            exempt_tag: config::pair(env, "EXEMPT_TAG", ("keyguard:exempt", "true"))?,
            exempt_users: config::list(env, "EXEMPT_USERS"),
            exempt_roles: config::list(env, "EXEMPT_ROLES"),
            trusted_sources: config::list(env, "TRUSTED_CUSTOM_SOURCES"),
            revoke_policy_name: config::string(
                env,
                "REVOKE_POLICY_NAME",
                "keyguard-revoke-older-sessions",
            ),
            me,
        })
    }

    fn tagged_exempt(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.get(&self.exempt_tag.0)
            .is_some_and(|v| v.eq_ignore_ascii_case(&self.exempt_tag.1))
    }
}

/// The credential an event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A long-term key; the user is looked up from the key when the event does not say.
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub subject: Subject,
    pub classifier_source: Option<String>,
    /// The id that stays the same across redeliveries; idempotency keys are built on it.
    pub event_ref: String,
}

/// What the adapter must read before [`decide`] can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// `GetAccessKeyLastUsed` when `user` is unknown, then `ListAccessKeys` and
    /// `ListUserTags` for the user.
    UserKey {
        key_id: AccessKeyId,
        user: Option<UserName>,
    },
    /// Does the principal exist, and its tags.
    Principal(Principal),
    Nothing,
}

impl Target {
    pub fn lookup(&self) -> Lookup {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Inactive,
}

/// What IAM said about the target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The user who owns the key (named by the event or found from the key).
    pub owner: Option<UserName>,
    /// The user or role exists.
    pub exists: bool,
    /// The key's status when the user has it; `None` when the user has no such key.
    pub key_status: Option<KeyStatus>,
    pub tags: BTreeMap<String, String>,
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
    ) -> impl Future<Output = Result<Option<Vec<(String, KeyStatus)>>, EffectError>> + Send;
    /// The principal's tags; `None` if it does not exist.
    fn tags(
        &self,
        principal: &Principal,
    ) -> impl Future<Output = Result<Option<BTreeMap<String, String>>, EffectError>> + Send;
}

/// Reads the facts a lookup asks for.
pub async fn gather<R: IamReader + Sync>(lookup: &Lookup, iam: &R) -> Result<Facts, EffectError> {
    match lookup {
        Lookup::Nothing => Ok(Facts::default()),
        Lookup::Principal(p) => Ok(match iam.tags(p).await? {
            Some(tags) => Facts {
                exists: true,
                tags,
                ..Facts::default()
            },
            None => Facts::default(),
        }),
        Lookup::UserKey { key_id, user } => {
            let owner = match user {
                Some(u) => Some(u.clone()),
                None => iam.key_owner(key_id).await?,
            };
            let Some(owner) = owner else {
                return Ok(Facts::default());
            };
            // The two reads at once: containment waits on the slower, not on both.
            let principal = Principal::User(owner.clone());
            let (keys, tags) =
                futures::future::try_join(iam.user_keys(&owner), iam.tags(&principal)).await?;
            let Some(keys) = keys else {
                return Ok(Facts {
                    owner: Some(owner),
                    ..Facts::default()
                });
            };
            let key_status = keys
                .iter()
                .find(|(k, _)| k == key_id.as_str())
                .map(|(_, s)| *s);
            let tags = tags.unwrap_or_default();
            Ok(Facts {
                owner: Some(owner),
                exists: true,
                key_status,
                tags,
            })
        }
    }
}

fn early(decision: Decision, event_ref: &str, classifier_source: Option<String>) -> Plan {
    let mut plan = Plan::for_event(FUNCTION, decision, event_ref.to_owned());
    plan.classifier_source = classifier_source;
    plan
}

/// A plan finished before any lookup (boxed: it is the rare, large error path).
pub type Early = Box<Plan>;

fn invalid(why: String, event_ref: &str, cs: Option<String>) -> Early {
    Box::new(early(Decision::Invalid { why }, event_ref, cs))
}

fn ignored(why: &str, event_ref: &str) -> Early {
    let why = why.to_owned();
    Box::new(early(Decision::Ignored { why }, event_ref, None))
}

/// A key id read from an AWS record, validated.
fn key_in(raw: Option<&str>, field: &str, event_ref: &str) -> Result<AccessKeyId, Early> {
    let raw = raw.ok_or_else(|| {
        invalid(
            format!("the event names no access key ({field})"),
            event_ref,
            None,
        )
    })?;
    AccessKeyId::parse(raw).map_err(|e| invalid(format!("{field}: {e}"), event_ref, None))
}

fn name_in<T>(
    raw: Option<&str>,
    field: &str,
    parse: fn(&str) -> Result<T, crate::IdError>,
    event_ref: &str,
) -> Result<Option<T>, Early> {
    raw.map(|r| parse(r).map_err(|e| invalid(format!("{field}: {e}"), event_ref, None)))
        .transpose()
}

/// A role name from `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
pub fn role_from_arn(arn: &str) -> Option<&str> {
    arn.split_once(":assumed-role/")?.1.split('/').next()
}

fn session_subject(
    key_id: AccessKeyId,
    principal: Option<Principal>,
    event_ref: &str,
) -> Result<Subject, Early> {
    let principal = principal.ok_or_else(|| {
        invalid(
            format!(
                "temporary key {key_id}: the event names no role or user whose sessions to revoke"
            ),
            event_ref,
            None,
        )
    })?;
    Ok(Subject::Session { key_id, principal })
}

/// A key named with (optionally) its IAM user: a long-term key to deactivate, or the
/// user's `GetSessionToken` sessions to revoke.
fn user_subject(
    (raw_key, key_field): (Option<&str>, &str),
    (raw_user, user_field): (Option<&str>, &str),
    event_ref: &str,
) -> Result<Subject, Early> {
    let key_id = key_in(raw_key, key_field, event_ref)?;
    let user = name_in(raw_user, user_field, UserName::parse, event_ref)?;
    match key_id.kind() {
        KeyKind::LongTerm => Ok(Subject::UserKey { key_id, user }),
        KeyKind::Temporary => session_subject(key_id, user.map(Principal::User), event_ref),
    }
}

/// Why an event's EventBridge source cannot be trusted, if it cannot: only AWS can
/// publish `aws.*` sources; anyone allowed to put events can publish any other.
pub fn untrusted_source(trigger: &Trigger, trusted: &BTreeSet<String>) -> Option<String> {
    let env = trigger.envelope()?;
    (!env.is_from_aws() && !trusted.contains(&env.source)).then(|| {
        format!(
            "source {:?} is not an AWS source and not in TRUSTED_CUSTOM_SOURCES: anyone allowed to put events could have sent it",
            env.source
        )
    })
}

/// The credential a GuardDuty finding names (`resource.accessKeyDetails`). `Err` when it
/// names none, or names one that is malformed.
pub fn finding_subject(finding: &Finding, event_ref: &str) -> Result<Subject, Early> {
    let Some(details) = finding.access_key_details() else {
        return Err(ignored(
            "the finding names no access key (resource.accessKeyDetails)",
            event_ref,
        ));
    };
    let field = "resource.accessKeyDetails.accessKeyId";
    Ok(match details.user_type.as_deref() {
        Some("Root") => Subject::Root {
            key_id: details.access_key_id.clone(),
        },
        // The seed's simulated findings carry no userType: a named user (not root) is
        // read as an IAM user, and IAM then says whether it exists.
        Some("IAMUser") | None
            if details.user_type.is_some()
                || details.user_name.as_deref().is_some_and(|u| u != "Root") =>
        {
            user_subject(
                (details.access_key_id.as_deref(), field),
                (
                    details.user_name.as_deref(),
                    "resource.accessKeyDetails.userName",
                ),
                event_ref,
            )?
        }
        Some("AssumedRole") => {
            let key_id = key_in(details.access_key_id.as_deref(), field, event_ref)?;
            let role = name_in(
                details.user_name.as_deref(),
                "resource.accessKeyDetails.userName",
                RoleName::parse,
                event_ref,
            )?;
            session_subject(key_id, role.map(Principal::Role), event_ref)?
        }
        other => Subject::Uncontainable {
            identity: other.unwrap_or("unknown").to_owned(),
            key_id: details.access_key_id.clone(),
        },
    })
}

/// Reads which credential the event names. `Err` is a finished plan: refused, ignored or
/// invalid, with nothing to look up.
pub fn target(
    trigger: &Trigger,
    cfg: &ContainmentConfig,
    event_ref: &str,
) -> Result<Target, Early> {
    if let Some(why) = untrusted_source(trigger, &cfg.trusted_sources) {
        return Err(Box::new(early(Decision::Refused { why }, event_ref, None)));
    }
    let mut classifier_source = None;
    let subject = match trigger {
        Trigger::CloudTrail { record, .. } => {
            let id = &record.user_identity;
            match &id.identity_type {
                IdentityType::Root => Subject::Root {
                    key_id: id.access_key_id.clone(),
                },
                IdentityType::IamUser => user_subject(
                    (id.access_key_id.as_deref(), "userIdentity.accessKeyId"),
                    (id.user_name.as_deref(), "userIdentity.userName"),
                    event_ref,
                )?,
                IdentityType::AssumedRole => {
                    let key_id = key_in(
                        id.access_key_id.as_deref(),
                        "userIdentity.accessKeyId",
                        event_ref,
                    )?;
                    let issuer = id
                        .session_context
                        .as_ref()
                        .and_then(|s| s.session_issuer.as_ref());
                    let raw_role = issuer
                        .filter(|i| i.issuer_type.as_deref() == Some("Role"))
                        .and_then(|i| i.user_name.as_deref())
                        .or_else(|| id.arn.as_deref().and_then(role_from_arn));
                    let role = name_in(
                        raw_role,
                        "userIdentity.sessionContext.sessionIssuer.userName",
                        RoleName::parse,
                        event_ref,
                    )?;
                    session_subject(key_id, role.map(Principal::Role), event_ref)?
                }
                other => Subject::Uncontainable {
                    identity: other.as_str().to_owned(),
                    key_id: id.access_key_id.clone(),
                },
            }
        }
        Trigger::GuardDuty { finding, .. } => {
            if finding.is_sample() {
                return Err(ignored(
                    "GuardDuty sample finding: generated by GuardDuty, not evidence",
                    event_ref,
                ));
            }
            finding_subject(finding, event_ref)?
        }
        Trigger::Health { event, .. } => {
            if !event.is_credentials_exposed() {
                return Err(ignored(
                    "a Health event other than AWS_RISK_CREDENTIALS_EXPOSED",
                    event_ref,
                ));
            }
            user_subject(
                (event.exposed_key(), "affectedEntities[0].entityValue"),
                (event.exposed_user(), "eventMetadata.userName"),
                event_ref,
            )?
        }
        Trigger::Handoff(h) => {
            classifier_source = h.classifier_source.clone();
            let key_id = h.access_key_id.clone();
            match key_id.kind() {
                KeyKind::LongTerm => Subject::UserKey {
                    key_id,
                    user: h.user_name.clone(),
                },
                KeyKind::Temporary => {
                    let principal = h
                        .role_name
                        .clone()
                        .map(Principal::Role)
                        .or_else(|| h.user_name.clone().map(Principal::User));
                    session_subject(key_id, principal, event_ref).map_err(|mut p| {
                        p.classifier_source = classifier_source.clone();
                        p
                    })?
                }
            }
        }
        Trigger::Scheduled { .. } | Trigger::Rotation(_) | Trigger::Unsupported { .. } => {
            return Err(ignored(
                "deactivate-key acts on CloudTrail, GuardDuty, Health and hand-off events only",
                event_ref,
            ));
        }
    };
    Ok(Target {
        subject,
        classifier_source,
        event_ref: event_ref.to_owned(),
    })
}

struct Builder<'a> {
    plan: Plan,
    target: &'a Target,
}

impl Builder<'_> {
    fn step(&mut self, action: Action, reason: String) {
        let subject = match (&action, &self.target.subject) {
            (
                Action::RevokeSessions {
                    principal: Principal::Role(r),
                    ..
                },
                _,
            ) => format!("role/{r}"),
            (
                Action::RevokeSessions {
                    principal: Principal::User(u),
                    ..
                },
                _,
            ) => format!("user/{u}"),
            (_, Subject::UserKey { key_id, .. } | Subject::Session { key_id, .. }) => {
                key_id.to_string()
            }
            (_, Subject::Root { .. }) => "root".to_owned(),
            (_, Subject::Uncontainable { identity, .. }) => identity.clone(),
        };
        let idempotency_key = format!(
            "{FUNCTION}:{}:{subject}:{}",
            action.name(),
            self.target.event_ref
        );
        self.plan.steps.push(Step {
            after: None,
            action,
            reason,
            idempotency_key,
            window: None,
        });
    }

    fn notice_only(mut self, decision: Decision, notice: Notice) -> Plan {
        let reason = match &decision {
            Decision::Refused { why } | Decision::NotContainable { why } => why.clone(),
            _ => notice.subject.clone(),
        };
        self.step(Action::Notify { notice }, reason);
        self.plan.decision = decision;
        self.plan
    }

    fn done(mut self, decision: Decision) -> Plan {
        self.plan.decision = decision;
        self.plan
    }
}

/// The plan for a target, given what IAM said about it.
pub fn decide(target: &Target, cfg: &ContainmentConfig, facts: &Facts, now: Timestamp) -> Plan {
    let mut plan = Plan::for_event(FUNCTION, Decision::Act, target.event_ref.clone());
    plan.classifier_source = target.classifier_source.clone();
    let b = Builder { plan, target };
    let source = target.classifier_source.as_deref().unwrap_or("an event");
    match &target.subject {
        Subject::Root { key_id } => {
            let why = "a root credential: no IAM call can deactivate it; rotate or delete it as the root user".to_owned();
            let notice = Notice::new(
                Severity::Critical,
                "Root access key named by a security event",
            )
            .fact("key_id", key_id.clone().unwrap_or_else(|| "unknown".into()))
            .fact("source", source);
            b.notice_only(Decision::NotContainable { why }, notice)
        }
        Subject::Uncontainable { identity, key_id } => {
            let why = format!(
                "a {identity} identity: keyguard cannot contain its credential through IAM"
            );
            let notice = Notice::new(
                Severity::High,
                format!("{identity} credential named by a security event"),
            )
            .fact("key_id", key_id.clone().unwrap_or_else(|| "unknown".into()))
            .fact("source", source);
            b.notice_only(Decision::NotContainable { why }, notice)
        }
        Subject::UserKey { key_id, .. } => {
            let Some(user) = facts.owner.clone() else {
                return b.done(Decision::NotFound {
                    what: format!("no IAM user owns key {key_id}"),
                });
            };
            if !facts.exists {
                return b.done(Decision::NotFound {
                    what: format!("no such user {user}"),
                });
            }
            let notice = |subject: &str| {
                Notice::new(Severity::High, subject)
                    .user(Some(user.clone()))
                    .key(Some(key_id.clone()))
                    .fact("source", source)
            };
            if cfg.me.key_id.as_deref() == Some(key_id.as_str())
                || cfg.me.user.as_deref() == Some(user.as_str())
            {
                let why = format!(
                    "key {key_id} of {user} is keyguard's own credential: contain it by hand"
                );
                return b.notice_only(
                    Decision::Refused { why },
                    notice("keyguard was asked to deactivate its own key"),
                );
            }
            if cfg.exempt_users.contains(user.as_str()) || cfg.tagged_exempt(&facts.tags) {
                let why = format!(
                    "user {user} is exempt (EXEMPT_USERS or tag {}): contain key {key_id} by hand",
                    cfg.exempt_tag.0
                );
                return b.notice_only(
                    Decision::Refused { why },
                    notice("Exempt user's key named by a security event"),
                );
            }
            match facts.key_status {
                None => b.done(Decision::NotFound {
                    what: format!("user {user} has no access key {key_id}"),
                }),
                Some(KeyStatus::Inactive) => b.done(Decision::AlreadyContained),
                Some(KeyStatus::Active) => {
                    let mut b = b;
                    b.step(
                        Action::DeactivateKey {
                            user: user.clone(),
                            key_id: key_id.clone(),
                        },
                        format!("long-term key {key_id} of {user} is Active and named by {source}"),
                    );
                    b.done(Decision::Act)
                }
            }
        }
        Subject::Session { key_id, principal } => {
            let (label, name, exempt_list) = match principal {
                Principal::Role(r) => ("role", r.as_str(), &cfg.exempt_roles),
                Principal::User(u) => ("user", u.as_str(), &cfg.exempt_users),
            };
            if !facts.exists {
                return b.done(Decision::NotFound {
                    what: format!("no such {label} {name}"),
                });
            }
            let notice = |subject: &str| {
                Notice::new(Severity::High, subject)
                    .key(Some(key_id.clone()))
                    .fact(label, name)
                    .fact("source", source)
            };
            let is_me = match principal {
                Principal::Role(r) => cfg.me.role.as_deref() == Some(r.as_str()),
                Principal::User(u) => cfg.me.user.as_deref() == Some(u.as_str()),
            };
            if is_me || cfg.me.key_id.as_deref() == Some(key_id.as_str()) {
                let why = format!(
                    "{label} {name} is keyguard's own identity: revoke its sessions by hand"
                );
                return b.notice_only(
                    Decision::Refused { why },
                    notice("keyguard was asked to revoke its own sessions"),
                );
            }
            if exempt_list.contains(name) || cfg.tagged_exempt(&facts.tags) {
                let why = format!("{label} {name} is exempt: revoke its sessions by hand");
                return b.notice_only(
                    Decision::Refused { why },
                    notice("Exempt principal's session key named by a security event"),
                );
            }
            let mut b = b;
            b.step(
                Action::RevokeSessions {
                    principal: principal.clone(),
                    issued_before: now,
                    policy_name: cfg.revoke_policy_name.clone(),
                },
                format!("temporary key {key_id} cannot be deactivated: deny every session of {label} {name} issued before now"),
            );
            b.done(Decision::Act)
        }
    }
}

#[cfg(test)]
mod tests;
