//! Reading IAM: only what a credential's lookup asks, and the key's owner from the key
//! when the event names nobody or somebody who does not hold it.

use super::KeyStatus;
use super::{Facts, IamReader, Lookup, UserKeys};
use crate::effects::EffectError;
use crate::guard::same_name;
use crate::key::{AccessKeyId, UserName};
use crate::plan::Principal;
use std::time::Duration;

/// How "no such key" is confirmed: a second read this long after the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recheck {
    pub delay: Duration,
}

/// The key's status in the user's listing, and the user's name as IAM spells it.
fn holding(listing: &UserKeys, key_id: &AccessKeyId) -> Option<super::KeyStatus> {
    listing
        .keys
        .iter()
        .find(|(k, _)| k == key_id.as_str())
        .map(|(_, s)| *s)
}

/// The user's keys and tags at once: containment waits on the slower, not on both.
async fn read_user<R: IamReader + Sync>(
    iam: &R,
    user: &UserName,
    key_id: &AccessKeyId,
) -> Result<Option<Facts>, EffectError> {
    let principal = Principal::User(user.clone());
    let (keys, tags) = futures::future::try_join(iam.user_keys(user), iam.tags(&principal)).await?;
    let Some(listing) = keys else {
        return Ok(None);
    };
    Ok(Some(Facts {
        owner: Some(listing.user.clone().unwrap_or_else(|| user.clone())),
        exists: true,
        key_status: holding(&listing, key_id),
        tags: tags.unwrap_or_default(),
        ..Facts::default()
    }))
}

/// One pass: the named user first; if they do not hold the key, its owner from the key.
async fn find_key<R: IamReader + Sync>(
    iam: &R,
    key_id: &AccessKeyId,
    named: Option<&UserName>,
) -> Result<Facts, EffectError> {
    let mut seen = Facts::default();
    if let Some(user) = named {
        if let Some(facts) = read_user(iam, user, key_id).await? {
            if facts.key_status.is_some() {
                return Ok(facts);
            }
            seen = facts;
        }
    }
    let Some(owner) = iam.key_owner(key_id).await? else {
        return Ok(seen);
    };
    if named.is_some_and(|n| same_name(n.as_str(), owner.as_str())) && seen.exists {
        // IAM names the same user, whose listing lacked the key: not consistent yet.
        return Ok(seen);
    }
    Ok(match read_user(iam, &owner, key_id).await? {
        Some(mut facts) => {
            facts.named_other = named
                .filter(|n| !same_name(n.as_str(), owner.as_str()))
                .cloned();
            facts
        }
        None => seen,
    })
}

/// Reads the facts a lookup asks for. A key that no user is found to hold is read
/// again after `recheck.delay`: a key created seconds ago may not be listed yet. For a
/// key already Inactive, with `sessions_policy` (the revocation's name, when sessions
/// are revoked), also when it was last used and the cut-off already in force: whether
/// the sessions it minted may still work.
pub async fn gather<R: IamReader + Sync>(
    lookup: &Lookup,
    iam: &R,
    recheck: Recheck,
    reads: super::Reads<'_>,
) -> Result<Facts, EffectError> {
    let sessions_policy = reads.sessions_policy;
    // Boxed: the reads nest deep enough to pass the compiler's layout limit in the
    // functions' binaries.
    let mut facts = Box::pin(read(lookup, iam, recheck)).await?;
    // A canary is left alone only while it can do nothing: its deny is read now, and
    // only for a user with a canary's name and tag (one read, rarely).
    if let (Lookup::UserKey { .. }, Some(user)) = (lookup, facts.owner.clone()) {
        if facts.exists && crate::canary::is_canary(user.as_str(), &facts.tags) {
            // A deny that cannot be read is not proof: the key is contained.
            facts.canary = iam.canary_denied(&user).await.unwrap_or(false);
        }
    }
    // Who set an exemption tag, read only for a principal that has one. A record that
    // cannot be read fails the read (retried): believing the tag then would let an
    // outage, or anyone who can throttle the table, stand in for an administrator.
    if facts.exists && reads.guard.tagged_exempt(&facts.tags) {
        let principal = match (lookup, &facts.owner) {
            (Lookup::UserKey { .. }, Some(user)) => Some(Principal::User(user.clone())),
            (Lookup::Principal(p), _) => Some(p.clone()),
            _ => None,
        };
        if let Some(p) = principal {
            facts.exemption = iam.exemption_set(&p).await?;
        }
    }
    if let (Lookup::UserKey { key_id, .. }, Some(policy), Some(user), Some(KeyStatus::Inactive)) = (
        lookup,
        sessions_policy,
        facts.owner.clone(),
        facts.key_status,
    ) {
        let principal = Principal::User(user);
        let (used, cut_off) = futures::future::join(
            iam.key_last_used(key_id),
            iam.revocation_cut_off(&principal, policy),
        )
        .await;
        // Only a reason to leave the sessions alone: when either cannot be read
        // (throttled, or denied by an older role), the facts say nothing, and the
        // revocation is planned. They never hold back the event's other credentials.
        if let (Ok(used), Ok(cut_off)) = (used, cut_off) {
            facts.last_used = used;
            facts.sessions_denied_before = cut_off;
        }
    }
    Ok(facts)
}

async fn read<R: IamReader + Sync>(
    lookup: &Lookup,
    iam: &R,
    recheck: Recheck,
) -> Result<Facts, EffectError> {
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
            let first = find_key(iam, key_id, user.as_ref()).await?;
            if first.key_status.is_some() || recheck.delay.is_zero() {
                return Ok(first);
            }
            iam.pause(recheck.delay).await;
            find_key(iam, key_id, user.as_ref()).await
        }
    }
}

/// Where one credential's facts are read, in its own account: by the functions through
/// IAM (a member's through the member role), by `keyguard plan` from its facts file.
pub trait InAccount {
    fn gather_in_account(
        &self,
        cfg: &super::ContainmentConfig,
        credential: &super::Credential,
        lookup: &Lookup,
        event_ref: &str,
    ) -> impl std::future::Future<Output = Result<Facts, EffectError>>;
}

/// Every credential a target names, each in its own account, in its order: what
/// deactivate-key reads, and `keyguard plan` as it.
pub async fn gather_each(
    reader: &impl InAccount,
    cfg: &super::ContainmentConfig,
    target: &super::Target,
) -> Result<Vec<Facts>, EffectError> {
    let mut all = Vec::with_capacity(target.credentials.len());
    for credential in &target.credentials {
        let lookup = credential.lookup();
        all.push(
            reader
                .gather_in_account(cfg, credential, &lookup, &target.event_ref)
                .await?,
        );
    }
    Ok(all)
}

/// Every lookup of a target, in order.
pub async fn gather_all<R: IamReader + Sync>(
    lookups: &[Lookup],
    iam: &R,
    recheck: Recheck,
    reads: super::Reads<'_>,
) -> Result<Vec<Facts>, EffectError> {
    let mut all = Vec::with_capacity(lookups.len());
    for lookup in lookups {
        all.push(gather(lookup, iam, recheck, reads).await?);
    }
    Ok(all)
}
