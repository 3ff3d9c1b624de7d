//! `exemption-tagged` (critical when a key tags its own user; high otherwise): a
//! successful `TagUser`, `TagRole`, `CreateUser` or `CreateRole` that sets keyguard's
//! exemption tag (`EXEMPT_TAG`). The tag is written by whoever may tag the principal, so
//! a leaked key allowed `iam:TagUser` on its own user could make containment leave it
//! alone.
//!
//! - An IAM user's `AKIA` key tagging its own user is the escape itself: critical, and
//!   the calling key is handed off. deactivate-key does not believe the tag for this
//!   hand-off ([`crate::policy::containment::Credential::tag_not_believed`]); an exemption
//!   by name (`EXEMPT_USERS`) still holds.
//! - A role's session tagging its own role is critical too, and contained by nothing: the
//!   hand-off carries user keys only.
//! - Anyone tagging another principal, or creating one already exempt, is high and
//!   contains nothing: making exemptions is an administrator's job, and one must look.

use super::{caller_role, caller_user, long_term, Alert};
use crate::events::CloudTrailRecord;
use crate::guard::{same_name, Guard};
use crate::notice::Severity;
use serde_json::Value;

pub const RULE: &str = "exemption-tagged";

pub fn check(r: &CloudTrailRecord, guard: &Guard) -> Option<Alert> {
    if !r.succeeded() || r.event_source != "iam.amazonaws.com" {
        return None;
    }
    let params = r.request_parameters.as_ref();
    if !guard.sets_exemption(params) {
        return None;
    }
    let name = |field: &str| params?.get(field).and_then(Value::as_str);
    let (kind, target) = match r.event_name.as_str() {
        "TagUser" | "CreateUser" => ("user", name("userName")?),
        "TagRole" | "CreateRole" => ("role", name("roleName")?),
        _ => return None,
    };
    let who = r
        .user_identity
        .arn
        .as_deref()
        .unwrap_or("an unknown caller");
    let tagging = r.event_name.starts_with("Tag");
    let own_user =
        tagging && kind == "user" && caller_user(r).is_some_and(|u| same_name(u, target));
    let own_role =
        tagging && kind == "role" && caller_role(r).is_some_and(|u| same_name(u, target));
    let contain = own_user
        .then(|| long_term(r.user_identity.access_key_id.as_deref(), caller_user(r)))
        .flatten();
    let (severity, why) = if own_user || own_role {
        (
            Severity::Critical,
            "a credential tagged its own principal exempt from keyguard: the escape a leaked key would make before containment reads the tag",
        )
    } else {
        (
            Severity::High,
            "a principal made exempt from keyguard by tag: containment will leave its keys alone",
        )
    };
    let summary = if tagging {
        format!("{who} tagged {kind} {target} exempt from keyguard")
    } else {
        format!("{who} created {kind} {target}, tagged exempt from keyguard")
    };
    Some(Alert {
        rule: RULE,
        severity,
        why,
        summary,
        contain,
    })
}
