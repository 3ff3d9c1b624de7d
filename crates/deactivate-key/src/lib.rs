//! deactivate-key: contain the credential an event names.
//!
//! parse → target → gather facts from IAM → decide → apply through the ledger → report.
//! Every input, good or bad, ends in a [`Report`] with an HTTP-style `statusCode`; nothing
//! from outside can make the function panic.

use keyguard_aws::{AwsEffects, DynamoLedger, HandoffKey};
use keyguard_core::config::{self, Common, ConfigError, Env};
use keyguard_core::guard::HandoffCheck;
use keyguard_core::policy::containment::{self, ContainmentConfig, SelfIdentity, FUNCTION};
use keyguard_core::{Decision, Plan, Report, Timestamp, Trigger};
use serde_json::Value;

/// Configuration, read once at cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub common: Common,
    pub containment: ContainmentConfig,
    /// `HANDOFF_KEY_ID` (unset: every hand-off is refused): the KMS HMAC key whose MAC a
    /// hand-off must carry.
    pub handoff_key: Option<String>,
    /// `HANDOFF_MAX_AGE_SECONDS` (default 21600, Lambda's longest wait for an
    /// asynchronous event): an older hand-off is a replay, refused.
    pub handoff_max_age: std::time::Duration,
}

impl Settings {
    pub fn from_env(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        Ok(Self {
            common: Common::from_env(env)?,
            containment: ContainmentConfig::from_env(env, me)?,
            handoff_key: env.get("HANDOFF_KEY_ID").filter(|k| !k.trim().is_empty()),
            handoff_max_age: config::seconds(env, "HANDOFF_MAX_AGE_SECONDS", 21_600.0)?,
        })
    }
}

/// Everything built once per cold start and reused by every invocation.
pub struct App {
    pub settings: Settings,
    pub ledger: DynamoLedger,
    pub effects: AwsEffects,
    pub handoff_key: Option<HandoffKey>,
}

impl App {
    pub fn new(sdk: &keyguard_aws::SdkConfig, settings: Settings) -> Self {
        let sdk = &keyguard_aws::as_function(sdk, FUNCTION);
        Self {
            effects: AwsEffects::configured(sdk, &settings.common),
            ledger: DynamoLedger::configured(sdk, &settings.common),
            handoff_key: settings
                .handoff_key
                .as_deref()
                .map(|k| HandoffKey::new(sdk, k)),
            settings,
        }
    }

    /// Cold start: a bad setting stops here, naming its variable.
    pub async fn from_environment() -> Result<Self, String> {
        let (sdk, settings) =
            keyguard_aws::cold_start(|me| Settings::from_env(&config::process_env, me)).await?;
        Ok(Self::new(&sdk, settings))
    }

    /// One invocation.
    pub async fn handle(&self, raw: &Value) -> Report {
        self.handle_at(raw, chrono::Utc::now()).await
    }

    /// What checking a hand-off's MAC (and age) found; `Err` when KMS could not be asked.
    async fn check_handoff(
        &self,
        trigger: &Trigger,
        now: Timestamp,
    ) -> Result<Option<HandoffCheck>, String> {
        let Trigger::Handoff(h) = trigger else {
            return Ok(None);
        };
        if let Some(why) = h.stale(now, self.settings.handoff_max_age) {
            return Ok(Some(HandoffCheck::Rejected(why)));
        }
        let Some(key) = &self.handoff_key else {
            return Ok(Some(HandoffCheck::Rejected(
                "HANDOFF_KEY_ID is not set, so no hand-off can be authenticated".into(),
            )));
        };
        key.verify(h)
            .await
            .map(Some)
            .map_err(|e| format!("checking the hand-off's MAC: {e}"))
    }

    /// One invocation at a given time (tests simulate Lambda's retries with it).
    pub async fn handle_at(&self, raw: &Value, now: Timestamp) -> Report {
        let dry_run = self.settings.common.dry_run;
        let trigger = match keyguard_core::parse_value(raw) {
            Ok(t) => t,
            Err(e) => return Report::invalid(FUNCTION, dry_run, e),
        };
        let event_ref = keyguard_core::event_ref(&trigger, raw);
        let failed =
            |why: String| Plan::for_event(FUNCTION, Decision::Failed { why }, event_ref.clone());
        let handoff = match self.check_handoff(&trigger, now).await {
            Ok(check) => check,
            Err(why) => {
                let report =
                    keyguard_core::execute(failed(why), &self.effects, &self.ledger, dry_run, now);
                return report.await;
            }
        };
        let cfg = &self.settings.containment;
        let plan = match containment::target(&trigger, cfg, &event_ref, handoff.as_ref()) {
            Err(plan) => *plan,
            Ok(target) => {
                match containment::gather_all(&target.lookups(), &self.effects.iam, cfg.recheck)
                    .await
                {
                    Ok(facts) => containment::decide(&target, cfg, &facts, now),
                    Err(e) => {
                        let mut plan = failed(format!("reading IAM: {e}"));
                        plan.classifier_source = target.classifier_source;
                        plan
                    }
                }
            }
        };
        keyguard_core::execute(plan, &self.effects, &self.ledger, dry_run, now).await
    }
}

impl keyguard_aws::lambda::Handler for App {
    async fn report(&self, event: &Value) -> Report {
        self.handle(event).await
    }
}
