//! `exemption-tagged`: a successful `TagUser`, `TagRole`, `CreateUser` or `CreateRole`
//! that sets keyguard's exemption tag (`EXEMPT_TAG`). The tag is written by whoever may
//! tag the principal, so a leaked key could make containment leave it alone. Who set it
//! is recorded for containment to judge ([`crate::exemption`]); the alert says what
//! containment will make of it.
//!
//! - critical: a credential tagged its own principal (an IAM user's key its user, a
//!   role's session its role). A user's key (long-term or a session of the user) is
//!   handed off, and deactivate-key does not believe the tag for that hand-off; a role
//!   is alerted on only (the hand-off carries user keys).
//! - high: anyone else, and the alert says whether the tag will be believed (not when a
//!   long-term key set it, or, with `EXEMPT_TAGGERS`, anyone but those roles).
//! - low: a session of a role in `EXEMPT_TAGGERS`, as configured.
//! - medium: a tagging call whose tags cannot be read: an exemption may have been set
//!   unseen.

use super::{caller_user, Alert};
use crate::events::CloudTrailRecord;
use crate::exemption::Provenance;
use crate::guard::Guard;
use crate::key::{AccessKeyId, RoleName, UserName};
use crate::notice::Severity;
use crate::plan::Principal;
use serde_json::Value;

pub const RULE: &str = "exemption-tagged";

const CALLS: [&str; 4] = ["TagUser", "TagRole", "CreateUser", "CreateRole"];

fn applies(r: &CloudTrailRecord) -> bool {
    r.succeeded() && r.event_source == "iam.amazonaws.com" && CALLS.contains(&r.event_name.as_str())
}

fn principal(r: &CloudTrailRecord) -> Option<Principal> {
    let params = r.request_parameters.as_ref()?;
    let name = |field: &str| params.get(field).and_then(Value::as_str);
    if r.event_name.ends_with("User") {
        UserName::parse(name("userName")?).ok().map(Principal::User)
    } else {
        RoleName::parse(name("roleName")?).ok().map(Principal::Role)
    }
}

/// The principal a call made exempt, and who made it so.
pub fn exempted(r: &CloudTrailRecord, guard: &Guard) -> Option<(Principal, Provenance)> {
    if !applies(r) || !guard.sets_exemption(r.request_parameters.as_ref()) {
        return None;
    }
    let principal = principal(r)?;
    let provenance = Provenance::of(r, &principal);
    Some((principal, provenance))
}

/// A tagging call whose `tags` are there but not as `[{key, value}]`: what it set is
/// unknown.
fn unreadable(r: &CloudTrailRecord) -> bool {
    let Some(tags) = r.request_parameters.as_ref().and_then(|p| p.get("tags")) else {
        return r.event_name.starts_with("Tag");
    };
    let pair = |t: &Value| {
        ["key", "Key"]
            .iter()
            .any(|k| t.get(*k).is_some_and(Value::is_string))
            && ["value", "Value"]
                .iter()
                .any(|k| t.get(*k).is_some_and(Value::is_string))
    };
    !tags.as_array().is_some_and(|list| list.iter().all(pair))
}

pub fn check(r: &CloudTrailRecord, guard: &Guard) -> Option<Alert> {
    if !applies(r) {
        return None;
    }
    let who = r
        .user_identity
        .arn
        .as_deref()
        .unwrap_or("an unknown caller");
    let Some((principal, p)) = exempted(r, guard) else {
        return unreadable(r).then(|| Alert {
            rule: RULE,
            severity: Severity::Medium,
            why: "a tagging call whose tags could not be read: an exemption from keyguard may have been set unseen",
            summary: format!("{who} called {} with tags keyguard cannot read", r.event_name),
            contain: None,
        });
    };
    let (kind, name) = match &principal {
        Principal::User(u) => ("user", u.as_str()),
        Principal::Role(r) => ("role", r.as_str()),
    };
    let doubt = guard.doubts(&p);
    let contain = (p.own && kind == "user")
        .then(|| {
            let key = AccessKeyId::parse(r.user_identity.access_key_id.as_deref()?).ok()?;
            let user = caller_user(r).and_then(|u| UserName::parse(u).ok());
            Some((key, user))
        })
        .flatten();
    let (severity, why) = match (&doubt, p.own) {
        (_, true) => (
            Severity::Critical,
            "a credential tagged its own principal exempt from keyguard: the escape a leaked key would make before containment reads the tag",
        ),
        (Some(_), false) => (
            Severity::High,
            "a principal tagged exempt from keyguard by a caller keyguard does not believe: containment will act on it all the same",
        ),
        (None, false) if !guard.exempt_taggers.is_empty() => (
            Severity::Low,
            "a principal tagged exempt from keyguard by a role in EXEMPT_TAGGERS",
        ),
        (None, false) => (
            Severity::High,
            "a principal made exempt from keyguard by tag: containment will leave its keys alone",
        ),
    };
    let verb = if r.event_name.starts_with("Tag") {
        format!("tagged {kind} {name} exempt from keyguard")
    } else {
        format!("created {kind} {name}, tagged exempt from keyguard")
    };
    let believed = if doubt.is_some() {
        " (not believed)"
    } else {
        ""
    };
    Some(Alert {
        rule: RULE,
        severity,
        why,
        summary: format!("{who} {verb}{believed}"),
        contain,
    })
}
