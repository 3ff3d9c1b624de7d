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
use keyguard_core::policy::containment::ContainmentConfig;
use keyguard_core::security_hub::Findings;

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
