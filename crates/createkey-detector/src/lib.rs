//! createkey-detector: the rules over one CloudTrail call, then alerts to Discord, Slack
//! and SNS, and a hand-off to deactivate-key for what IAM can contain.
//!
//! parse → rules (keyguard-core, pure) → plan → apply through the ledger → report. The
//! rules need no AWS read: everything they judge is in the event.

pub mod effects;
pub mod handoff;
pub mod render;
pub mod webhook;

use effects::DetectorEffects;
use keyguard_aws::{AwsEffects, DynamoLedger};
use keyguard_core::config::{self, Common, ConfigError, Env};
use keyguard_core::policy::detector::{self, DetectorConfig, FUNCTION};
use keyguard_core::Report;
use serde_json::Value;
use std::time::Duration;
use webhook::{Retry, Webhooks};

/// Configuration, read once at cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub common: Common,
    pub detector: DetectorConfig,
    /// `DEACTIVATE_FUNCTION_NAME` (default `keyguard-deactivate-key`).
    pub deactivate_function: String,
    pub retry: Retry,
}

impl Settings {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let seconds =
            |name, default| config::number(env, name, default).map(Duration::from_secs_f64);
        Ok(Self {
            common: Common::from_env(env)?,
            detector: DetectorConfig::from_env(env)?,
            deactivate_function: config::string(
                env,
                "DEACTIVATE_FUNCTION_NAME",
                "keyguard-deactivate-key",
            ),
            retry: Retry {
                attempts: config::number(env, "WEBHOOK_ATTEMPTS", 3)?,
                max_wait: seconds("WEBHOOK_MAX_WAIT_SECONDS", 10.0)?,
                timeout: seconds("WEBHOOK_TIMEOUT_SECONDS", 5.0)?,
            },
        })
    }
}

/// Everything built once per cold start and reused by every invocation.
pub struct App {
    pub settings: Settings,
    pub ledger: DynamoLedger,
    pub effects: DetectorEffects,
}

impl App {
    pub fn new(sdk: &keyguard_aws::SdkConfig, settings: Settings) -> Result<Self, String> {
        Ok(Self {
            effects: DetectorEffects {
                aws: AwsEffects::configured(sdk, &settings.common),
                webhooks: Webhooks::new(sdk, settings.detector.webhooks.clone(), settings.retry)?,
                invoker: handoff::Invoker::new(sdk, &settings.deactivate_function),
            },
            ledger: DynamoLedger::configured(sdk, &settings.common),
            settings,
        })
    }

    /// Cold start: a bad setting stops here, naming its variable.
    pub async fn from_environment() -> Result<Self, String> {
        let (sdk, settings) =
            keyguard_aws::cold_start(|_me| Settings::from_env(&config::process_env)).await?;
        Self::new(&sdk, settings)
    }

    /// One invocation.
    pub async fn handle(&self, raw: &Value) -> Report {
        let now = chrono::Utc::now();
        let dry_run = self.settings.common.dry_run;
        let trigger = match keyguard_core::parse_value(raw) {
            Ok(t) => t,
            Err(e) => return Report::invalid(FUNCTION, dry_run, e),
        };
        let event_ref = keyguard_core::event_ref(&trigger, raw);
        let plan = detector::decide(&trigger, &self.settings.detector, &event_ref);
        keyguard_core::execute(plan, &self.effects, &self.ledger, dry_run, now).await
    }
}

impl keyguard_aws::lambda::Handler for App {
    async fn report(&self, event: &Value) -> Report {
        self.handle(event).await
    }
}
