//! createkey-detector: the rules over one CloudTrail call, then alerts to Discord, Slack
//! and SNS, and a hand-off to deactivate-key for what IAM can contain.
//!
//! parse → recall → rules (keyguard-core, pure) → plan → apply through the ledger →
//! report. The rules judge the event and what the detector remembers of earlier ones
//! (who created the signing key, who created the user a key is made for, the key's
//! launches), read from the ledger's table. Its hourly schedule reads every canary key's
//! last use instead (the safety net behind `canary-key-used`).

pub mod effects;
pub mod handoff;
pub mod render;
pub mod webhook;

use effects::DetectorEffects;
use keyguard_aws::memory::Memory;
use keyguard_aws::{AwsEffects, DynamoLedger};
use keyguard_core::config::{self, Common, ConfigError, Env};
use keyguard_core::guard::SelfIdentity;
use keyguard_core::pipeline::{self, Executor};
use keyguard_core::policy::detector::canary_check::{self, CanaryFacts};
use keyguard_core::policy::detector::{DetectorConfig, FUNCTION};
use keyguard_core::policy::policies::{DetectorFacts, DetectorTarget};
use keyguard_core::{EffectError, ParseError, Plan, Report, Timestamp};
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
    /// `HANDOFF_KEY_ID` (required): the KMS HMAC key hand-offs are signed with.
    pub handoff_key: String,
    pub retry: Retry,
    /// `SECURITY_HUB` (default false): each alert (and each refusal or failure) becomes
    /// one Security Hub finding.
    pub security_hub: bool,
}

/// Claims, settles and the SNS notice of one invocation, at most: the ledger's calls
/// are small but retried up to six times.
const LEDGER_AND_SNS_BUDGET: Duration = Duration::from_secs(15);

impl config::FromEnv for Settings {
    fn from_env(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        let seconds = |name, default| config::seconds(env, name, default);
        let handoff_key = env
            .get("HANDOFF_KEY_ID")
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| ConfigError {
                variable: "HANDOFF_KEY_ID".into(),
                message: "required: the KMS HMAC key (KeySpec HMAC_256) hand-offs are signed with, which deactivate-key verifies".into(),
            })?;
        Ok(Self {
            common: Common::from_env(env)?,
            detector: DetectorConfig::from_env(env, me)?,
            handoff_key,
            deactivate_function: config::string(
                env,
                "DEACTIVATE_FUNCTION_NAME",
                "keyguard-deactivate-key",
            ),
            retry: Retry {
                attempts: config::number(env, "WEBHOOK_ATTEMPTS", 3)?,
                max_wait: seconds("WEBHOOK_MAX_WAIT_SECONDS", 5.0)?,
                timeout: seconds("WEBHOOK_TIMEOUT_SECONDS", 4.0)?,
            },
            security_hub: keyguard_core::security_hub::enabled(env)?,
        })
    }
}

impl Settings {
    /// The longest one invocation can take, every budget spent: the hand-off (KMS MAC,
    /// then Lambda `Invoke`), then for each webhook the secret read and every attempt at
    /// its timeout with the longest wait between attempts (an honoured 429, or the
    /// backoff), plus the ledger. It must fit the function's timeout with a margin, or
    /// Lambda kills the invocation mid-step (checked against the template in a test).
    pub fn worst_case(&self) -> Duration {
        let attempts = self.retry.attempts.max(1);
        let waits: Duration = (1..attempts)
            .map(|a| self.retry.max_wait.max(webhook::backoff(a)))
            .sum();
        let per_channel = handoff::CALL_TIMEOUT + self.retry.timeout * attempts + waits;
        let channels = u32::try_from(self.detector.webhooks.len()).unwrap_or(u32::MAX);
        let finding = if self.security_hub {
            keyguard_aws::security_hub::FINDING_BUDGET
        } else {
            Duration::ZERO
        };
        handoff::CALL_TIMEOUT * 2 + per_channel * channels + LEDGER_AND_SNS_BUDGET + finding
    }
}

/// Everything built once per cold start and reused by every invocation.
pub struct App {
    pub settings: Settings,
    pub ledger: DynamoLedger,
    /// What the rules recall of earlier events (the ledger's table).
    pub memory: Memory,
    pub effects: DetectorEffects,
    /// Where each run's Security Hub finding goes (`SECURITY_HUB=true`).
    pub findings: Option<keyguard_core::security_hub::Findings>,
}

impl App {
    pub fn new(sdk: &keyguard_aws::SdkConfig, settings: Settings) -> Result<Self, String> {
        let sdk = &keyguard_aws::as_function(sdk, FUNCTION);
        let ledger = DynamoLedger::configured(sdk, &settings.common);
        let home = settings.detector.guard.me.account.clone();
        let memory = Memory::new(&ledger);
        let (security_hub, findings) = keyguard_aws::security_hub::configured(
            sdk,
            settings.security_hub,
            settings.detector.guard.me.account.as_ref(),
        )?
        .unzip();
        Ok(Self {
            effects: DetectorEffects {
                aws: AwsEffects {
                    exemptions: Some(keyguard_aws::Exemptions::new(&ledger, home)),
                    memory: Some(memory.clone()),
                    security_hub,
                    ..AwsEffects::configured(sdk, &settings.common)
                },
                webhooks: Webhooks::new(sdk, settings.detector.webhooks.clone(), settings.retry)?,
                invoker: handoff::Invoker::new(
                    sdk,
                    &settings.deactivate_function,
                    &settings.handoff_key,
                ),
            },
            ledger,
            memory,
            findings,
            settings,
        })
    }

    /// Channels whose secret still holds the shared stack's placeholder are left out of
    /// every plan, with a warning here and a fact (and an SNS notice) on every alert.
    pub async fn leave_out_placeholders(&mut self) {
        for channel in self.effects.webhooks.placeholders().await {
            tracing::warn!(
                function = FUNCTION,
                channel = channel.name(),
                "the webhook secret still holds the placeholder: this channel is left out until the real URL is put in and the function restarts"
            );
            self.settings.detector.leave_out(channel);
        }
    }

    /// The plan for one event, nothing applied: what `keyguard plan` shows. Nothing is
    /// written either: a launch is counted beside the memory's, not into it.
    pub async fn plan_at(&self, raw: &Value, now: Timestamp) -> Result<Plan, ParseError> {
        pipeline::plan_raw(&self.settings.detector, &Looking(self), raw, now).await
    }

    async fn lookup_at(
        &self,
        cfg: &DetectorConfig,
        target: &DetectorTarget,
        count: bool,
    ) -> Result<DetectorFacts, EffectError> {
        match target {
            DetectorTarget::Canaries { .. } => Ok(DetectorFacts::Canaries(self.canaries().await?)),
            DetectorTarget::Recall { ask, .. } => Ok(DetectorFacts::Recall(Box::new(
                self.memory
                    .recall(ask, cfg.correlation_minutes, count)
                    .await?,
            ))),
        }
    }
}

/// The function's reads without its one write (a launch counted): for a plan.
struct Looking<'a>(&'a App);

impl pipeline::Source<DetectorConfig> for Looking<'_> {
    async fn lookup(
        &self,
        cfg: &DetectorConfig,
        target: &DetectorTarget,
        _: Timestamp,
    ) -> Result<DetectorFacts, EffectError> {
        self.0.lookup_at(cfg, target, false).await
    }
}

/// The function's reads: what the memory holds for a CloudTrail record; every canary
/// key and the live alerts' windows on it, for the hourly check.
impl pipeline::Source<DetectorConfig> for App {
    async fn lookup(
        &self,
        cfg: &DetectorConfig,
        target: &DetectorTarget,
        _: Timestamp,
    ) -> Result<DetectorFacts, EffectError> {
        // A dry run reads and counts its launch beside the memory's, writing nothing.
        self.lookup_at(cfg, target, !self.settings.common.dry_run)
            .await
    }
}

impl App {
    /// Every canary key and the live alerts' windows on it.
    async fn canaries(&self) -> Result<CanaryFacts, EffectError> {
        let keys = self.effects.aws.iam.canaries().await?;
        let mut alerted_until = std::collections::BTreeMap::new();
        // Reported means reported on every channel: the earliest window of them, and none
        // if a channel's alert failed (its window freed) or never went.
        for key in keys.iter().filter(|k| k.last_used.is_some()) {
            let mut earliest: Option<Timestamp> = None;
            let mut everywhere = true;
            for item in canary_check::window_items(&self.settings.detector, key.key_id.as_str()) {
                match self.ledger.held_until(&item).await? {
                    Some(until) => earliest = Some(earliest.map_or(until, |e| e.min(until))),
                    None => everywhere = false,
                }
            }
            if let (true, Some(until)) = (everywhere, earliest) {
                alerted_until.insert(key.key_id.to_string(), until);
            }
        }
        Ok(CanaryFacts {
            keys,
            alerted_until,
        })
    }
}

impl keyguard_aws::lambda::ColdStart for App {
    type Settings = Settings;

    fn build(sdk: &keyguard_aws::SdkConfig, settings: Settings) -> Result<Self, String> {
        Self::new(sdk, settings)
    }

    fn wired(&self) -> Result<(), pipeline::Unwired> {
        let finding: &[&'static str] = match self.findings {
            Some(_) => &["import_finding"],
            None => &[],
        };
        pipeline::wired::<DetectorConfig, _>(&self.effects, finding)
    }

    async fn warm(&mut self) {
        self.leave_out_placeholders().await;
    }
}

impl keyguard_aws::lambda::Handler for App {
    /// One invocation at a given time (tests move the clock past a window with it).
    async fn handle_at(&self, raw: &Value, now: Timestamp) -> Report {
        // The hourly check may alert on many canaries: no step begins too near the end.
        let apply = Executor::new(&self.effects, &self.ledger, self.settings.common.dry_run)
            .until(keyguard_aws::lambda::deadline())
            .reporting(self.findings.as_ref());
        let report = apply.run(&self.settings.detector, self, raw, now).await;
        apply.with_finding(report, now).await
    }
}
