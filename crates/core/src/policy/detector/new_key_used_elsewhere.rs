//! `new-key-used-elsewhere` (medium; low when only the user agent differs): a call signed
//! by a long-term key created less than `CORRELATION_MINUTES` ago, from another address
//! or user agent than the call that created it. A key leaked or made for an attacker is
//! used from the attacker's machine within minutes; a person who makes a key in the
//! console and then uses it from the command line on the same network changes only the
//! user agent, which is low. Both are under the default `CONTAIN_MIN_SEVERITY`: the key
//! is handed off only where the threshold is lowered, because a key made for a CI
//! system is used from the CI system's addresses by design.
//!
//! Addresses are compared only when both are IP addresses (AWS services appear by name),
//! and a call an AWS service made for the principal (`invokedBy`) says nothing of where
//! the key is. A denied call counts: probing with a stolen key is a use of it.

use super::memory::{event_time, KeyCreation, Recall, SKEW};
use super::{long_term, Alert};
use crate::events::{CloudTrailRecord, IdentityType};
use crate::notice::Severity;
use std::net::IpAddr;

pub const RULE: &str = "new-key-used-elsewhere";

fn ip(raw: Option<&str>) -> Option<IpAddr> {
    raw?.trim().parse().ok()
}

fn agent(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|a| !a.is_empty())
}

/// What differs between the creation and this use: the address, the user agent.
fn differs(created: &KeyCreation, r: &CloudTrailRecord) -> (bool, bool) {
    let address = match (
        ip(created.source_ip.as_deref()),
        ip(r.source_ip_address.as_deref()),
    ) {
        (Some(a), Some(b)) => a != b,
        _ => false,
    };
    let user_agent = match (
        agent(created.user_agent.as_deref()),
        agent(r.user_agent.as_deref()),
    ) {
        (Some(a), Some(b)) => a != b,
        _ => false,
    };
    (address, user_agent)
}

pub fn check(r: &CloudTrailRecord, recall: &Recall, minutes: u32) -> Option<Alert> {
    let created = recall.signer_created.as_ref()?;
    let id = &r.user_identity;
    if id.invoked_by.is_some() || id.identity_type == IdentityType::AwsService {
        return None;
    }
    if id.access_key_id.as_deref() != Some(created.key_id.as_str()) {
        return None;
    }
    let age = event_time(r)? - created.at;
    if age < -SKEW || age > chrono::Duration::minutes(i64::from(minutes)) {
        return None;
    }
    let (address, user_agent) = differs(created, r);
    if !address && !user_agent {
        return None;
    }
    let contain = long_term(Some(created.key_id.as_str()), id.user_name.as_deref())?;
    let mut what = Vec::new();
    if address {
        what.push(format!(
            "from {} (created from {})",
            r.source_ip_address.as_deref().unwrap_or("?"),
            created.source_ip.as_deref().unwrap_or("?")
        ));
    }
    if user_agent {
        what.push("with another user agent".to_owned());
    }
    Some(Alert {
        rule: RULE,
        severity: if address {
            Severity::Medium
        } else {
            Severity::Low
        },
        why: "a key used from somewhere other than where it was created, within the hour, is how a key made for an attacker or leaked at once shows",
        summary: format!(
            "key {} ({} min old, created by {}) called {}:{} {}",
            created.key_id,
            age.num_minutes().max(0),
            created.created_by,
            r.event_source,
            r.event_name,
            what.join(" ")
        ),
        contain: Some(contain),
    })
}

#[cfg(test)]
mod tests;
