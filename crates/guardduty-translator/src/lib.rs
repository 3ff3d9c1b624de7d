//! guardduty-translator: a GuardDuty finding on an access key becomes the rotation
//! runbook, an Incident Manager incident and a notice, at most once per principal within
//! the window.
//!
//! The pipeline (`keyguard_core::pipeline`) over the translator's policy: parse → target
//! → IAM's facts (deactivate-key's own reads) → decide → apply through the ledger (with
//! its windows) → report. The decisions are in `keyguard_core::policy::translator`.

use keyguard_aws::containing::{Containing, FollowUp};
use keyguard_aws::{AwsEffects, DynamoLedger, Incidents, Runbooks};
use keyguard_core::config::{self, Common, ConfigError, Env};
use keyguard_core::pipeline::{self, Executor, Source};
use keyguard_core::policy::containment::{self, InAccount, SelfIdentity};
use keyguard_core::policy::translator::timeline::IncidentAt;
use keyguard_core::policy::translator::{self, TranslatorConfig, FUNCTION};
use keyguard_core::{EffectError, ParseError, Plan, Report, Timestamp};
use serde_json::Value;

/// Configuration, read once at cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub common: Common,
    pub translator: TranslatorConfig,
    /// `SECURITY_HUB` (default false): each finding keyguard acts on, refuses or fails
    /// on becomes one Security Hub finding of its own, naming what keyguard did.
    pub security_hub: bool,
}

/// Everything but the sweep and the finding, at most: the reads, the write, the
/// revocation, the runbook's start, the incident and its timeline, the notice and the
/// ledger's claims and settles. These calls carry the SDK's retries but no operation
/// timeout of their own: this is an allowance, as the detector's is, not a bound.
const CALLS_BUDGET: std::time::Duration = std::time::Duration::from_secs(25);

impl config::FromEnv for Settings {
    fn from_env(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        Ok(Self {
            common: Common::from_env(env)?,
            translator: TranslatorConfig::from_env(env, me)?,
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
            &self.translator.containment.sweep,
            self.security_hub,
        )
    }
}

/// Everything built once per cold start and reused by every invocation.
pub struct App {
    pub settings: Settings,
    /// deactivate-key's set, with the runbook and incidents added to its effects.
    pub containing: Containing,
}

impl App {
    pub fn new(sdk: &keyguard_aws::SdkConfig, settings: Settings) -> Self {
        let sdk = &keyguard_aws::as_function(sdk, FUNCTION);
        let mut containing = Containing::new(
            sdk,
            FUNCTION,
            &settings.common,
            &settings.translator.containment,
            settings.security_hub,
        );
        containing.effects.runbooks =
            Some(Runbooks::new(sdk, settings.common.notice_topic_arn.clone()));
        containing.effects.incidents = Some(Incidents::new(sdk));
        Self {
            containing,
            settings,
        }
    }

    /// The sweep's list put on the incident, which was opened before the sweep. An
    /// incident opened earlier is read back from its ledger row; a ledger that cannot be
    /// read fails the run (Lambda's retry finds everything else done), and an incident
    /// keyguard cannot find is said in the log, the list being in the sweep's notice.
    async fn onto_incident(
        &self,
        apply: &Executor<'_, AwsEffects, DynamoLedger>,
        report: Report,
        now: Timestamp,
    ) -> Report {
        let listed = report
            .steps
            .iter()
            .any(|r| containment::trail::is_listing(&r.step));
        let at = translator::timeline::incident(&report);
        let arn = match (listed, at) {
            (false, _) | (true, None) => return report,
            (true, Some(IncidentAt::Opened(arn))) => arn,
            (true, Some(IncidentAt::Recorded(rows))) => match self.recorded_incident(&rows).await {
                Ok(Some(arn)) => arn,
                Ok(None) => {
                    tracing::warn!(
                        ledger_rows = ?rows,
                        "the incident opened earlier is not in the ledger: the sweep's list is in its notice only"
                    );
                    return report;
                }
                Err(why) => return report.failed_also(why),
            },
        };
        let plan = translator::timeline::plan(&report, &arn, now);
        let more = apply.apply(&self.settings.translator, plan, now).await;
        report.followed_by(more)
    }

    /// The incident an earlier step opened, from the first of `rows` that names one.
    /// A row still claimed (the step holding the window may be opening it now) fails the
    /// run, so Lambda's retry finds it settled.
    async fn recorded_incident(&self, rows: &[String]) -> Result<Option<String>, String> {
        use keyguard_aws::ledger::RowOutcome;
        for row in rows {
            match self.containing.ledger.outcome_of(row).await {
                Ok(RowOutcome::Settled(o)) => {
                    if let Some(arn) = translator::timeline::arn_in_ledger_outcome(&o) {
                        return Ok(Some(arn));
                    }
                }
                Ok(RowOutcome::Missing) => {}
                Ok(RowOutcome::Unsettled) => {
                    return Err(format!(
                        "the incident step {row} has not recorded its incident yet: the sweep's list waits for the retry"
                    ))
                }
                Err(e) => {
                    return Err(format!(
                        "reading the incident opened earlier from the ledger, to add the sweep's list: {e}"
                    ))
                }
            }
        }
        Ok(None)
    }

    /// The plan for one event, nothing applied: what `keyguard plan` shows.
    pub async fn plan_at(&self, raw: &Value, now: Timestamp) -> Result<Plan, ParseError> {
        pipeline::plan_raw(&self.settings.translator, self, raw, now).await
    }
}

/// The function's reads: deactivate-key's, for the finding's credential.
impl Source<TranslatorConfig> for App {
    async fn lookup(
        &self,
        cfg: &TranslatorConfig,
        target: &translator::Target,
        _: Timestamp,
    ) -> Result<containment::Facts, EffectError> {
        self.containing
            .gather_in_account(
                &cfg.containment,
                &target.credential(),
                &target.lookup(),
                &target.event_ref,
            )
            .await
    }
}

impl FollowUp for App {
    async fn follow_up(
        &self,
        apply: &Executor<'_, AwsEffects, DynamoLedger>,
        report: Report,
        now: Timestamp,
    ) -> Report {
        self.onto_incident(apply, report, now).await
    }
}

impl keyguard_aws::lambda::ColdStart for App {
    type Settings = Settings;

    fn build(sdk: &keyguard_aws::SdkConfig, settings: Settings) -> Result<Self, String> {
        keyguard_aws::containing::check(
            sdk,
            &settings.translator.containment,
            settings.security_hub,
        )?;
        Ok(Self::new(sdk, settings))
    }

    fn wired(&self) -> Result<(), pipeline::Unwired> {
        self.containing.wired::<TranslatorConfig>()
    }
}

impl keyguard_aws::lambda::Handler for App {
    /// One invocation at a given time: the window is measured from `now`. The key it
    /// contains is swept as deactivate-key sweeps one (`containment::trail`).
    async fn handle_at(&self, raw: &Value, now: Timestamp) -> Report {
        let cfg = &self.settings.translator;
        let dry_run = self.settings.common.dry_run;
        (self.containing)
            .handle(cfg, self, &cfg.containment, dry_run, FUNCTION, raw, now)
            .await
    }
}
