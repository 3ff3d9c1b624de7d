//! age-rotation: the daily key-age scan.
//!
//! Scheduled event → the credential report (one call for the account) → keys and tags of
//! the users it points at, and when keyguard deactivated their old keys (the ledger) →
//! `policy::age::decide_scan` → apply through the ledger → report. Without a report (it
//! cannot be generated in time, or read), every user is read page by page instead.

use keyguard_aws::{AwsEffects, DynamoLedger, Iam, Mailer};
use keyguard_core::config::{self, Common, ConfigError, Env};
use keyguard_core::pipeline::{self, Executor};
use keyguard_core::policy::age::{self, AgeConfig, Person, Unread, FUNCTION};
use keyguard_core::policy::containment::{KeyStatus, SelfIdentity};
use keyguard_core::policy::policies::{Scan, ScanTarget};
use keyguard_core::{credential_report, EffectError, ParseError, Plan, Report, Timestamp};
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
    /// `ORGANIZATION_MODE` (default false): scan every ACTIVE account of the organisation.
    pub organization_mode: bool,
    /// `MEMBER_ROLE_NAME` (default `keyguard-age-rotation-member`): the role assumed in
    /// each member account (infra/ ships it as a stack set).
    pub member_role_name: String,
    /// `ACCOUNT_CONCURRENCY` (default 4): accounts scanned at once (in one invocation,
    /// or of one SQS batch).
    pub account_concurrency: usize,
    /// `ACCOUNT_QUEUE_URL` (unset: every account in one invocation): in organisation
    /// mode, the schedule sends one message per account to this queue, and the function,
    /// triggered by it, scans one account per message.
    pub account_queue_url: Option<String>,
    /// `MAX_RECEIVES` (default 3, as the queue's redrive policy's `maxReceiveCount`): on
    /// its last delivery a failing account's line goes into the organisation summary.
    pub max_receives: u32,
    /// `APPLY_CONCURRENCY` (default 1, at most 64): people whose steps are applied at
    /// once (each person's in order: the email before the key action). Not 8 by default:
    /// eight people at a time can offer SES more emails a second than an account's
    /// sending rate takes (docs/age-rotation.md), and nothing here paces them yet.
    pub apply_concurrency: usize,
}

fn apply_concurrency(env: &impl Env) -> Result<usize, ConfigError> {
    let n = config::number::<usize>(env, "APPLY_CONCURRENCY", 1)?;
    if !(1..=64).contains(&n) {
        return Err(ConfigError {
            variable: "APPLY_CONCURRENCY".into(),
            message: format!("from 1 to 64, got {n}"),
        });
    }
    Ok(n)
}

impl config::FromEnv for Settings {
    fn from_env(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        let mut settings = Self::read(env, me)?;
        if settings.organization_mode {
            // The guard reads each member as containment does: only this function's member
            // role is keyguard's own there, and EXEMPT_USERS holds as ACCOUNT:NAME.
            settings.age.guard.organization = Some(keyguard_core::organization::Organization {
                member_role: settings.member_role_name.clone(),
                allowed: None,
            });
        }
        Ok(settings)
    }
}

impl Settings {
    fn read(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        Ok(Self {
            common: Common::from_env(env)?,
            age: AgeConfig::from_env(env, me)?,
            report_wait_seconds: config::number(env, "REPORT_WAIT_SECONDS", 60)?,
            organization_mode: config::flag(env, "ORGANIZATION_MODE", false)?,
            member_role_name: config::string(
                env,
                "MEMBER_ROLE_NAME",
                "keyguard-age-rotation-member",
            ),
            account_concurrency: config::number::<usize>(env, "ACCOUNT_CONCURRENCY", 4)?.max(1),
            account_queue_url: env
                .get("ACCOUNT_QUEUE_URL")
                .filter(|u| !u.trim().is_empty()),
            max_receives: config::number::<u32>(env, "MAX_RECEIVES", 3)?.max(1),
            apply_concurrency: apply_concurrency(env)?,
        })
    }
}

pub struct App {
    pub settings: Settings,
    /// Kept for the organisation mode, which builds clients per account.
    pub sdk: keyguard_aws::SdkConfig,
    pub ledger: DynamoLedger,
    pub effects: AwsEffects,
    /// The SQS fan-out, when `ACCOUNT_QUEUE_URL` is set.
    pub fanout: Option<keyguard_aws::fanout::FanOut>,
}

pub use keyguard_aws::users::Source;

impl App {
    pub fn new(sdk: &keyguard_aws::SdkConfig, settings: Settings) -> Self {
        // Every call bounded, so a step begun with STEP_MARGIN left ends before the
        // invocation does (claim, call and settle, each within CALL_LIMIT).
        let sdk = &keyguard_aws::bounded(
            &keyguard_aws::as_function(sdk, FUNCTION),
            keyguard_core::effects::CALL_LIMIT,
        );
        let ledger = DynamoLedger::configured(sdk, &settings.common);
        Self {
            effects: AwsEffects {
                mailer: Some(Mailer::new(sdk)),
                ..AwsEffects::configured(sdk, &settings.common)
            },
            fanout: settings
                .account_queue_url
                .as_deref()
                .map(|url| keyguard_aws::fanout::FanOut::new(sdk, url, &ledger)),
            ledger,
            sdk: sdk.clone(),
            settings,
        }
    }

    /// The plan for one event in this account, nothing applied: what `keyguard plan`
    /// shows.
    pub async fn plan_at(&self, raw: &Value, now: Timestamp) -> Result<Plan, ParseError> {
        pipeline::plan_raw(&self.settings.age, self, raw, now).await
    }

    /// Steps applied through `effects` (an account's), beginning none too close to the
    /// invocation's end.
    fn executor<'a>(&'a self, effects: &'a AwsEffects) -> Executor<'a, AwsEffects, DynamoLedger> {
        Executor::new(effects, &self.ledger, self.settings.common.dry_run)
            .until(keyguard_aws::lambda::deadline())
            .concurrently(self.settings.apply_concurrency)
    }

    /// The people to scan: the report's candidates, else everyone; then, for their old
    /// Inactive keys, when keyguard deactivated them. Only when no one can be listed is
    /// this an error; a user who cannot be read is set apart in [`Scan::unread`].
    pub async fn scan_facts(
        &self,
        iam: &Iam,
        now: Timestamp,
    ) -> Result<(Scan, Source), EffectError> {
        self.scan_facts_watched(iam, now, &Unwatched).await
    }

    /// [`App::scan_facts`], telling `watch` how the reads go.
    pub async fn scan_facts_watched(
        &self,
        iam: &Iam,
        now: Timestamp,
        watch: &dyn Watch,
    ) -> Result<(Scan, Source), EffectError> {
        let cfg = &self.settings.age;
        let wait = Duration::from_secs(self.settings.report_wait_seconds);
        let (names, source) = iam
            .scan_names(FUNCTION, wait, |rows| {
                credential_report::candidates(rows, cfg.warn_days, now)
            })
            .await?;
        watch.listed(names.len());
        let (read, mut unread) = iam.people_watched(&names, &|| watch.read_one()).await;
        let mut people = Vec::with_capacity(read.len());
        for mut person in read {
            match self.deactivations(&mut person, now).await {
                Ok(()) => people.push(person),
                // Without it, a key keyguard deactivated an hour ago would look
                // deletable: leave the whole person for the next run instead.
                Err(e) => unread.push(Unread {
                    user: person.user,
                    why: format!("reading the ledger: {e}"),
                }),
            }
        }
        Ok((Scan { people, unread }, source))
    }

    /// When keyguard (any function) last deactivated, and last contained, each of the
    /// person's keys old enough to be deactivated: an Active one keyguard deactivated was
    /// re-activated since; an Inactive one waits out its grace, or its retention as
    /// evidence. One read per key, plus age-rotation's own rows for keys old enough to
    /// delete (rows written before the per-key record existed).
    async fn deactivations(&self, person: &mut Person, now: Timestamp) -> Result<(), EffectError> {
        let deactivate_days = i64::from(self.settings.age.deactivate_days);
        let delete_days = i64::from(self.settings.age.delete_days);
        for key in person.keys.iter_mut() {
            let age = (now - key.created).num_days();
            if age < deactivate_days {
                continue;
            }
            let seen = self.ledger.deactivations(&key.key_id).await?;
            let latest = |a: Option<Timestamp>, b: Option<Timestamp>| a.max(b);
            let deactivated = match key.status {
                KeyStatus::Inactive => seen.last_or_tried(),
                _ => seen.last,
            };
            key.deactivated_at = latest(key.deactivated_at, deactivated);
            key.contained_at = latest(key.contained_at, seen.contained_or_tried());
            if key.status == KeyStatus::Inactive && age >= delete_days {
                for ledger_key in age::deactivation_keys(&key.key_id) {
                    let at = self.ledger.done_at(&ledger_key).await?;
                    key.deactivated_at = latest(key.deactivated_at, at);
                }
            }
        }
        Ok(())
    }
}

/// Told how a scan's reads go: `keyguard scan`'s progress bar. The function tells no one.
pub trait Watch: Sync {
    /// The users to read are known (after the credential report, or the listing).
    fn listed(&self, users: usize) {
        let _ = users;
    }
    /// One more user read (or set apart).
    fn read_one(&self) {}
}

/// A scan nobody watches.
pub struct Unwatched;

impl Watch for Unwatched {}

/// The function's reads for this account's scan.
impl keyguard_core::Source<AgeConfig> for App {
    async fn lookup(
        &self,
        _: &AgeConfig,
        target: &ScanTarget,
        now: Timestamp,
    ) -> Result<Scan, EffectError> {
        let (scan, source) = self.scan_facts(&self.effects.iam, now).await?;
        tracing::info!(function = FUNCTION, event_id = %target.event_ref, ?source,
            users = scan.people.len(), unread = scan.unread.len(), "facts read");
        Ok(scan)
    }
}

impl App {
    /// Every ACTIVE account, `ACCOUNT_CONCURRENCY` at a time, each through its member
    /// role (this account through its own credentials). One account's failure is named
    /// in the report and does not stop the others.
    async fn scan_organization(&self, event_ref: &str, now: Timestamp) -> Report {
        let dry_run = self.settings.common.dry_run;
        let own = self.settings.age.guard.me.account.as_ref();
        let mut results =
            keyguard_aws::accounts::each_account(
                &self.sdk,
                own.map(keyguard_core::AccountId::as_str),
                (
                    self.settings.account_concurrency,
                    keyguard_aws::accounts::day_of_year(now),
                ),
                |account, is_own| async move {
                    self.scan_account(&account, is_own, event_ref, now).await
                },
            )
            .await;
        // Accounts the member role cannot be assumed in: alerted once each, and the run
        // does not fail for them (a retry would change nothing, and re-scan the rest).
        let unassumable = keyguard_aws::accounts::unassumable(&results);
        if !unassumable.is_empty() {
            let role = &self.settings.member_role_name;
            let plan = age::unassumable_notices(event_ref, role, &unassumable);
            let notices =
                keyguard_core::execute(plan, &self.effects, &self.ledger, dry_run, now).await;
            results.push(("organization".into(), age::AccountScan::Scanned(notices)));
        }
        age::combine(event_ref, dry_run, results)
    }

    async fn scan_account(
        &self,
        account: &str,
        is_own: bool,
        event_ref: &str,
        now: Timestamp,
    ) -> age::AccountScan {
        let iam = match keyguard_aws::accounts::scanning_iam(
            &self.sdk,
            &self.effects.iam,
            (account, is_own),
            &self.settings.member_role_name,
            FUNCTION,
        )
        .await
        {
            Ok(iam) => iam,
            Err(scan) => return scan,
        };
        let (scan, source) = match self.scan_facts(&iam, now).await {
            Ok(read) => read,
            Err(e) => return age::AccountScan::Failed(format!("reading keys: {e}")),
        };
        tracing::info!(
            function = FUNCTION,
            account,
            ?source,
            users = scan.people.len(),
            unread = scan.unread.len(),
            "facts read"
        );
        let mut plan = age::decide_scan_in(
            Some(account),
            &format!("{event_ref}:{account}"),
            &self.settings.age,
            &scan.people,
            now,
        );
        let effects = AwsEffects {
            iam,
            notifier: self.effects.notifier.clone(),
            mailer: self.effects.mailer.clone(),
            ..AwsEffects::iam_only(self.effects.iam.clone(), None)
        };
        plan.unread = scan.unread;
        let report = self
            .executor(&effects)
            .apply(&self.settings.age, plan, now)
            .await;
        age::AccountScan::Scanned(report)
    }
}

/// The SQS fan-out: the schedule's dispatch, and a batch of account messages.
impl App {
    /// Lists the organisation's ACTIVE accounts and sends one message per account; then
    /// the previous scan's summary, if it never sent its own.
    async fn dispatch(
        &self,
        fanout: &keyguard_aws::fanout::FanOut,
        scan: &str,
        now: Timestamp,
    ) -> Report {
        let dry_run = self.settings.common.dry_run;
        let failed = |why: String| {
            age::combine(
                scan,
                dry_run,
                vec![("organization".into(), age::AccountScan::Failed(why))],
            )
        };
        let accounts = match keyguard_aws::accounts::list(&self.sdk).await {
            Ok(a) => a,
            Err(e) => return failed(format!("listing the organisation's accounts: {e}")),
        };
        let ids: Vec<keyguard_core::AccountId> = accounts
            .iter()
            .filter_map(|a| keyguard_core::AccountId::parse(&a.id).ok())
            .collect();
        if let Err(e) = fanout.dispatch(scan, &ids).await {
            return failed(format!("sending the accounts to the scan queue: {e}"));
        }
        tracing::info!(
            function = FUNCTION,
            scan,
            accounts = ids.len(),
            "accounts sent to the scan queue"
        );
        // An account whose every delivery timed out reached the dead letters with no line,
        // so its scan never completed and never told its summary: the next scan sends it,
        // once (the summary's ledger key is the scan's). It is tried once: a late summary
        // that fails is logged and counted, never a reason to fail this schedule (whose
        // retry would send every account's message again). A dry run looks back on
        // nothing and names nothing, so no dry scan is ever summarised for real.
        let late = if dry_run {
            None
        } else {
            let late = self.late_summary(fanout, scan, now).await;
            if let Err(e) = fanout.mark_latest(scan, now.timestamp()).await {
                tracing::error!(function = FUNCTION, scan, error = %e, "could not name this scan the latest: the next scan will not look back on it");
            }
            late
        };
        let why = format!(
            "{} accounts sent to the scan queue (ACCOUNT_QUEUE_URL): each is scanned by its own message",
            ids.len()
        );
        let sent = Report::new(
            Plan::for_event(
                FUNCTION,
                keyguard_core::Decision::NothingToDo { why },
                scan.to_owned(),
            ),
            dry_run,
            Vec::new(),
        );
        match late {
            // Its steps are shown as they stand, failed ones included, but do not fail
            // the schedule.
            Some(late) => sent.alongside(late),
            None => sent,
        }
    }

    /// The previous scan's summary, when it never sent its own
    /// ([`keyguard_aws::fanout::FanOut::late`]).
    async fn late_summary(
        &self,
        fanout: &keyguard_aws::fanout::FanOut,
        scan: &str,
        now: Timestamp,
    ) -> Option<Report> {
        match fanout.late(scan, now.timestamp()).await {
            Ok(Some((previous, lines))) => {
                tracing::info!(
                    function = FUNCTION,
                    scan = previous.as_str(),
                    "looking back on the previous scan: its summary, unless it was sent"
                );
                let plan = age::fanout::org_summary(&previous, &lines);
                Some(
                    self.executor(&self.effects)
                        .apply(&self.settings.age, plan, now)
                        .await,
                )
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(function = FUNCTION, scan, error = %e, "could not read the previous scan's fan-in: its summary, if it was never sent, is not sent");
                None
            }
        }
    }

    /// One account per message, `ACCOUNT_CONCURRENCY` at a time. A message whose account
    /// failed is delivered again (`batchItemFailures`), the others are done; a message
    /// that cannot be read, or names an account the organisation does not have, is
    /// dropped with its reason (a retry would change nothing).
    async fn scan_batch(&self, items: Vec<age::fanout::Item>, now: Timestamp) -> Report {
        use futures::stream::{self, StreamExt};
        let dry_run = self.settings.common.dry_run;
        let own = self
            .settings
            .age
            .guard
            .me
            .account
            .as_ref()
            .map(|a| a.to_string());
        let mut again = Vec::new();
        let mut dropped = Vec::new();
        let mut scans = Vec::new();
        let mut work = Vec::new();
        for item in items {
            match item.message {
                Ok(m) => work.push((item.message_id, item.receives, m)),
                Err(why) => dropped.push(format!("message {}: {why}", item.message_id)),
            }
        }
        let done = stream::iter(work)
            .map(|(id, receives, m)| {
                let own = own.as_deref();
                async move {
                    let scan = self.scan_message(&m, own, now).await;
                    (id, receives, m, scan)
                }
            })
            .buffer_unordered(self.settings.account_concurrency)
            .collect::<Vec<_>>()
            .await;
        let mut unassumable = Vec::new();
        for (id, receives, m, scan) in done {
            let last = receives >= self.settings.max_receives;
            let retry = scan.wants_retry();
            if retry {
                again.push(id.clone());
            }
            if let age::AccountScan::Unassumable(why) = &scan {
                unassumable.push((m.account.to_string(), why.clone()));
            }
            if !retry || last {
                let line = if retry {
                    format!("{} (after {receives} deliveries)", age::fanout::line(&scan))
                } else {
                    age::fanout::line(&scan)
                };
                match self.finish(&m, &line, now).await {
                    Ok(Some(summary)) => {
                        // A summary that did not go out is sent by this message's
                        // redelivery (its account counts once; the ledger sends once).
                        let unsent = matches!(&summary, age::AccountScan::Scanned(r) if r.status_code >= 500);
                        if unsent && !again.contains(&id) {
                            again.push(id.clone());
                        }
                        scans.push(("organization".to_owned(), summary));
                    }
                    Ok(None) => {}
                    Err(e) if e.kind == keyguard_core::ErrorKind::NotFound => {
                        dropped.push(format!("message {id}: {}", e.message));
                    }
                    Err(e) => {
                        if !retry {
                            again.push(id.clone());
                        }
                        scans.push((
                            m.account.to_string(),
                            age::AccountScan::Failed(format!("recording the account's line: {e}")),
                        ));
                    }
                }
            }
            scans.push((m.account.to_string(), scan));
        }
        // An account whose member role cannot be assumed is alerted, as in one invocation.
        if !unassumable.is_empty() {
            let role = &self.settings.member_role_name;
            let plan = age::unassumable_notices("sqs-batch", role, &unassumable);
            let notices = self
                .executor(&self.effects)
                .apply(&self.settings.age, plan, now)
                .await;
            scans.push(("organization".into(), age::AccountScan::Scanned(notices)));
        }
        scans.sort_by(|a, b| a.0.cmp(&b.0));
        age::fanout::batch_report(dry_run, scans, again, dropped)
    }

    /// One message's account, checked against the organisation, then scanned.
    async fn scan_message(
        &self,
        m: &age::fanout::Message,
        own: Option<&str>,
        now: Timestamp,
    ) -> age::AccountScan {
        let account = m.account.as_str();
        let Some(own) = own else {
            return age::AccountScan::Failed(
                "keyguard's own account is unknown (sts:GetCallerIdentity failed)".into(),
            );
        };
        let is_own = own == account;
        if !is_own {
            match keyguard_aws::accounts::is_active(&self.sdk, &m.account).await {
                Ok(Ok(())) => {}
                Ok(Err(why)) => return age::AccountScan::Outside(why),
                Err(e) => {
                    return age::AccountScan::Failed(format!("organizations:DescribeAccount: {e}"))
                }
            }
        }
        self.scan_account(account, is_own, &m.scan, now).await
    }

    /// Records the account's line; once every account is in, the organisation summary
    /// (sent once, whoever finishes last and however often).
    async fn finish(
        &self,
        m: &age::fanout::Message,
        line: &str,
        now: Timestamp,
    ) -> Result<Option<age::AccountScan>, EffectError> {
        let Some(fanout) = &self.fanout else {
            return Ok(None);
        };
        let Some(lines) = fanout.finish(&m.scan, &m.account, line).await? else {
            return Ok(None);
        };
        let plan = age::fanout::org_summary(&m.scan, &lines);
        let report = self
            .executor(&self.effects)
            .apply(&self.settings.age, plan, now)
            .await;
        Ok(Some(age::AccountScan::Scanned(report)))
    }
}

impl keyguard_aws::lambda::ColdStart for App {
    type Settings = Settings;

    fn build(sdk: &keyguard_aws::SdkConfig, settings: Settings) -> Result<Self, String> {
        Ok(Self::new(sdk, settings))
    }

    fn wired(&self) -> Result<(), pipeline::Unwired> {
        pipeline::wired::<AgeConfig, _>(&self.effects, &[])
    }
}

impl keyguard_aws::lambda::Handler for App {
    async fn handle_at(&self, raw: &Value, now: Timestamp) -> Report {
        let cfg = &self.settings.age;
        if let Some(items) = age::fanout::batch(raw) {
            let ours =
                self.settings.organization_mode
                    && self.settings.account_queue_url.as_deref().is_some_and(|q| {
                        items.iter().all(|i| age::fanout::from_queue(&i.source, q))
                    });
            if !ours {
                return Report::invalid(
                    FUNCTION,
                    self.settings.common.dry_run,
                    "an SQS batch that is not from ACCOUNT_QUEUE_URL (or organisation mode is off): nothing scanned",
                );
            }
            // Boxed: the batch's future nests too deep for the compiler's layout limit.
            return Box::pin(self.scan_batch(items, now)).await;
        }
        if self.settings.organization_mode {
            if let Ok(trigger) = keyguard_core::parse_value(raw) {
                if age::gate(&trigger, cfg).is_none() {
                    let event_ref = keyguard_core::event_ref(&trigger, raw);
                    return match &self.fanout {
                        Some(fanout) => self.dispatch(fanout, &event_ref, now).await,
                        None => self.scan_organization(&event_ref, now).await,
                    };
                }
            }
        }
        self.executor(&self.effects).run(cfg, self, raw, now).await
    }

    /// An SQS batch answers with the messages to deliver again, never by failing: a
    /// failed invocation would deliver the whole batch again.
    fn fails(&self, _event: &Value, report: &Report) -> bool {
        report.batch_item_failures.is_none() && report.status_code >= 500
    }
}
