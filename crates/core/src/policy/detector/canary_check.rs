//! The hourly safety net behind `canary-key-used`: some calls never reach CloudTrail
//! (services it does not log) or never reach this region's EventBridge (regional calls
//! land where they were made), but IAM still records the key's last use. On each run,
//! every canary key whose `GetAccessKeyLastUsed` shows a use keyguard has not alerted on
//! gets one critical alert (source: last-used) naming the service and region AWS
//! reports.
//!
//! "Has not alerted on" is the ledger's own record: the alert's step is keyed on the
//! key and its last-use time, so the same last use is a duplicate on every later run and
//! a new one is a new step. The alert holds the same per-canary window as the live rule,
//! so a check that runs while a live alert's window is held stays quiet; one that runs
//! later confirms the use the live alert reported, once, saying it is the same key.

use super::{canary_key_used, DetectorConfig, FUNCTION};
use crate::canary::CanaryKey;
use crate::notice::{Notice, Severity};
use crate::plan::{Decision, Plan, Window};
use crate::step_key;

/// The plan for one check of `keys` (every canary key IAM lists).
pub fn decide(keys: &[CanaryKey], cfg: &DetectorConfig, event_ref: &str) -> Plan {
    let mut plan = Plan::for_event(FUNCTION, Decision::Act, event_ref);
    let account = cfg.guard.me.account.as_ref();
    for key in keys {
        let Some(used) = key.last_used else {
            continue;
        };
        let service = key.service.as_deref().unwrap_or("an unknown service");
        let region = key.region.as_deref().unwrap_or("an unknown region");
        let at = used.to_rfc3339();
        let notice = Notice::new(
            Severity::Critical,
            format!(
                "{}: canary {}'s key {} was used by {service} in {region} at {at} (source: last-used)",
                canary_key_used::RULE,
                key.user,
                key.key_id
            ),
        )
        .key(Some(key.key_id.clone()))
        .user(Some(key.user.clone()))
        .fact("rule", canary_key_used::RULE)
        .fact("source", "last-used")
        .fact("service", service)
        .fact("region", region)
        .fact("last_used", at.as_str());
        let window = (cfg.canary_alert_minutes > 0).then(|| Window {
            key: step_key::window(
                FUNCTION,
                canary_key_used::RULE,
                account,
                &step_key::Subject::other(key.key_id.as_str()),
            ),
            until: used + chrono::Duration::minutes(i64::from(cfg.canary_alert_minutes)),
        });
        // The last use stands in for the event: the same use is the same step on every run.
        let seen = format!("last-used:{}:{}", key.key_id, used.timestamp());
        plan.steps.extend(cfg.alert_steps(
            &notice,
            canary_key_used::RULE,
            &seen,
            "IAM records a use of a canary key that no alert has reported",
            window.as_ref(),
        ));
    }
    if plan.steps.is_empty() {
        plan.decision = Decision::NothingToDo {
            why: format!(
                "no canary key has a recorded use ({} canary key(s) read)",
                keys.len()
            ),
        };
    }
    plan
}
