//! `logging-disabled` (high): the record of what a leaked key does, switched off (Stratus
//! Red Team's `cloudtrail-stop`, `cloudtrail-delete`, `cloudtrail-event-selectors`):
//! CloudTrail's `StopLogging` and `DeleteTrail`, `PutEventSelectors` that leaves out
//! management events (or selects none at all), `UpdateTrail` that narrows what a trail
//! records (global services such as IAM and STS, other regions, or the organisation's
//! other accounts), and GuardDuty's `DeleteDetector`, or
//! `UpdateDetector` with `enable: false`. When the caller signed with a long-term `AKIA`
//! key, that key is contained: trails and detectors are run by roles and pipelines, and a
//! key that turns logging off is hiding what comes next.

use super::{long_term, Alert};
use crate::events::{CloudTrailRecord, IdentityType};
use crate::notice::Severity;
use serde_json::Value;

/// Whether event selectors leave management events out: none at all, or only selectors
/// that say `includeManagementEvents: false`. Advanced selectors are read the same way:
/// none of them selecting the `Management` category.
fn drops_management(params: &Value) -> bool {
    let selectors = params["eventSelectors"].as_array();
    let advanced = params["advancedEventSelectors"].as_array();
    match (selectors, advanced) {
        (Some(s), _) if !s.is_empty() => s
            .iter()
            .all(|e| e["includeManagementEvents"] == Value::Bool(false)),
        (_, Some(a)) if !a.is_empty() => !a.iter().any(|sel| {
            sel["fieldSelectors"].as_array().is_some_and(|fields| {
                fields.iter().any(|f| {
                    f["field"] == "eventCategory"
                        && f["equals"]
                            .as_array()
                            .is_some_and(|v| v.iter().any(|x| x == "Management"))
                })
            })
        }),
        _ => true,
    }
}

/// What an `UpdateTrail` stops recording, if anything: each of these flags set to
/// `false` takes events out of the trail (a bucket or key change moves them elsewhere,
/// which is not judged here).
fn narrows(params: &Value) -> Option<&'static str> {
    [
        (
            "includeGlobalServiceEvents",
            "took global services (IAM, STS) out of a trail",
        ),
        ("isMultiRegionTrail", "narrowed a trail to one region"),
        (
            "isOrganizationTrail",
            "took the organisation's accounts out of a trail",
        ),
    ]
    .into_iter()
    .find(|(flag, _)| params[*flag] == Value::Bool(false))
    .map(|(_, what)| what)
}

pub fn check(r: &CloudTrailRecord) -> Option<Alert> {
    if !r.succeeded() {
        return None;
    }
    // Borrowed: this runs for every record a replay reads.
    let params = r.request_parameters.as_ref().unwrap_or(&Value::Null);
    let what = match (r.event_source.as_str(), r.event_name.as_str()) {
        ("cloudtrail.amazonaws.com", "StopLogging") => "stopped CloudTrail logging",
        ("cloudtrail.amazonaws.com", "DeleteTrail") => "deleted a CloudTrail trail",
        ("cloudtrail.amazonaws.com", "PutEventSelectors") if drops_management(params) => {
            "left management events out of a trail"
        }
        ("cloudtrail.amazonaws.com", "UpdateTrail") => narrows(params)?,
        ("guardduty.amazonaws.com", "DeleteDetector") => "deleted the GuardDuty detector",
        ("guardduty.amazonaws.com", "UpdateDetector") if params["enable"] == Value::Bool(false) => {
            "disabled the GuardDuty detector"
        }
        _ => return None,
    };
    let id = &r.user_identity;
    let target = ["name", "trailName", "detectorId"]
        .iter()
        .find_map(|k| params[*k].as_str())
        .unwrap_or("(unnamed)");
    Some(Alert {
        rule: "logging-disabled",
        severity: Severity::High,
        why: "turning logging off hides what a compromised credential does next",
        summary: format!(
            "{} {what}: {target}",
            id.arn.as_deref().unwrap_or("an unknown caller")
        ),
        contain: (id.identity_type == IdentityType::IamUser)
            .then(|| long_term(id.access_key_id.as_deref(), id.user_name.as_deref()))
            .flatten(),
    })
}
