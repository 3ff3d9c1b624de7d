//! age-rotation: the daily key-age scan.
//!
//! Scheduled event → the credential report (one call for the account) → keys and tags of
//! the users it points at, and when keyguard deactivated their old keys (the ledger) →
//! `policy::age::decide_scan` → apply through the ledger → report. Without a report (it
//! cannot be generated in time, or read), every user is read page by page instead.

use keyguard_aws::{AwsEffects, DynamoLedger, Iam, Mailer, SnsNotifier};
use keyguard_core::config::{self, Common, ConfigError, Env};
use keyguard_core::policy::age::{self, AgeConfig, Person, FUNCTION};
use keyguard_core::policy::containment::{self, KeyStatus, SelfIdentity};
use keyguard_core::{credential_report, Decision, EffectError, Plan, Report, Timestamp, Trigger};
use serde_json::Value;
use std::time::Duration;

/// Configuration, read once at cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub common: Common,
    pub age: AgeConfig,
    /// `REPORT_WAIT_SECONDS` (default 60): how long to wait for the credential report
    /// before reading every user instead.
    pub report_wait_seconds: u64,
}

impl Settings {
    pub fn from_env(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        Ok(Self {
            common: Common::from_env(env)?,
            age: AgeConfig::from_env(env, me)?,
            report_wait_seconds: config::number(env, "REPORT_WAIT_SECONDS", 60)?,
        })
    }
}

pub struct App {
    pub settings: Settings,
    pub ledger: DynamoLedger,
    pub effects: AwsEffects,
}

/// Where the scan's facts came from, for the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    CredentialReport,
    EveryUser,
}

impl App {
    pub fn new(sdk: &keyguard_aws::SdkConfig, settings: Settings) -> Self {
        Self {
            effects: AwsEffects {
                mailer: Some(Mailer::new(sdk)),
                ..AwsEffects::iam_only(
                    Iam::new(sdk),
                    SnsNotifier::configured(sdk, &settings.common),
                )
            },
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

    pub async fn handle(&self, raw: &Value) -> Report {
        self.handle_at(raw, chrono::Utc::now()).await
    }

    pub async fn handle_at(&self, raw: &Value, now: Timestamp) -> Report {
        let dry_run = self.settings.common.dry_run;
        let trigger = match keyguard_core::parse_value(raw) {
            Ok(t) => t,
            Err(e) => return Report::invalid(FUNCTION, dry_run, e),
        };
        let event_ref = keyguard_core::event_ref(&trigger, raw);
        let cfg = &self.settings.age;
        let early = |decision: Decision| {
            let mut plan = Plan::new(FUNCTION, decision);
            plan.event_id = Some(event_ref.clone());
            plan
        };
        let plan = if let Some(why) =
            containment::untrusted_source(&trigger, &cfg.containment.trusted_sources)
        {
            early(Decision::Refused { why })
        } else if !matches!(trigger, Trigger::Scheduled { .. }) {
            early(Decision::Ignored {
                why: format!("{FUNCTION} runs on its schedule only"),
            })
        } else {
            match self.scan_facts(now).await {
                Ok((people, source)) => {
                    tracing::info!(function = FUNCTION, event_id = %event_ref, ?source, users = people.len(), "facts read");
                    age::decide_scan(&event_ref, cfg, &people, now)
                }
                Err(e) => early(Decision::Failed {
                    why: format!("reading keys: {e}"),
                }),
            }
        };
        keyguard_core::execute(plan, &self.effects, &self.ledger, dry_run, now).await
    }

    /// The people to scan: the report's candidates, else everyone; then, for their old
    /// Inactive keys, when keyguard deactivated them.
    pub async fn scan_facts(&self, now: Timestamp) -> Result<(Vec<Person>, Source), EffectError> {
        let iam = &self.effects.iam;
        let cfg = &self.settings.age;
        let wait = Duration::from_secs(self.settings.report_wait_seconds);
        let from_report = match iam.credential_report(wait).await {
            Ok(csv) => credential_report::parse(&csv)
                .map(|rows| credential_report::candidates(&rows, cfg.warn_days, now))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let (names, source) = match from_report {
            Ok(names) => (names, Source::CredentialReport),
            Err(why) => {
                tracing::warn!(function = FUNCTION, %why, "no credential report: reading every user");
                (iam.user_names().await?, Source::EveryUser)
            }
        };
        let mut people = iam.people(&names).await?;
        for key in people.iter_mut().flat_map(|p| p.keys.iter_mut()) {
            if key.status == KeyStatus::Inactive
                && (now - key.created).num_days() >= i64::from(cfg.delete_days)
            {
                for ledger_key in age::deactivation_keys(&key.key_id) {
                    if let Some(at) = self.ledger.done_at(&ledger_key).await? {
                        key.deactivated_at = Some(key.deactivated_at.map_or(at, |t| t.max(at)));
                    }
                }
            }
        }
        Ok((people, source))
    }
}

impl keyguard_aws::lambda::Handler for App {
    async fn report(&self, event: &Value) -> Report {
        self.handle(event).await
    }
}
