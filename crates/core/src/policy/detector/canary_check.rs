//! The hourly safety net behind `canary-key-used`: some calls never reach CloudTrail
//! (services it does not log) or never reach this region's EventBridge (regional calls
//! land where they were made), but IAM still records the key's last use. On each run,
//! every canary key whose `GetAccessKeyLastUsed` shows a use keyguard has not alerted on
//! gets one critical alert (source: last-used) naming the service and region AWS
//! reports.
//!
//! "Has not alerted on" is the ledger's own record, twice over:
//! - a live alert's window (the facts carry until when it holds, per key): a use at or
//!   before that was reported live, or was a call of the burst the window kept quiet;
//! - the check's own step, keyed on the key and its last-use time: the same use is a
//!   duplicate on every later run, and a new one is a new step.
//!
//! Uses older than [`LOOKBACK_DAYS`] are left to `keyguard canary list`: a ledger row
//! lives `LEDGER_TTL_DAYS`, and an old use must not come back as new when its row
//! expires (nor every past use alert on the first run after deployment).

use super::{canary_key_used, DetectorConfig, FUNCTION};
use crate::canary::CanaryKey;
use crate::notice::{Notice, Severity};
use crate::plan::{Action, Decision, Plan, Step, Window};
use crate::scope::{AccountId, Scope};
use crate::step_key;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How far back a recorded use is still news.
pub const LOOKBACK_DAYS: i64 = 7;

/// What the check reads: every canary key IAM lists, and until when a live alert's
/// window holds for each key that has one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanaryFacts {
    pub keys: Vec<CanaryKey>,
    #[serde(default)]
    pub alerted_until: BTreeMap<String, Timestamp>,
}

/// The window every alert about one canary holds, before its channel is added (the live
/// rule and this check share it).
pub fn window_key(account: Option<&AccountId>, subject: &str) -> String {
    step_key::window(
        FUNCTION,
        canary_key_used::RULE,
        account,
        &step_key::Subject::other(subject),
    )
}

/// The ledger items holding a key's windows, one per channel its alerts go to (as
/// [`DetectorConfig::alert_steps`] picks them).
pub fn window_items(cfg: &DetectorConfig, key_id: &str) -> Vec<String> {
    let base = window_key(cfg.guard.me.account.as_ref(), key_id);
    cfg.webhooks
        .keys()
        .map(|c| c.name())
        .chain(cfg.to_sns().then_some("notify"))
        .map(|channel| format!("{base}:{channel}"))
        .collect()
}

/// The plan for one check.
pub fn decide(facts: &CanaryFacts, cfg: &DetectorConfig, event_ref: &str, now: Timestamp) -> Plan {
    let mut plan = Plan::for_event(FUNCTION, Decision::Act, event_ref);
    let account = cfg.guard.me.account.as_ref();
    let since = now - chrono::Duration::days(LOOKBACK_DAYS);
    let mut known = 0;
    for key in &facts.keys {
        let Some(used) = key.last_used else {
            continue;
        };
        if used < since
            || facts
                .alerted_until
                .get(key.key_id.as_str())
                .is_some_and(|until| used <= *until)
        {
            known += 1;
            continue;
        }
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
        let notice = if key.denied {
            notice
        } else {
            notice.fact(
                "deny",
                "gone: the canary can act, so its key is handed to deactivate-key",
            )
        };
        // A last use no window can follow (a facts file's far-off year) holds none: the
        // alert goes out, which is the safe side.
        let window = used
            .checked_add_signed(chrono::Duration::minutes(i64::from(
                cfg.canary_alert_minutes,
            )))
            .filter(|_| cfg.canary_alert_minutes > 0)
            .map(|until| Window {
                key: window_key(account, key.key_id.as_str()),
                until,
            });
        // The last use stands in for the event: the same use is the same step on every run.
        let seen = format!("last-used:{}:{}", key.key_id, used.timestamp());
        // A canary without its deny is a live credential that was used: handed off first,
        // as every containable alert is, for deactivate-key to contain.
        if let (false, Some(account)) = (key.denied, account) {
            plan.steps.push(Step {
                replaces: None,
                after: None,
                idempotency_key: step_key::step(
                    FUNCTION,
                    "hand_off",
                    Some(account),
                    &step_key::Subject::other(canary_key_used::RULE).with_key(key.key_id.as_str()),
                    &seen,
                ),
                reason: format!(
                    "{}: canary {} can act (its deny is gone) and its key was used: contain {}",
                    canary_key_used::RULE,
                    key.user,
                    key.key_id
                ),
                action: Action::HandOff {
                    key_id: key.key_id.clone(),
                    user: Some(key.user.clone()),
                    account: account.clone(),
                    classifier_source: format!("{FUNCTION}/{}", canary_key_used::RULE),
                    event_id: seen.clone(),
                },
                scope: Some(Scope {
                    account: account.clone(),
                    region: None,
                }),
                window: None,
            });
        }
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
                "no canary key has a new recorded use ({} canary key(s) read, {known} use(s) already reported or older than {LOOKBACK_DAYS} days)",
                facts.keys.len()
            ),
        };
    }
    plan
}
