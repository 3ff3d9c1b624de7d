//! OCSF (Open Cybersecurity Schema Framework) Detection Findings, class 2004, for a SIEM
//! that speaks OCSF: `keyguard replay --format ocsf` writes one per detector finding, and
//! the functions log one per decision with `LOG_FORMAT=ocsf`. Pure; what it writes is
//! validated against the OCSF schema in `make test` (`tools/check_ocsf.py`).

use crate::Severity;
use serde_json::{json, Map, Value};

/// The OCSF version every event names (and is validated against).
pub const VERSION: &str = "1.6.0";

const CLASS_UID: u32 = 2004;
const CATEGORY_UID: u32 = 2;
/// Activity 1, Create: keyguard reports each finding once, when it makes it.
const ACTIVITY_ID: u32 = 1;

/// Text from outside (a CloudTrail record's fields), made safe and bounded as every
/// notice's is: no control or bidi characters, at most [`TEXT_CHARS`] characters.
fn clean(text: &str) -> String {
    crate::notice::clean(text, TEXT_CHARS)
}

/// The longest text field written (OCSF sets no limit; a SIEM should not get megabytes).
pub const TEXT_CHARS: usize = 1024;

/// A resource the finding is about: an access key, a role or user, or an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// keyguard's name for its kind (`AwsIamAccessKey`, `AwsIamRole`, ...).
    pub kind: String,
    pub uid: String,
    /// The user or role the key or session belongs to.
    pub owner: Option<String>,
    pub account: Option<String>,
}

/// What one Detection Finding says.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub uid: String,
    pub title: String,
    pub desc: String,
    /// The rule (or function) that made it: OCSF's analytic.
    pub analytic: String,
    pub types: Vec<String>,
    pub severity: Severity,
    /// When it happened (milliseconds since the epoch).
    pub time_ms: i64,
    /// The API call the finding is about, and where it came from.
    pub operation: Option<String>,
    pub source_ip: Option<String>,
    pub resources: Vec<Resource>,
}

fn severity(s: Severity) -> (u32, &'static str) {
    match s {
        Severity::Info => (1, "Informational"),
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

/// The event, as OCSF's `detection_finding` defines it (every field this writes is one
/// the class or its objects declare).
pub fn detection_finding(d: &Detection) -> Value {
    let (severity_id, severity_name) = severity(d.severity);
    let (title, desc) = (clean(&d.title), clean(&d.desc));
    let mut event = Map::new();
    event.insert("class_uid".into(), json!(CLASS_UID));
    event.insert("class_name".into(), json!("Detection Finding"));
    event.insert("category_uid".into(), json!(CATEGORY_UID));
    event.insert("category_name".into(), json!("Findings"));
    event.insert("activity_id".into(), json!(ACTIVITY_ID));
    event.insert("activity_name".into(), json!("Create"));
    event.insert("type_uid".into(), json!(CLASS_UID * 100 + ACTIVITY_ID));
    event.insert("type_name".into(), json!("Detection Finding: Create"));
    event.insert("severity_id".into(), json!(severity_id));
    event.insert("severity".into(), json!(severity_name));
    event.insert("status_id".into(), json!(1));
    event.insert("status".into(), json!("New"));
    event.insert("time".into(), json!(d.time_ms));
    event.insert("message".into(), json!(title));
    event.insert(
        "metadata".into(),
        json!({
            "version": VERSION,
            "product": {"name": "keyguard", "vendor_name": "keyguard", "version": env!("CARGO_PKG_VERSION")},
        }),
    );
    event.insert(
        "finding_info".into(),
        json!({
            "uid": clean(&d.uid),
            "title": title,
            "desc": desc,
            "types": d.types,
            "analytic": {"name": d.analytic, "uid": d.analytic, "type_id": 1, "type": "Rule"},
        }),
    );
    if !d.resources.is_empty() {
        let resources: Vec<Value> = d
            .resources
            .iter()
            .map(|r| {
                let mut out = Map::new();
                out.insert("type".into(), json!(r.kind));
                out.insert("uid".into(), json!(clean(&r.uid)));
                if let Some(owner) = &r.owner {
                    out.insert("owner".into(), json!({"name": clean(owner)}));
                }
                if let Some(account) = &r.account {
                    out.insert("labels".into(), json!([format!("account:{account}")]));
                }
                Value::Object(out)
            })
            .collect();
        event.insert("resources".into(), Value::Array(resources));
    }
    let mut evidence = Map::new();
    if let Some(op) = &d.operation {
        evidence.insert("api".into(), json!({"operation": clean(op)}));
    }
    // CloudTrail's sourceIPAddress is an address, or the service that called for the
    // caller (`ec2.amazonaws.com`, `AWS Internal`): OCSF takes only an address as `ip`.
    if let Some(source) = d.source_ip.as_deref().filter(|s| !s.is_empty()) {
        let endpoint = if source.parse::<std::net::IpAddr>().is_ok() {
            json!({"ip": source})
        } else {
            json!({"svc_name": clean(source)})
        };
        evidence.insert("src_endpoint".into(), endpoint);
    }
    if !evidence.is_empty() {
        event.insert("evidences".into(), json!([Value::Object(evidence)]));
    }
    Value::Object(event)
}

/// A function's run as one Detection Finding (`LOG_FORMAT=ocsf`), when it is a run
/// security teams must see: the same decisions, words and resources as its Security Hub
/// finding ([`crate::security_hub::finding`]).
pub fn from_report(report: &crate::Report, now: crate::Timestamp) -> Option<Value> {
    use crate::security_hub::{finding, Findings};
    // Dry runs did nothing; age-rotation's and secrets-rotator's runs are hygiene, as for
    // Security Hub.
    if report.dry_run || !crate::security_hub::REPORTING.contains(&report.function.as_str()) {
        return None;
    }
    // No product here: keyguard's own account stands in as nobody's. A key of a step
    // that names no account is said without one; a role, user or account whose very id
    // would be made of it is left out.
    let nobody = crate::AccountId::nobody();
    let f = finding(report, &Findings::new(nobody.clone(), "", "aws"), now)?;
    let mut d = from_finding(&f);
    d.resources.retain_mut(|r| {
        if r.account.as_deref() != Some(nobody.as_str()) {
            return true;
        }
        r.account = None;
        r.kind == "AwsIamAccessKey"
    });
    Some(detection_finding(&d))
}

/// One detector finding of a CloudTrail record (`keyguard replay --format ocsf`). A record
/// without a time is dated `now` (when the finding was made); an account that is not one
/// is not named.
pub fn from_alert(
    record: &crate::events::CloudTrailRecord,
    alert: &crate::policy::detector::Alert,
    now: crate::Timestamp,
) -> Value {
    let event = record.event_id.as_deref().unwrap_or("unknown");
    let account = record
        .recipient_account_id
        .as_deref()
        .and_then(|a| crate::AccountId::parse(a).ok());
    detection_finding(&Detection {
        uid: format!("keyguard/{}/{event}", alert.rule),
        title: alert.summary.clone(),
        desc: alert.why.to_owned(),
        analytic: alert.rule.to_owned(),
        types: crate::security_hub::types(Some(alert.rule)),
        severity: alert.severity,
        time_ms: record
            .event_time
            .as_deref()
            .and_then(crate::parse_time)
            .unwrap_or(now)
            .timestamp_millis(),
        operation: Some(record.event_name.clone()).filter(|n| !n.is_empty()),
        source_ip: record.source_ip_address.clone(),
        resources: alert
            .contain
            .iter()
            .map(|(key, user)| Resource {
                kind: "AwsIamAccessKey".into(),
                uid: key.to_string(),
                owner: user.as_ref().map(ToString::to_string),
                account: account.as_ref().map(ToString::to_string),
            })
            .collect(),
    })
}

/// The same decision as keyguard's Security Hub finding says it.
pub fn from_finding(f: &crate::security_hub::Finding) -> Detection {
    Detection {
        uid: f.id.clone(),
        title: f.title.clone(),
        desc: f.description.clone(),
        analytic: f.generator_id.clone(),
        types: f.types.clone(),
        severity: f.severity.into(),
        time_ms: f.updated_at.timestamp_millis(),
        operation: None,
        source_ip: None,
        resources: f
            .resources
            .iter()
            .map(|r| Resource {
                kind: r.kind.to_owned(),
                uid: r.key_id.clone().unwrap_or_else(|| r.id.clone()),
                owner: r.principal.clone(),
                account: Some(r.account.to_string()),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection() -> Detection {
        Detection {
            uid: "keyguard/backdoor-key/ev-1".into(),
            title: "alice made a key for admin".into(),
            desc: "a leaked key's persistence".into(),
            analytic: "backdoor-key".into(),
            types: vec!["TTPs/Persistence".into()],
            severity: Severity::High,
            time_ms: 1_700_000_000_000,
            operation: Some("CreateAccessKey".into()),
            source_ip: Some("198.51.100.7".into()),
            resources: vec![Resource {
                kind: "AwsIamAccessKey".into(),
                uid: "AKIAIOSFODNN7EXAMPLE".into(),
                owner: Some("admin".into()),
                account: Some("111111111111".into()),
            }],
        }
    }

    #[test]
    fn a_detection_is_class_2004_with_its_identity_and_severity() {
        let e = detection_finding(&detection());
        assert_eq!(e["class_uid"], 2004);
        assert_eq!(e["category_uid"], 2);
        assert_eq!(e["type_uid"], 200_401);
        assert_eq!(e["severity_id"], 4);
        assert_eq!(e["metadata"]["version"], VERSION);
        assert_eq!(e["finding_info"]["analytic"]["name"], "backdoor-key");
        assert_eq!(e["resources"][0]["uid"], "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(e["evidences"][0]["api"]["operation"], "CreateAccessKey");
        let bare = detection_finding(&Detection {
            operation: None,
            source_ip: None,
            resources: vec![],
            ..detection()
        });
        assert!(bare.get("evidences").is_none() && bare.get("resources").is_none());
    }

    #[test]
    fn outside_text_is_cleaned_and_a_service_is_no_address() {
        let e = detection_finding(&Detection {
            title: format!("admin\u{202E}gnp.exe {}", "x".repeat(5000)),
            source_ip: Some("AWS Internal".into()),
            ..detection()
        });
        let title = e["finding_info"]["title"].as_str().unwrap();
        assert!(!title.contains('\u{202E}'));
        assert!(
            title.chars().count() < TEXT_CHARS + 40,
            "bounded: {}",
            title.len()
        );
        assert_eq!(e["message"], e["finding_info"]["title"]);
        assert_eq!(
            e["evidences"][0]["src_endpoint"]["svc_name"],
            "AWS Internal"
        );
        assert!(e["evidences"][0]["src_endpoint"].get("ip").is_none());
    }

    #[test]
    fn only_the_reporting_functions_decisions_are_logged_and_never_a_dry_run() {
        use crate::plan::{Action, Decision, Plan, Step};
        use crate::report::{Outcome, Report, StepReport};
        let now = crate::parse_time("2026-12-07T12:00:00Z").unwrap();
        let report = |function: &str, dry_run: bool| {
            let step = StepReport {
                step: Step {
                    replaces: None,
                    action: Action::DeactivateKey {
                        user: crate::UserName::parse("alice").unwrap(),
                        key_id: crate::AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").unwrap(),
                    },
                    reason: "leaked".into(),
                    idempotency_key: "k".into(),
                    window: None,
                    after: None,
                    scope: None,
                },
                outcome: if dry_run {
                    Outcome::Planned
                } else {
                    Outcome::Applied { detail: None }
                },
                retried: false,
            };
            Report::new(
                Plan::for_event(function, Decision::Act, "ev-1"),
                dry_run,
                vec![step],
            )
        };
        let line = from_report(&report("deactivate-key", false), now).unwrap();
        // The step names no account: its key is said, no account made up for it.
        assert_eq!(
            line["resources"][0]["uid"], "AKIAIOSFODNN7EXAMPLE",
            "{line}"
        );
        assert!(line["resources"][0].get("labels").is_none(), "{line}");
        assert_eq!(from_report(&report("deactivate-key", true), now), None);
        assert_eq!(from_report(&report("age-rotation", false), now), None);
        assert_eq!(from_report(&report("secrets-rotator", false), now), None);
    }
}
