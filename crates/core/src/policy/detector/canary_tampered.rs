//! `canary-tampered` (medium; high for a disguise): a successful IAM write that makes a
//! user look like a canary or stop looking like one, the disguise containment would
//! otherwise find only by its effect. A user renamed to or from the canary prefix
//! (`UpdateUser`) is high: a leaked key's user dressed as a decoy and then undressed is
//! exactly how a second principal would keep the key alive. A canary's tag removed
//! (`UntagUser`) or its deny removed or rewritten (`DeleteUserPolicy`, `PutUserPolicy`
//! of `keyguard-canary-deny-all`) is medium: `keyguard canary delete` removes the deny
//! before the user, by design. Nothing is contained: the event names no key.

use super::Alert;
use crate::canary;
use crate::events::CloudTrailRecord;
use crate::notice::Severity;
use serde_json::Value;

pub const RULE: &str = "canary-tampered";

fn text<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params.get(key).and_then(Value::as_str)
}

pub fn check(r: &CloudTrailRecord) -> Option<Alert> {
    if !r.succeeded() || r.event_source != "iam.amazonaws.com" {
        return None;
    }
    let params = r.request_parameters.as_ref()?;
    let user = text(params, "userName")?;
    let who = r
        .user_identity
        .arn
        .as_deref()
        .unwrap_or("an unknown caller");
    let alert = |severity, why, summary| Alert {
        rule: RULE,
        severity,
        why,
        summary,
        contain: None,
    };
    match r.event_name.as_str() {
        "UpdateUser" => {
            let renamed = text(params, "newUserName")?;
            (canary::named(user) != canary::named(renamed)).then(|| {
                alert(
                    Severity::High,
                    "a user renamed to or from a canary's name: a leaked key's user dressed as a decoy escapes containment",
                    format!("{who} renamed user {user} to {renamed}"),
                )
            })
        }
        "UntagUser" if canary::named(user) => {
            let keys = params.get("tagKeys")?.as_array()?;
            keys.iter()
                .filter_map(Value::as_str)
                .any(|k| crate::guard::same_name(k, canary::TAG.0))
                .then(|| {
                    alert(
                        Severity::Medium,
                        "a canary's tag removed: it is no canary to keyguard any more",
                        format!("{who} removed the canary tag of user {user}"),
                    )
                })
        }
        "DeleteUserPolicy" | "PutUserPolicy"
            if canary::named(user)
                && text(params, "policyName") == Some(canary::DENY_POLICY_NAME) =>
        {
            // CloudTrail records the document as JSON text, or already as an object.
            let kept = r.event_name == "PutUserPolicy"
                && params.get("policyDocument").is_some_and(|d| match d {
                    Value::String(s) => canary::denies_everything(s),
                    other => canary::denies_everything(&other.to_string()),
                });
            (!kept).then(|| {
                alert(
                    Severity::Medium,
                    "a canary's deny removed or rewritten: its key can act (expected only when keyguard canary delete runs)",
                    format!("{who} changed the deny of canary {user} ({})", r.event_name),
                )
            })
        }
        _ => None,
    }
}
