//! deactivate-key: contain the credential an event names.
//!
//! The pipeline (`keyguard_core::pipeline`) over containment's policy: parse → target
//! (the hand-off's MAC checked at the door) → IAM's facts → decide → apply through the
//! ledger → report. Then, for every key it contained, the sweep
//! (`containment::trail`): what the key did in the last `LOOKBACK_HOURS`, the keys it
//! created contained in the same run, the rest listed in a notice.
//! Every input, good or bad, ends in a [`Report`] with an HTTP-style `statusCode`; nothing
//! from outside can make the function panic.

use keyguard_aws::containing::{Containing, FollowUp};
use keyguard_aws::HandoffKey;
use keyguard_core::config::{self, Common, ConfigError, Env};
use keyguard_core::guard::HandoffCheck;
use keyguard_core::pipeline::{self, Source};
use keyguard_core::policy::containment::{self, ContainmentConfig, SelfIdentity, FUNCTION};
use keyguard_core::{EffectError, ParseError, Plan, Report, Timestamp, Trigger};
use serde_json::Value;

/// Configuration, read once at cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub common: Common,
    pub containment: ContainmentConfig,
    /// `HANDOFF_KEY_ID` (unset: every hand-off is refused): the KMS HMAC key whose MAC a
    /// hand-off must carry.
    pub handoff_key: Option<String>,
    /// `SECURITY_HUB` (default false): each run that acts, refuses, cannot contain or
    /// fails is one Security Hub finding.
    pub security_hub: bool,
}

/// Everything but the sweep and the finding, at most: the MAC check, the reads (the key,
/// its user, STS), the write, the revocation, the notice and the ledger's claims and
/// settles. These calls carry the SDK's retries but no operation timeout of their own:
/// this is an allowance, as the detector's is, not a bound.
const CALLS_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

impl config::FromEnv for Settings {
    fn from_env(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        Ok(Self {
            common: Common::from_env(env)?,
            containment: ContainmentConfig::deactivate_key_from_env(env, me)?,
            handoff_key: env.get("HANDOFF_KEY_ID").filter(|k| !k.trim().is_empty()),
            security_hub: keyguard_core::security_hub::enabled(env)?,
        })
    }
}

impl Settings {
    /// The longest one invocation can take, every budget spent
    /// ([`keyguard_aws::trail::containing_worst_case`]).
    pub fn worst_case(&self) -> std::time::Duration {
        keyguard_aws::trail::containing_worst_case(
            CALLS_BUDGET,
            &self.containment.sweep,
            self.security_hub,
        )
    }
}

/// Everything built once per cold start and reused by every invocation.
pub struct App {
    pub settings: Settings,
    /// The ledger, effects, sweep, key owners and findings every containing function has.
    pub containing: Containing,
    pub handoff_key: Option<HandoffKey>,
}

impl App {
    pub fn new(sdk: &keyguard_aws::SdkConfig, settings: Settings) -> Self {
        let sdk = &keyguard_aws::as_function(sdk, FUNCTION);
        Self {
            containing: Containing::new(
                sdk,
                FUNCTION,
                &settings.common,
                &settings.containment,
                settings.security_hub,
            ),
            handoff_key: settings
                .handoff_key
                .as_deref()
                .map(|k| HandoffKey::new(sdk, k)),
            settings,
        }
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
        if let Some(stale) = self.settings.containment.stale_handoff(trigger, now) {
            return Ok(Some(stale));
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

    /// The plan for one event, nothing applied: what `keyguard plan` shows.
    pub async fn plan_at(&self, raw: &Value, now: Timestamp) -> Result<Plan, ParseError> {
        pipeline::plan_raw(&self.settings.containment, self, raw, now).await
    }
}

/// The function's reads: the hand-off's MAC by KMS, the credentials by IAM.
impl Source<ContainmentConfig> for App {
    async fn door(
        &self,
        _: &ContainmentConfig,
        trigger: &Trigger,
        now: Timestamp,
    ) -> Result<Option<HandoffCheck>, String> {
        self.check_handoff(trigger, now).await
    }

    /// Each credential read in its own account: keyguard's through its own IAM, a
    /// member's (organisation mode) through the member role, and one the organisation
    /// does not have read not at all.
    async fn lookup(
        &self,
        cfg: &ContainmentConfig,
        target: &containment::Target,
        _: Timestamp,
    ) -> Result<Vec<containment::Facts>, EffectError> {
        containment::gather_each(&self.containing, cfg, target).await
    }
}

impl FollowUp for App {}

impl keyguard_aws::lambda::ColdStart for App {
    type Settings = Settings;

    fn build(sdk: &keyguard_aws::SdkConfig, settings: Settings) -> Result<Self, String> {
        keyguard_aws::containing::check(sdk, &settings.containment, settings.security_hub)?;
        Ok(Self::new(sdk, settings))
    }

    fn wired(&self) -> Result<(), pipeline::Unwired> {
        self.containing.wired::<ContainmentConfig>()
    }
}

impl keyguard_aws::lambda::Handler for App {
    /// One invocation at a given time (tests simulate Lambda's retries with it).
    async fn handle_at(&self, raw: &Value, now: Timestamp) -> Report {
        let cfg = &self.settings.containment;
        let dry_run = self.settings.common.dry_run;
        (self.containing)
            .handle(cfg, self, cfg, dry_run, FUNCTION, raw, now)
            .await
    }
}
