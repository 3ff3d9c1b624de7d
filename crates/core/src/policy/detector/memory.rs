//! What createkey-detector remembers between events, for the rules that judge a call by
//! what came before it:
//! - who created each long-term key, from which address and user agent
//!   (`new-key-used-elsewhere`);
//! - who created each user (`user-created-with-key`);
//! - how many instances each long-term key launched lately
//!   (`long-term-key-runs-instances` counts over a sliding window, not per call);
//! - which long-term key minted each session token (`GetSessionToken`,
//!   `GetFederationToken`): a launch signed with the session counts, and is contained,
//!   as the key's own, because a leaked key that launches through a session it minted
//!   would otherwise be seen by nothing.
//!
//! Each memory is one ledger item per account and key or user, kept for
//! `CORRELATION_MINUTES` past its event (DynamoDB's TTL removes it later; reads check the
//! time themselves). A creation is written by a plan step ([`Action::Remember`]), the
//! latest event winning, so it shows in the report and `keyguard plan`. A launch is
//! counted while the facts are read, in one conditional write that returns every launch
//! the item holds: two launches processed at the same moment could each read the item
//! before the other wrote it, and a window that neither sees whole would let an attacker
//! stay under `MANY_INSTANCES` by launching in parallel. With the write first, the later
//! of the two always sees both.
//!
//! [`Action::Remember`]: crate::plan::Action::Remember

use crate::events::{ApiCall, CloudTrailRecord, Envelope, IdentityType};
use crate::guard::same_name;
use crate::key::{AccessKeyId, KeyKind, UserName};
use crate::scope::AccountId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// `CORRELATION_MINUTES`' default and its upper bound (a day).
pub const DEFAULT_MINUTES: u32 = 60;
pub const MAX_MINUTES: u32 = 1440;

/// How far an event may sit before the memory it is compared with and still count (the
/// clocks of two services, and CloudTrail's own rounding).
pub const SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// A long-term key someone created, and from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCreation {
    pub key_id: AccessKeyId,
    pub user: String,
    /// The creator's ARN (`unknown` when the record has none).
    pub created_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    pub at: Timestamp,
    pub event_id: String,
}

/// A user someone created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCreation {
    pub user: String,
    pub created_by: String,
    pub at: Timestamp,
    pub event_id: String,
}

/// A session token a long-term key minted: its calls are the key's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionMint {
    pub session_key: AccessKeyId,
    pub parent_key: AccessKeyId,
    /// The user the parent key belongs to.
    pub user: String,
    pub at: Timestamp,
    /// When the session ends (its `durationSeconds`, 12 hours by default, at most 36).
    pub until: Timestamp,
    pub event_id: String,
}

/// How long a session token lives when the call does not say, and at most (seconds).
const SESSION_DEFAULT_SECONDS: i64 = 43_200;
const SESSION_MAX_SECONDS: i64 = 129_600;

/// One `RunInstances` call of a long-term key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    pub event_id: String,
    pub at: Timestamp,
    pub count: u64,
}

/// What to write for one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Memo {
    KeyCreated(KeyCreation),
    UserCreated(UserCreation),
    SessionMinted(SessionMint),
}

impl Memo {
    pub fn at(&self) -> Timestamp {
        match self {
            Self::KeyCreated(k) => k.at,
            Self::UserCreated(u) => u.at,
            Self::SessionMinted(s) => s.at,
        }
    }

    /// Until when it is kept: a creation for the correlation window, a session token for
    /// as long as it lives.
    pub fn until(&self, window: chrono::Duration) -> Option<Timestamp> {
        match self {
            Self::SessionMinted(s) => Some(s.until),
            _ => self.at().checked_add_signed(window),
        }
    }

    /// What it is about: `key/AKIA…` or `user/NAME` (lower-case: IAM's names are unique
    /// regardless of case).
    pub fn subject(&self) -> String {
        match self {
            Self::KeyCreated(k) => format!("key/{}", k.key_id),
            Self::UserCreated(u) => format!("user/{}", u.user.to_ascii_lowercase()),
            Self::SessionMinted(s) => format!("session/{}", s.session_key),
        }
    }

    /// The ledger item that keeps it.
    pub fn item(&self, account: &AccountId) -> String {
        format!("memory:{account}:{}", self.subject())
    }

    pub fn summary(&self) -> String {
        match self {
            Self::KeyCreated(k) => format!(
                "key {} of user {} created by {}",
                k.key_id, k.user, k.created_by
            ),
            Self::UserCreated(u) => format!("user {} created by {}", u.user, u.created_by),
            Self::SessionMinted(s) => format!(
                "session {} minted by key {} of user {}",
                s.session_key, s.parent_key, s.user
            ),
        }
    }
}

pub fn key_item(account: &AccountId, key: &AccessKeyId) -> String {
    format!("memory:{account}:key/{key}")
}

pub fn user_item(account: &AccountId, user: &str) -> String {
    format!("memory:{account}:user/{}", user.to_ascii_lowercase())
}

pub fn launches_item(account: &AccountId, key: &AccessKeyId) -> String {
    format!("memory:{account}:launches/{key}")
}

pub fn session_item(account: &AccountId, key: &AccessKeyId) -> String {
    format!("memory:{account}:session/{key}")
}

/// What one record asks the memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The account the call ran in.
    pub account: AccountId,
    /// The long-term key that signed the call, and the account it lives in (the
    /// signer's own): who created it, and from where?
    pub signer: Option<(AccountId, AccessKeyId)>,
    /// The user a `CreateAccessKey` made a key for: who created the user?
    pub created_user: Option<UserName>,
    /// The session token (a user's, or a federated user's) that signed the call, and
    /// its account: which long-term key minted it?
    pub session: Option<(AccountId, AccessKeyId)>,
    /// This call's launch and the key that signed it, to be counted with the key's
    /// others (with the minting key's, when the signer is a session it minted).
    pub launch: Option<(AccessKeyId, Launch)>,
}

/// What the memory held for one record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recall {
    pub signer_created: Option<KeyCreation>,
    pub user_created: Option<UserCreation>,
    /// The long-term key that minted the signing session.
    pub session_parent: Option<SessionMint>,
    /// The key's launches within the window of this one, before or after it (events
    /// arrive out of order), this one included. Empty when nothing was asked.
    pub launches: Vec<Launch>,
}

impl Recall {
    /// Instances the launches started, and how many launches.
    pub fn instances(&self) -> (u64, usize) {
        (
            self.launches
                .iter()
                .fold(0u64, |sum, l| sum.saturating_add(l.count)),
            self.launches.len(),
        )
    }
}

/// The time a record's call was made.
pub fn event_time(record: &CloudTrailRecord) -> Option<Timestamp> {
    crate::parse_time(record.event_time.as_deref()?)
}

/// The account the call ran in.
pub(crate) fn call_account(
    record: &CloudTrailRecord,
    envelope: Option<&Envelope>,
) -> Option<AccountId> {
    [
        record.recipient_account_id.as_deref(),
        envelope.and_then(|e| e.account.as_deref()),
    ]
    .into_iter()
    .flatten()
    .find_map(|a| AccountId::parse(a).ok())
}

/// The long-term key that signed the call, when an IAM user signed it with one.
fn signer(record: &CloudTrailRecord) -> Option<AccessKeyId> {
    super::long_term(record.user_identity.access_key_id.as_deref(), None).map(|(k, _)| k)
}

/// The session token that signed the call, when a user's session (`GetSessionToken`) or
/// a federated user's (`GetFederationToken`) signed it: sessions of roles are minted by
/// no key.
fn session_signer(record: &CloudTrailRecord) -> Option<AccessKeyId> {
    let id = &record.user_identity;
    let key = AccessKeyId::parse(id.access_key_id.as_deref()?).ok()?;
    let minted = matches!(
        id.identity_type,
        IdentityType::IamUser | IdentityType::FederatedUser
    );
    (key.kind() == KeyKind::Temporary && minted).then_some(key)
}

/// The account the signing credential lives in: the caller's own.
fn signer_account(record: &CloudTrailRecord, call: &AccountId) -> AccountId {
    record
        .user_identity
        .account_id
        .as_deref()
        .and_then(|a| AccountId::parse(a).ok())
        .unwrap_or_else(|| call.clone())
}

/// What to look up for a record: `None` when nothing is (most calls of roles' sessions).
pub fn ask(record: &CloudTrailRecord, envelope: Option<&Envelope>) -> Option<Ask> {
    let account = call_account(record, envelope)?;
    let home = signer_account(record, &account);
    let signed_by = signer(record);
    let session = session_signer(record);
    let created_user = match &record.call {
        ApiCall::CreateAccessKey(call) if record.succeeded() => call
            .requested_user
            .as_deref()
            .and_then(|u| UserName::parse(u).ok()),
        _ => None,
    };
    let launch = match (
        &record.call,
        signed_by.as_ref().or(session.as_ref()),
        event_time(record),
    ) {
        (ApiCall::RunInstances(call), Some(key), Some(at)) if record.succeeded() => {
            Some((key.clone(), launch_of(record, call, at)))
        }
        _ => None,
    };
    (signed_by.is_some() || session.is_some() || created_user.is_some()).then(|| Ask {
        signer: signed_by.map(|k| (home.clone(), k)),
        session: session.map(|k| (home.clone(), k)),
        account,
        created_user,
        launch,
    })
}

fn launch_of(
    record: &CloudTrailRecord,
    call: &crate::events::RunInstances,
    at: Timestamp,
) -> Launch {
    Launch {
        // A record without an id is counted under its time, once.
        event_id: record
            .event_id
            .clone()
            .filter(|id| !id.trim().is_empty())
            .unwrap_or_else(|| format!("at-{}", at.to_rfc3339())),
        at,
        count: call.started.max(call.requested),
    }
}

/// Whether a caller is one of `trusted` (roles that create keys and users by design,
/// each `ACCOUNT:ROLE`: the same name in another account is not trusted).
pub fn trusted_caller(record: &CloudTrailRecord, trusted: &crate::guard::NameSet) -> bool {
    super::caller_role_in_account(record).is_some_and(|role| trusted.contains(&role))
}

/// What a record leaves in the memory: a created long-term key, a created user. Calls
/// by trusted creators are not kept (their keys are used elsewhere by design), nor
/// failed ones, nor the root user's.
pub fn memos(
    record: &CloudTrailRecord,
    envelope: Option<&Envelope>,
    trusted: &crate::guard::NameSet,
) -> Vec<(AccountId, Memo)> {
    let (Some(account), Some(at)) = (call_account(record, envelope), event_time(record)) else {
        return Vec::new();
    };
    if !record.succeeded()
        || record.user_identity.identity_type == IdentityType::Root
        || trusted_caller(record, trusted)
    {
        return Vec::new();
    }
    let created_by = record
        .user_identity
        .arn
        .clone()
        .unwrap_or_else(|| "unknown".into());
    let event_id = record.event_id.clone().unwrap_or_default();
    if let Some(minted) = session_minted(record, at, &event_id) {
        return vec![(account, Memo::SessionMinted(minted))];
    }
    let memo = match &record.call {
        ApiCall::CreateAccessKey(call) => {
            let Some(created) = call.created.as_ref() else {
                return Vec::new();
            };
            let Some(key_id) = created
                .access_key_id
                .as_deref()
                .and_then(|k| AccessKeyId::parse(k).ok())
                .filter(|k| k.kind() == KeyKind::LongTerm)
            else {
                return Vec::new();
            };
            let user = created
                .user_name
                .clone()
                .or_else(|| call.requested_user.clone())
                .or_else(|| record.user_identity.user_name.clone())
                .unwrap_or_default();
            Memo::KeyCreated(KeyCreation {
                key_id,
                user,
                created_by,
                source_ip: record.source_ip_address.clone(),
                user_agent: record.user_agent.clone(),
                at,
                event_id,
            })
        }
        ApiCall::CreateUser(call) => {
            let Some(user) = call
                .user_name
                .as_deref()
                .filter(|u| UserName::parse(u).is_ok())
            else {
                return Vec::new();
            };
            Memo::UserCreated(UserCreation {
                user: user.to_owned(),
                created_by,
                at,
                event_id,
            })
        }
        _ => return Vec::new(),
    };
    vec![(account, memo)]
}

/// The session a long-term key minted with `GetSessionToken` or `GetFederationToken`, from
/// the call's response (`credentials.accessKeyId`) and its `durationSeconds`.
fn session_minted(record: &CloudTrailRecord, at: Timestamp, event_id: &str) -> Option<SessionMint> {
    if record.event_source != "sts.amazonaws.com"
        || !matches!(
            record.event_name.as_str(),
            "GetSessionToken" | "GetFederationToken"
        )
    {
        return None;
    }
    let parent_key = signer(record)?;
    let response = match record.response_elements.as_ref()? {
        serde_json::Value::String(text) => serde_json::from_str(text).ok()?,
        v => v.clone(),
    };
    let session_key = AccessKeyId::parse(response["credentials"]["accessKeyId"].as_str()?)
        .ok()
        .filter(|k| k.kind() == KeyKind::Temporary)?;
    let seconds = record
        .request_parameters
        .as_ref()
        .and_then(|p| p["durationSeconds"].as_i64())
        .unwrap_or(SESSION_DEFAULT_SECONDS)
        .clamp(0, SESSION_MAX_SECONDS);
    Some(SessionMint {
        session_key,
        parent_key,
        user: record.user_identity.user_name.clone().unwrap_or_default(),
        at,
        until: at.checked_add_signed(chrono::Duration::seconds(seconds))?,
        event_id: event_id.to_owned(),
    })
}

/// The principal behind an ARN, for "the same caller": the account and the user's name,
/// or the role's name for any of its sessions, lower-cased (IAM's names are unique
/// regardless of case). `None` for an ARN that names neither.
pub fn principal_of(arn: &str) -> Option<(String, String)> {
    let account = arn.split(':').nth(4)?;
    let kind = if arn.contains(":assumed-role/") {
        "role"
    } else if arn.contains(":user/") {
        "user"
    } else {
        return None;
    };
    let name = crate::exemption::caller_name(arn)?;
    Some((
        account.to_owned(),
        format!("{kind}/{name}").to_ascii_lowercase(),
    ))
}

/// Whether two ARNs are the same caller ([`principal_of`]).
pub fn same_caller(a: &str, b: &str) -> bool {
    match (principal_of(a), principal_of(b)) {
        (Some((acc_a, name_a)), Some((acc_b, name_b))) => {
            acc_a == acc_b && same_name(&name_a, &name_b)
        }
        _ => false,
    }
}

/// The key a launch is counted under: the one that minted the signing session, when it
/// is known, else the signer.
pub fn counted_under<'a>(
    signer: &'a AccessKeyId,
    parent: Option<&'a SessionMint>,
) -> &'a AccessKeyId {
    parent
        .filter(|m| &m.session_key == signer)
        .map_or(signer, |m| &m.parent_key)
}

/// The launches that count for one at `at`: within the window before or after it.
pub fn within(launches: Vec<Launch>, at: Timestamp, minutes: u32) -> Vec<Launch> {
    let window = chrono::Duration::minutes(i64::from(minutes));
    launches
        .into_iter()
        .filter(|l| (l.at - at).abs() <= window)
        .collect()
}

/// The memory of one process, for `keyguard replay` (records of one hunt, in file order)
/// and tests: the same recall as the ledger's, without a table.
#[derive(Debug, Default)]
pub struct InProcess {
    keys: HashMap<String, KeyCreation>,
    users: HashMap<String, UserCreation>,
    sessions: HashMap<String, SessionMint>,
    launches: HashMap<String, Vec<Launch>>,
}

impl InProcess {
    /// Every launch a key may keep: a hunt over months keeps only what a window can
    /// still reach from the newest launch.
    const LAUNCHES_KEPT: usize = 1_000;

    pub fn recall(&mut self, ask: &Ask, minutes: u32) -> Recall {
        let signer_created = ask
            .signer
            .as_ref()
            .and_then(|(account, k)| self.keys.get(&key_item(account, k)).cloned());
        let user_created = ask.created_user.as_ref().and_then(|u| {
            self.users
                .get(&user_item(&ask.account, u.as_str()))
                .cloned()
        });
        let session_parent = ask
            .session
            .as_ref()
            .and_then(|(account, k)| self.sessions.get(&session_item(account, k)).cloned());
        let launches = match &ask.launch {
            None => Vec::new(),
            Some((signer, launch)) => {
                let key = counted_under(signer, session_parent.as_ref());
                self.launched(&ask.account, key, launch.clone());
                let all = self
                    .launches
                    .entry(launches_item(&ask.account, key))
                    .or_default();
                let reach = chrono::Duration::minutes(2 * i64::from(minutes));
                if let Some(keep_from) = launch.at.checked_sub_signed(reach) {
                    all.retain(|l| l.at >= keep_from);
                }
                if all.len() > Self::LAUNCHES_KEPT {
                    let extra = all.len() - Self::LAUNCHES_KEPT;
                    all.drain(..extra);
                }
                within(all.clone(), launch.at, minutes)
            }
        };
        Recall {
            signer_created,
            user_created,
            session_parent,
            launches,
        }
    }

    /// Keeps a launch of `key` as the ledger's item would hold it.
    pub fn launched(&mut self, account: &AccountId, key: &AccessKeyId, launch: Launch) {
        let all = self
            .launches
            .entry(launches_item(account, key))
            .or_default();
        if !all.iter().any(|l| l.event_id == launch.event_id) {
            all.push(launch);
        }
    }

    /// Keeps a memo unless a later event's is kept (as the ledger does).
    pub fn remember(&mut self, account: &AccountId, memo: &Memo) {
        let item = memo.item(account);
        match memo {
            Memo::KeyCreated(k) => {
                if self.keys.get(&item).is_none_or(|old| old.at <= k.at) {
                    self.keys.insert(item, k.clone());
                }
            }
            Memo::UserCreated(u) => {
                if self.users.get(&item).is_none_or(|old| old.at <= u.at) {
                    self.users.insert(item, u.clone());
                }
            }
            Memo::SessionMinted(m) => {
                self.sessions.insert(item, m.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests;
