//! What a function that contains a credential builds once per cold start: the ledger, the
//! effects (IAM reading keyguard's record of who set exemption tags, the member accounts
//! in organisation mode, Security Hub), the history sweep, whose a key is, and where
//! findings go. deactivate-key and guardduty-translator each add their own (a hand-off
//! key; the runbook and incidents) to this one set, so the two cannot drift apart.

use crate::accounts::KeyOwners;
use crate::members::Members;
use crate::trail::Trail;
use crate::{AwsEffects, DynamoLedger, Exemptions};
use keyguard_core::config::Common;
use keyguard_core::pipeline::{self, Executor, Policy, Source};
use keyguard_core::policy::containment::{self, ContainmentConfig};
use keyguard_core::security_hub::Findings;
use keyguard_core::{EffectError, Report, Timestamp};
use std::future::Future;

pub struct Containing {
    pub ledger: DynamoLedger,
    pub effects: AwsEffects,
    pub trail: Trail,
    /// Whose a key is, when an event names two accounts for it.
    pub owners: KeyOwners,
    /// Where each run's Security Hub finding goes (`SECURITY_HUB=true`).
    pub findings: Option<Findings>,
}

impl Containing {
    /// Built over `sdk`, which already names the function ([`crate::as_function`]).
    /// Security Hub on but with no Region or account to report to makes no finding here:
    /// the cold start refuses that first ([`check`]).
    pub fn new(
        sdk: &aws_config::SdkConfig,
        function: &str,
        common: &Common,
        containment: &ContainmentConfig,
        security_hub: bool,
    ) -> Self {
        let ledger = DynamoLedger::configured(sdk, common);
        let mut effects = AwsEffects::configured(sdk, common);
        let home = containment.guard.me.account.clone();
        effects.iam = effects
            .iam
            .with_exemptions(Exemptions::new(&ledger, home.clone()));
        // Organisation mode: a member's credential read and contained through the member
        // role there.
        effects.members = Members::configured(sdk, &containment.guard, function, &ledger);
        let hub = crate::security_hub::configured(sdk, security_hub, home.as_ref());
        let (security_hub, findings) = hub.ok().flatten().unzip();
        effects.security_hub = security_hub;
        Self {
            trail: Trail::new(sdk, &containment.sweep.regions),
            owners: KeyOwners::new(sdk),
            ledger,
            effects,
            findings,
        }
    }
}

impl Containing {
    /// Whether these effects can carry out everything policy `P` plans, and the run's
    /// finding when Security Hub is on: asked at cold start.
    pub fn wired<P: Policy>(&self) -> Result<(), pipeline::Unwired> {
        let finding: &[&'static str] = match self.findings {
            Some(_) => &["import_finding"],
            None => &[],
        };
        pipeline::wired::<P, _>(&self.effects, finding)
    }
}

/// What a containing function adds to a run once its plan is applied and its keys swept,
/// before the run's finding: nothing by default; the translator puts the sweep's list on
/// its incident.
pub trait FollowUp {
    fn follow_up(
        &self,
        apply: &Executor<'_, AwsEffects, DynamoLedger>,
        report: Report,
        now: Timestamp,
    ) -> impl Future<Output = Report> {
        let _ = (apply, now);
        std::future::ready(report)
    }
}

impl Containing {
    /// One invocation: the event planned through `source`, applied (beginning no step
    /// too near the deadline, where a step cut off by the timeout would be neither done
    /// nor reported), each contained key swept in its own account, `source`'s follow-up,
    /// then the run's finding. An event that is not one ends as invalid, with no finding.
    #[allow(clippy::too_many_arguments)]
    pub async fn handle<P, S>(
        &self,
        policy: &P,
        source: &S,
        cfg: &ContainmentConfig,
        dry_run: bool,
        function: &str,
        raw: &serde_json::Value,
        now: Timestamp,
    ) -> Report
    where
        P: Policy,
        S: Source<P> + FollowUp,
    {
        let apply = Executor::new(&self.effects, &self.ledger, dry_run)
            .until(crate::lambda::deadline())
            .reporting(self.findings.as_ref());
        let plan = match pipeline::plan_raw(policy, source, raw, now).await {
            Ok(plan) => plan,
            Err(e) => return Report::invalid(function, dry_run, e),
        };
        let report = crate::members::apply_and_sweep_where(
            &apply,
            policy,
            plan,
            cfg,
            (&self.trail, &self.effects.iam),
            self.effects.members.as_deref(),
            function,
            now,
        )
        .await;
        let report = source.follow_up(&apply, report, now).await;
        apply.with_finding(report, now).await
    }
}

/// One credential's facts, read in its own account
/// ([`crate::members::gather_in_account`]).
impl containment::InAccount for Containing {
    async fn gather_in_account(
        &self,
        cfg: &ContainmentConfig,
        credential: &containment::Credential,
        lookup: &containment::Lookup,
        event: &str,
    ) -> Result<containment::Facts, EffectError> {
        crate::members::gather_in_account(
            self.effects.members.as_deref(),
            (&self.effects.iam, &self.owners),
            (credential, lookup),
            event,
            cfg,
        )
        .await
    }
}

/// Cold start: Security Hub on with no Region or account to report to stops the function
/// here, naming why, rather than let it run without telling Security Hub.
pub fn check(
    sdk: &aws_config::SdkConfig,
    containment: &ContainmentConfig,
    security_hub: bool,
) -> Result<(), String> {
    crate::security_hub::configured(sdk, security_hub, containment.guard.me.account.as_ref())
        .map(|_| ())
}
