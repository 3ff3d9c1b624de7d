//! secrets-rotator: the rotation function for secrets that hold an IAM user's key, and
//! the scheduled sweep of retired and unused keys.
//!
//! A rotation step (Secrets Manager's `{Step, SecretId, ClientRequestToken}`): read the
//! secret's versions and the user's keys → `policy::rotation::decide_step` → apply
//! through the ledger. A refused or failed step makes the invocation fail, so Secrets
//! Manager stops the rotation there. A scheduled event: every user's keys and every
//! managed secret → `policy::sweep::decide_sweep` → apply.

use keyguard_aws::{AwsEffects, DynamoLedger, Secrets};
use keyguard_core::config::{self, Common, ConfigError, Env};
use keyguard_core::credential_report;
use keyguard_core::org_scan::{self, AccountScan};
use keyguard_core::organization::{Organization, SWEEP_MEMBER_ROLE};
use keyguard_core::pipeline::{self, Executor, Source};
use keyguard_core::policy::containment::{IamReader, SelfIdentity};
use keyguard_core::policy::policies::{RotatorFacts, RotatorTarget, SweepFacts};
use keyguard_core::policy::rotation::{self, RotatorConfig, FUNCTION};
use keyguard_core::policy::sweep;
use keyguard_core::{EffectError, ParseError, Plan, Report, Timestamp, UserName};
use serde_json::Value;
use std::time::Duration;

/// Configuration, read once at cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub common: Common,
    pub rotator: RotatorConfig,
    /// `TEST_ATTEMPTS` (default 10): tries of the pending key in `testSecret`.
    pub test_attempts: u32,
    /// `TEST_DELAY_SECONDS` (default 3): the wait between those tries.
    pub test_delay_seconds: u64,
    /// `REPORT_WAIT_SECONDS` (default 30): how long the sweep waits for the credential
    /// report before reading every user instead.
    pub report_wait_seconds: u64,
    /// `ACCOUNT_CONCURRENCY` (default 4): in organisation mode (`ORGANIZATION_MODE`,
    /// `MEMBER_ROLE_NAME`, `MEMBER_ACCOUNTS`, in the guard), accounts swept at once.
    pub account_concurrency: usize,
}

impl config::FromEnv for Settings {
    fn from_env(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        Ok(Self {
            common: Common::from_env(env)?,
            rotator: RotatorConfig::from_env(env, me)?
                .in_organization(Organization::from_env_or(env, SWEEP_MEMBER_ROLE)?),
            test_attempts: config::number(env, "TEST_ATTEMPTS", 10)?,
            test_delay_seconds: config::number(env, "TEST_DELAY_SECONDS", 3)?,
            report_wait_seconds: config::number(env, "REPORT_WAIT_SECONDS", 30)?,
            account_concurrency: config::number::<usize>(env, "ACCOUNT_CONCURRENCY", 4)?.max(1),
        })
    }
}

pub struct App {
    pub settings: Settings,
    pub ledger: DynamoLedger,
    pub effects: AwsEffects,
    /// Kept for the organisation mode, which assumes the member role in each account.
    pub sdk: keyguard_aws::SdkConfig,
}

impl App {
    pub fn new(sdk: &keyguard_aws::SdkConfig, settings: Settings) -> Self {
        // Every call bounded, so a step begun with STEP_MARGIN left ends before the
        // invocation does (claim, call and settle, each within CALL_LIMIT).
        let sdk = &keyguard_aws::bounded(
            &keyguard_aws::as_function(sdk, FUNCTION),
            keyguard_core::effects::CALL_LIMIT,
        );
        let secrets = Secrets::new(
            sdk,
            settings.test_attempts,
            Duration::from_secs(settings.test_delay_seconds),
        );
        Self {
            effects: AwsEffects {
                secrets: Some(secrets),
                ..AwsEffects::configured(sdk, &settings.common)
            },
            ledger: DynamoLedger::configured(sdk, &settings.common),
            sdk: sdk.clone(),
            settings,
        }
    }

    /// Steps applied through `effects` (an account's), beginning none too close to the
    /// invocation's end: the sweep can be long.
    fn executor<'a>(&'a self, effects: &'a AwsEffects) -> Executor<'a, AwsEffects, DynamoLedger> {
        Executor::new(effects, &self.ledger, self.settings.common.dry_run)
            .until(keyguard_aws::lambda::deadline())
    }

    /// The plan for one event, nothing applied: what `keyguard plan` shows.
    pub async fn plan_at(&self, raw: &Value, now: Timestamp) -> Result<Plan, ParseError> {
        pipeline::plan_raw(&self.settings.rotator, self, raw, now).await
    }

    async fn rotation_facts(
        &self,
        event: &keyguard_core::events::RotationEvent,
    ) -> Result<Option<rotation::SecretFacts>, EffectError> {
        let Some(secrets) = &self.effects.secrets else {
            return Ok(None);
        };
        let Some(mut facts) = secrets
            .rotation_facts(&event.secret_id, &event.client_request_token)
            .await?
        else {
            return Ok(None);
        };
        if let Some(user) = facts
            .user(&self.settings.rotator)
            .and_then(|u| UserName::parse(&u).ok())
        {
            let principal = keyguard_core::Principal::User(user.clone());
            let (keys, tags) = futures::future::try_join(
                self.effects.iam.user_keys(&user),
                self.effects.iam.tags(&principal),
            )
            .await?;
            facts.user_keys = keys.map(|k| k.keys);
            facts.user_tags = tags.unwrap_or_default();
            // Keys the secret does not hold might be deleted to make room: any keyguard
            // contained is evidence.
            let held = facts.current.as_ref().and_then(|c| c.key_id.clone());
            for (key, _) in facts.user_keys.iter().flatten() {
                if Some(key) != held.as_ref() {
                    if let Some(at) = self.ledger.deactivations(key).await?.contained_or_tried() {
                        facts.contained.insert(key.clone(), at);
                    }
                }
            }
        }
        Ok(Some(facts))
    }

    /// The managed secrets, then only the users the sweep can act on: the credential
    /// report's candidates for an unused key, and the users of secrets with a retired
    /// key; every user when the report cannot be had. A user who cannot be read is set
    /// apart, never the reason the sweep fails for everyone else.
    async fn sweep_facts(
        &self,
        iam: &keyguard_aws::Iam,
        with_secrets: bool,
        now: Timestamp,
    ) -> Result<SweepFacts, EffectError> {
        let mut secrets = match (&self.effects.secrets, with_secrets) {
            (Some(s), true) => s.managed(&self.settings.rotator.secret_user_tag).await?,
            _ => Vec::new(),
        };
        // Whether keyguard's own rotation retired each previous key, and whether keyguard
        // contained it: the sweep deletes only the first, and never the second.
        for secret in &mut secrets {
            if let Some(previous) = &secret.previous_key {
                let seen = self.ledger.deactivations(previous).await?;
                secret.previous_retired_at = seen.retired;
                secret.previous_contained_at = seen.contained_or_tried();
            }
        }
        let wait = Duration::from_secs(self.settings.report_wait_seconds);
        let unused_days = self.settings.rotator.unused_days;
        let (mut names, _) = iam
            .scan_names(FUNCTION, wait, |rows| {
                credential_report::unused_candidates(rows, unused_days, now)
            })
            .await?;
        let retiring = secrets
            .iter()
            .filter(|s| s.previous_retired_at.is_some())
            .map(|s| s.user.clone());
        for user in retiring {
            // IAM names ignore case: one read per user however the tag spells it.
            if !names
                .iter()
                .any(|n| keyguard_core::guard::same_name(n, &user))
            {
                names.push(user);
            }
        }
        let (users, unread) = iam.sweep_users(&names).await;
        Ok(SweepFacts {
            users,
            unread,
            secrets,
        })
    }
}

/// The function's reads: the secret's versions and its user's keys for a rotation step;
/// the managed secrets and the users the sweep can act on for the sweep.
impl Source<RotatorConfig> for App {
    async fn lookup(
        &self,
        _: &RotatorConfig,
        target: &RotatorTarget,
        now: Timestamp,
    ) -> Result<RotatorFacts, EffectError> {
        match target {
            RotatorTarget::Step { event, .. } => Ok(RotatorFacts::Step(
                self.rotation_facts(event).await?.map(Box::new),
            )),
            RotatorTarget::Sweep { event_ref } => {
                let facts = self.sweep_facts(&self.effects.iam, true, now).await?;
                tracing::info!(function = FUNCTION, event_id = %event_ref,
                    users = facts.users.len(), unread = facts.unread.len(),
                    secrets = facts.secrets.len(), "facts read");
                Ok(RotatorFacts::Sweep(facts))
            }
        }
    }
}

/// Organisation mode: the sweep in every ACTIVE account of the organisation.
impl App {
    /// The event's reference, when it is a sweep this function runs (a schedule it
    /// trusts); anything else goes the single-account way, refused or ignored there.
    fn sweep_of(&self, raw: &Value) -> Option<String> {
        let trigger = keyguard_core::parse_value(raw).ok()?;
        let event_ref = keyguard_core::event_ref(&trigger, raw);
        match pipeline::Policy::target(&self.settings.rotator, &trigger, &event_ref, &()) {
            Ok(RotatorTarget::Sweep { event_ref }) => Some(event_ref),
            _ => None,
        }
    }

    /// Every ACTIVE account, `ACCOUNT_CONCURRENCY` at a time: this one with its managed
    /// secrets, each member (in `MEMBER_ACCOUNTS`, when set) for its unused keys, through
    /// the member role there. One account's failure is named and does not stop the
    /// others; an account the role cannot be assumed in is alerted once, never retried.
    async fn sweep_organization(
        &self,
        org: &Organization,
        event_ref: &str,
        now: Timestamp,
    ) -> Report {
        let dry_run = self.settings.common.dry_run;
        let own = self.settings.rotator.guard.me.account.as_ref();
        let mut results = keyguard_aws::accounts::each_account(
            &self.sdk,
            own.map(keyguard_core::AccountId::as_str),
            (
                self.settings.account_concurrency,
                keyguard_aws::accounts::day_of_year(now),
            ),
            |account, is_own| async move {
                self.sweep_account(org, &account, is_own, event_ref, now)
                    .await
            },
        )
        .await;
        let unassumable = keyguard_aws::accounts::unassumable(&results);
        if !unassumable.is_empty() {
            let plan = org_scan::unassumable_notices(
                FUNCTION,
                event_ref,
                &org.member_role,
                "deploy the member StackSet there (make deploy-members), or leave the account out with MEMBER_ACCOUNTS",
                &unassumable,
            );
            let notices = self
                .executor(&self.effects)
                .apply(&self.settings.rotator, plan, now)
                .await;
            results.push(("organization".into(), AccountScan::Scanned(notices)));
        }
        org_scan::combine(
            FUNCTION,
            event_ref,
            dry_run,
            results,
            "no key unused or retired past its grace in any account",
        )
    }

    async fn sweep_account(
        &self,
        org: &Organization,
        account: &str,
        is_own: bool,
        event_ref: &str,
        now: Timestamp,
    ) -> AccountScan {
        let Ok(id) = keyguard_core::AccountId::parse(account) else {
            return AccountScan::Outside(format!("{account:?} is no account id"));
        };
        if let Some(why) = org.refuses(&id).filter(|_| !is_own) {
            return AccountScan::Outside(why);
        }
        let iam = match keyguard_aws::accounts::scanning_iam(
            &self.sdk,
            &self.effects.iam,
            (account, is_own),
            &org.member_role,
            FUNCTION,
        )
        .await
        {
            Ok(iam) => iam,
            Err(scan) => return scan,
        };
        // The managed secrets are this account's: a member's are rotated by a rotation
        // function of its own, if any.
        let facts = match self.sweep_facts(&iam, is_own, now).await {
            Ok(facts) => facts,
            Err(e) => return AccountScan::Failed(format!("reading keys: {e}")),
        };
        tracing::info!(
            function = FUNCTION,
            account,
            users = facts.users.len(),
            unread = facts.unread.len(),
            secrets = facts.secrets.len(),
            "facts read"
        );
        let mut plan = sweep::decide_sweep_in(
            Some(&id),
            &format!("{event_ref}:{account}"),
            &self.settings.rotator,
            &facts.users,
            &facts.secrets,
            now,
        );
        plan.unread = facts.unread;
        let effects = AwsEffects {
            iam,
            ..AwsEffects::iam_only(self.effects.iam.clone(), self.effects.notifier.clone())
        };
        let report = self
            .executor(&effects)
            .apply(&self.settings.rotator, plan, now)
            .await;
        AccountScan::Scanned(report)
    }
}

impl keyguard_aws::lambda::ColdStart for App {
    type Settings = Settings;

    fn build(sdk: &keyguard_aws::SdkConfig, settings: Settings) -> Result<Self, String> {
        Ok(Self::new(sdk, settings))
    }

    fn wired(&self) -> Result<(), pipeline::Unwired> {
        pipeline::wired::<RotatorConfig, _>(&self.effects, &[])
    }
}

impl keyguard_aws::lambda::Handler for App {
    async fn handle_at(&self, raw: &Value, now: Timestamp) -> Report {
        if let Some(org) = &self.settings.rotator.guard.organization {
            if let Some(event_ref) = self.sweep_of(raw) {
                return self.sweep_organization(org, &event_ref, now).await;
            }
        }
        self.executor(&self.effects)
            .run(&self.settings.rotator, self, raw, now)
            .await
    }

    /// Secrets Manager sees only success or failure: a rotation step that did not
    /// complete (refused as well as failed) must fail the invocation, or the rotation
    /// would carry on past it. A sweep fails only when something failed.
    fn fails(&self, event: &Value, report: &Report) -> bool {
        let floor = if event.get("Step").is_some() {
            400
        } else {
            500
        };
        report.status_code >= floor
    }
}
