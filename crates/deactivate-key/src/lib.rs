//! deactivate-key: contain the credential an event names.
//!
//! parse → target → gather facts from IAM → decide → apply through the ledger → report.
//! Every input, good or bad, ends in a [`Report`] with an HTTP-style `statusCode`; nothing
//! from outside can make the function panic.

use keyguard_aws::{identity, AwsEffects, DynamoLedger, Iam, SnsNotifier};
use keyguard_core::config::{self, ConfigError, Env};
use keyguard_core::policy::containment::{self, ContainmentConfig, SelfIdentity, FUNCTION};
use keyguard_core::{Decision, Plan, Report};
use serde_json::Value;

/// Configuration, read once at cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `DRY_RUN` (default false): plan and report, apply nothing.
    pub dry_run: bool,
    /// `LEDGER_TABLE` (default `keyguard-ledger`).
    pub ledger_table: String,
    /// `LEDGER_TTL_DAYS` (default 90): how long audit rows live.
    pub ledger_ttl_days: u32,
    /// `LEDGER_LEASE_SECONDS` (default 300): an unsettled claim older than this is retried.
    pub ledger_lease_seconds: u32,
    /// `NOTICE_TOPIC_ARN` (optional): SNS topic for notices; unset, notices are logged only.
    pub notice_topic_arn: Option<String>,
    pub containment: ContainmentConfig,
}

impl Settings {
    pub fn from_env(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        Ok(Self {
            dry_run: config::flag(env, "DRY_RUN", false)?,
            ledger_table: config::string(env, "LEDGER_TABLE", "keyguard-ledger"),
            ledger_ttl_days: config::number(env, "LEDGER_TTL_DAYS", 90)?,
            ledger_lease_seconds: config::number(env, "LEDGER_LEASE_SECONDS", 300)?,
            notice_topic_arn: env.get("NOTICE_TOPIC_ARN"),
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
        let iam = Iam::new(sdk);
        let ledger = DynamoLedger::new(
            sdk,
            &settings.ledger_table,
            settings.ledger_ttl_days,
            settings.ledger_lease_seconds,
        );
        let notifier = settings
            .notice_topic_arn
            .as_deref()
            .map(|arn| SnsNotifier::new(sdk, arn));
        Self {
            effects: AwsEffects { iam, notifier },
            settings,
            ledger,
        }
    }

    /// Cold start: SDK config, who we are, settings. A bad setting stops here, naming it.
    pub async fn from_environment() -> Result<Self, String> {
        let sdk = keyguard_aws::load_config().await;
        let me = identity::whoami(&sdk)
            .await
            .map_err(|e| format!("cannot tell who keyguard runs as: {e}"))?;
        let settings = Settings::from_env(&config::process_env, me).map_err(|e| e.to_string())?;
        Ok(Self::new(&sdk, settings))
    }

    /// One invocation.
    pub async fn handle(&self, raw: &Value) -> Report {
        let now = chrono::Utc::now();
        let dry_run = self.settings.dry_run;
        let trigger = match keyguard_core::parse_value(raw) {
            Ok(t) => t,
            Err(e) => {
                return Report::new(
                    Plan::new(FUNCTION, Decision::Invalid { why: e.to_string() }),
                    dry_run,
                    Vec::new(),
                )
            }
        };
        let event_ref = keyguard_core::event_ref(&trigger, raw);
        let cfg = &self.settings.containment;
        let plan = match containment::target(&trigger, cfg, &event_ref) {
            Err(plan) => *plan,
            Ok(target) => match containment::gather(&target.lookup(), &self.effects.iam).await {
                Ok(facts) => containment::decide(&target, cfg, &facts, now),
                Err(e) => {
                    let mut plan = Plan::new(
                        FUNCTION,
                        Decision::Failed {
                            why: format!("reading IAM: {e}"),
                        },
                    );
                    plan.event_id = Some(event_ref);
                    plan.classifier_source = target.classifier_source;
                    plan
                }
            },
        };
        keyguard_core::execute(plan, &self.effects, &self.ledger, dry_run, now).await
    }
}
