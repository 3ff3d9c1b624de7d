//! deactivate-key: contain the credential an event names.
//!
//! parse → target → gather facts from IAM → decide → apply through the ledger → report.
//! Every input, good or bad, ends in a [`Report`] with an HTTP-style `statusCode`; nothing
//! from outside can make the function panic.

use keyguard_aws::{AwsEffects, DynamoLedger};
use keyguard_core::config::{self, Common, ConfigError, Env};
use keyguard_core::policy::containment::{self, ContainmentConfig, SelfIdentity, FUNCTION};
use keyguard_core::{Decision, Plan, Report};
use serde_json::Value;

/// Configuration, read once at cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub common: Common,
    pub containment: ContainmentConfig,
}

impl Settings {
    pub fn from_env(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        Ok(Self {
            common: Common::from_env(env)?,
            containment: ContainmentConfig::from_env(env, me)?,
        })
    }
}

/// Everything built once per cold start and reused by every invocation.
pub struct App {
    pub settings: Settings,
    pub ledger: DynamoLedger,
    pub effects: AwsEffects,
}

impl App {
    pub fn new(sdk: &keyguard_aws::SdkConfig, settings: Settings) -> Self {
        Self {
            effects: AwsEffects::configured(sdk, &settings.common),
            ledger: DynamoLedger::configured(sdk, &settings.common),
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
        let now = chrono::Utc::now();
        let dry_run = self.settings.common.dry_run;
        let trigger = match keyguard_core::parse_value(raw) {
            Ok(t) => t,
            Err(e) => return Report::invalid(FUNCTION, dry_run, e),
        };
        let event_ref = keyguard_core::event_ref(&trigger, raw);
        let cfg = &self.settings.containment;
        let plan = match containment::target(&trigger, cfg, &event_ref) {
            Err(plan) => *plan,
            Ok(target) => match containment::gather(&target.lookup(), &self.effects.iam).await {
                Ok(facts) => containment::decide(&target, cfg, &facts, now),
                Err(e) => {
                    let mut plan = Plan::for_event(
                        FUNCTION,
                        Decision::Failed {
                            why: format!("reading IAM: {e}"),
                        },
                        event_ref,
                    );
                    plan.classifier_source = target.classifier_source;
                    plan
                }
            },
        };
        keyguard_core::execute(plan, &self.effects, &self.ledger, dry_run, now).await
    }
}

impl keyguard_aws::lambda::Handler for App {
    async fn report(&self, event: &Value) -> Report {
        self.handle(event).await
    }
}
