//! createkey-detector's rules: pure functions over one CloudTrail record, each in its own
//! module with an id, a severity and a one-line why. A rule returns an [`Alert`], and
//! names the key to contain when IAM can contain it.
//!
//! [`evaluate`] runs them all; [`decide`] turns alerts into a plan: for every alert at or
//! above `ALERT_MIN_SEVERITY`, one post per configured webhook (and an SNS notice when a
//! topic is set, or when nothing else is), and a hand-off to deactivate-key for every
//! containable alert at or above `CONTAIN_MIN_SEVERITY`. Three rules also read what the
//! detector remembers of earlier events ([`memory`]), and the plan keeps what this one
//! leaves there.

mod admin_policy;
mod backdoor_key;
pub mod canary_check;
pub mod canary_key_used;
mod canary_tampered;
mod console_backdoor;
pub mod exemption_tagged;
mod failed_key_creation;
mod federation_token;
#[cfg(test)]
pub(crate) mod fixtures;
mod inline_admin_policy;
mod key_created;
mod logging_disabled;
pub mod memory;
mod mfa_removed;
pub mod new_key_used_elsewhere;
mod quarantine_policy;
mod role_trust_backdoor;
mod root_key_created;
mod runs_instances;
mod threat_ip;
pub mod user_created_with_key;

use crate::config::{self, ConfigError, Env};
use crate::events::{CloudTrailRecord, Envelope, Trigger};
use crate::guard::{Guard, NameSet, SelfIdentity};
use crate::key::{AccessKeyId, KeyKind, UserName};
use crate::notice::{Channel, Notice, Severity};
use crate::plan::{Action, Decision, Plan, Step, Window};
use crate::scope::Scope;
use crate::step_key;
use std::collections::BTreeMap;

pub use threat_ip::Cidr;

pub const FUNCTION: &str = "createkey-detector";

/// What a rule found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub rule: &'static str,
    pub severity: Severity,
    pub why: &'static str,
    /// One line about this event (who did what to whom).
    pub summary: String,
    /// The key to contain, and its user, when IAM can contain it.
    pub contain: Option<(AccessKeyId, Option<UserName>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectorConfig {
    /// `ALERT_MIN_SEVERITY` (default `low`): alerts below it are not sent.
    pub alert_min: Severity,
    /// `CONTAIN_MIN_SEVERITY` (default `high`): containable alerts at or above it are
    /// handed to deactivate-key.
    pub contain_min: Severity,
    /// `THREAT_CIDRS`: addresses whose calls are `threat-ip` alerts.
    pub threat_cidrs: Vec<Cidr>,
    /// `MANY_INSTANCES` (default 10): `RunInstances` of this many is high.
    pub many_instances: u64,
    /// `CANARY_ALERT_MINUTES` (default 15, at most a day; 0: every call alerts): one
    /// `canary-key-used` alert per canary in this long.
    pub canary_alert_minutes: u32,
    /// `CORRELATION_MINUTES` (default 60, 1 to 1440): how long the detector remembers a
    /// created key, a created user and a key's launches ([`memory`]).
    pub correlation_minutes: u32,
    /// Trusted sources (`TRUSTED_CUSTOM_SOURCES`) and keyguard's own account, as everywhere.
    pub guard: Guard,
    /// `DISCORD_WEBHOOK_SECRET_ID`, `SLACK_WEBHOOK_SECRET_ID`: the Secrets Manager secret
    /// holding each webhook's URL. The ids are not secret; the URLs are.
    pub webhooks: BTreeMap<Channel, String>,
    /// `TRUSTED_KEY_CREATORS`: roles that create keys for other users by design
    /// (keyguard's own secrets-rotator, an IaC pipeline). Their `CreateAccessKey` for
    /// another user is not a backdoor; without this, every rotation would be contained.
    pub trusted_creators: NameSet,
    /// Whether `NOTICE_TOPIC_ARN` is set: alerts also go to SNS.
    pub sns: bool,
    /// Channels configured but found holding the placeholder at cold start: left out, and
    /// named on every alert, which then also goes to SNS so it is not lost.
    pub unconfigured: Vec<Channel>,
}

fn severity(env: &impl Env, name: &str, default: Severity) -> Result<Severity, ConfigError> {
    match env.get(name) {
        None => Ok(default),
        Some(v) => serde_json::from_value(serde_json::Value::String(v.trim().to_ascii_lowercase()))
            .map_err(|_| ConfigError {
                variable: name.into(),
                message: format!("expected info, low, medium, high or critical, got {v:?}"),
            }),
    }
}

fn correlation_minutes(env: &impl Env) -> Result<u32, ConfigError> {
    let minutes = config::number(env, "CORRELATION_MINUTES", memory::DEFAULT_MINUTES)?;
    if !(1..=memory::MAX_MINUTES).contains(&minutes) {
        return Err(ConfigError {
            variable: "CORRELATION_MINUTES".into(),
            message: format!("from 1 to {} (a day), got {minutes}", memory::MAX_MINUTES),
        });
    }
    Ok(minutes)
}

fn canary_minutes(env: &impl Env) -> Result<u32, ConfigError> {
    let minutes = config::number(env, "CANARY_ALERT_MINUTES", 15)?;
    if minutes > 1440 {
        return Err(ConfigError {
            variable: "CANARY_ALERT_MINUTES".into(),
            message: format!("at most 1440 (a day), got {minutes}"),
        });
    }
    Ok(minutes)
}

impl DetectorConfig {
    pub fn from_env(env: &impl Env, me: SelfIdentity) -> Result<Self, ConfigError> {
        let me_account = me.account.clone();
        let threat_cidrs = config::list(env, "THREAT_CIDRS")
            .iter()
            .map(|c| {
                Cidr::parse(c).ok_or_else(|| ConfigError {
                    variable: "THREAT_CIDRS".into(),
                    message: format!("not a CIDR block or address: {c:?}"),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            alert_min: severity(env, "ALERT_MIN_SEVERITY", Severity::Low)?,
            contain_min: severity(env, "CONTAIN_MIN_SEVERITY", Severity::High)?,
            threat_cidrs,
            many_instances: config::number(env, "MANY_INSTANCES", 10)?,
            canary_alert_minutes: canary_minutes(env)?,
            correlation_minutes: correlation_minutes(env)?,
            // Organisation mode: a member's key is handed off with its account, for
            // deactivate-key to check and contain there. The detector itself acts in
            // no account: it alerts, remembers and hands off.
            guard: Guard::from_env(env, me)?
                .with_organization(crate::organization::Organization::from_env(env)?),
            webhooks: [
                (Channel::Discord, "DISCORD_WEBHOOK_SECRET_ID"),
                (Channel::Slack, "SLACK_WEBHOOK_SECRET_ID"),
            ]
            .into_iter()
            .filter_map(|(channel, var)| env.get(var).map(|id| (channel, id.trim().to_owned())))
            .collect(),
            trusted_creators: trusted_creators(env, me_account.as_ref()),
            sns: env.get("NOTICE_TOPIC_ARN").is_some(),
            unconfigured: Vec::new(),
        })
    }

    /// Where an alert goes: each webhook, and SNS when a topic is set. With neither, a
    /// notice that is only logged, so an alert is never silently dropped.
    /// Leaves a channel out of every plan (its secret still holds the placeholder).
    pub fn leave_out(&mut self, channel: Channel) {
        self.webhooks.remove(&channel);
        if !self.unconfigured.contains(&channel) {
            self.unconfigured.push(channel);
        }
    }

    /// Whether an alert also goes to SNS: a topic is set, or no webhook can take it.
    pub(crate) fn to_sns(&self) -> bool {
        self.sns || self.webhooks.is_empty() || !self.unconfigured.is_empty()
    }

    fn alert_steps(
        &self,
        notice: &Notice,
        rule: &str,
        event_ref: &str,
        why: &str,
        window: Option<&Window>,
    ) -> Vec<Step> {
        let mut notice = notice.clone();
        if !self.unconfigured.is_empty() {
            let names: Vec<&str> = self.unconfigured.iter().map(|c| c.name()).collect();
            notice = notice.fact(
                "channels_not_configured",
                format!(
                    "{} (the webhook secret still holds the placeholder)",
                    names.join(", ")
                ),
            );
        }
        let notice = &notice;
        // The severity is part of the key: a retry that recalled more (a launch count
        // that reached MANY_INSTANCES) raises an alert that the first attempt did not
        // post, and it must be posted, not taken for a duplicate.
        let subject = step_key::Subject::other(&format!("{rule}/{}", notice.severity.name()));
        let key = |action: &str| step_key::step(FUNCTION, action, None, &subject, event_ref);
        let webhooks = self.webhooks.keys().map(|&channel| Step {
            replaces: None,
            after: None,
            scope: None,
            idempotency_key: key(&format!("alert_{}", channel.name())),
            action: Action::Alert {
                channel,
                notice: notice.clone(),
            },
            reason: why.to_owned(),
            window: window.map(|w| Window {
                key: format!("{}:{}", w.key, channel.name()),
                until: w.until,
            }),
        });
        let sns = self.to_sns().then(|| Step {
            replaces: None,
            after: None,
            scope: None,
            idempotency_key: key("notify"),
            action: Action::Notify {
                notice: notice.clone(),
            },
            reason: why.to_owned(),
            window: window.map(|w| Window {
                key: format!("{}:notify", w.key),
                until: w.until,
            }),
        });
        webhooks.chain(sns).collect()
    }
}

/// The calling user's name when the caller is an IAM user (from the ARN, whose last
/// segment is the name; names cannot hold `/`).
fn caller_user(record: &CloudTrailRecord) -> Option<&str> {
    let arn = record.user_identity.arn.as_deref()?;
    arn.split_once(":user/")?.1.rsplit('/').next()
}

/// Who a policy call is about (`user NAME`, `role NAME`, `group NAME`), from its request.
pub(crate) fn policy_holder(params: &serde_json::Value) -> String {
    ["userName", "roleName", "groupName"]
        .iter()
        .find_map(|k| {
            params
                .get(*k)
                .and_then(|v| v.as_str())
                .map(|v| format!("{} {v}", &k[..k.len() - 4]))
        })
        .unwrap_or_else(|| "a principal".into())
}

/// The role behind an assumed-role caller (`arn:aws:sts::1:assumed-role/ROLE/session`).
/// `TRUSTED_KEY_CREATORS`, each kept as `ACCOUNT:ROLE`: a bare name is a role of
/// keyguard's own account (a member's role of the same name is somebody else's, made by
/// whoever may create roles there), a member's is written `ACCOUNT:ROLE`. Without its
/// own account keyguard trusts no bare name.
fn trusted_creators(env: &impl Env, home: Option<&crate::AccountId>) -> crate::guard::NameSet {
    config::list(env, "TRUSTED_KEY_CREATORS")
        .iter()
        .filter_map(|name| match (name.contains(':'), home) {
            (true, _) => Some(name.clone()),
            (false, Some(home)) => Some(format!("{home}:{name}")),
            (false, None) => None,
        })
        .collect()
}

/// The caller's role as `ACCOUNT:ROLE`, from its session's ARN.
fn caller_role_in_account(record: &CloudTrailRecord) -> Option<String> {
    let arn = record.user_identity.arn.as_deref()?;
    let account = arn.split(':').nth(4).filter(|a| !a.is_empty())?;
    Some(format!("{account}:{}", caller_role(record)?))
}

fn caller_role(record: &CloudTrailRecord) -> Option<&str> {
    let arn = record.user_identity.arn.as_deref()?;
    arn.split_once(":assumed-role/")?.1.split('/').next()
}

/// A long-term key and its user as containment targets, when the id is a real `AKIA` id.
fn long_term(key: Option<&str>, user: Option<&str>) -> Option<(AccessKeyId, Option<UserName>)> {
    let key = AccessKeyId::parse(key?).ok()?;
    (key.kind() == KeyKind::LongTerm).then(|| (key, user.and_then(|u| UserName::parse(u).ok())))
}

/// The account (and region) a contained key lives in: the caller's own credential lives
/// where its identity does; a key the call created lives in the account the call ran in.
fn key_scope(
    record: &CloudTrailRecord,
    envelope: Option<&Envelope>,
    key: &AccessKeyId,
) -> Option<Scope> {
    let id = &record.user_identity;
    let issuer = id
        .session_context
        .as_ref()
        .and_then(|s| s.session_issuer.as_ref())
        .and_then(|i| i.account_id.as_deref());
    let env = envelope.and_then(|e| e.account.as_deref());
    let accounts = if id.access_key_id.as_deref() == Some(key.as_str()) {
        [
            issuer,
            id.account_id.as_deref(),
            record.recipient_account_id.as_deref(),
            env,
        ]
    } else {
        [
            record.recipient_account_id.as_deref(),
            id.account_id.as_deref(),
            env,
            None,
        ]
    };
    let region = record
        .aws_region
        .as_deref()
        .or(envelope.and_then(|e| e.region.as_deref()));
    Scope::from_raw(&accounts, region).ok().flatten()
}

/// Whether any rule, the memory, or the decoding of [`crate::events::ApiCall`] reads the
/// request or response of this call: IAM's, STS's, CloudTrail's and GuardDuty's calls,
/// and `RunInstances`. `keyguard replay` decodes the request and response of these only
/// (the rest are most of a trail, S3 and KMS data events above all), so a rule that comes
/// to read another service's parameters must be listed here; the corpus test
/// `a_lean_log_record_finds_what_the_full_record_finds` fails until it is.
pub fn reads_parameters(event_source: &str, event_name: &str) -> bool {
    match event_source {
        "iam.amazonaws.com"
        | "sts.amazonaws.com"
        | "cloudtrail.amazonaws.com"
        | "guardduty.amazonaws.com" => true,
        "ec2.amazonaws.com" => event_name == "RunInstances",
        _ => false,
    }
}

/// Every rule over one record, with nothing recalled (the correlations stay silent, and
/// launches count per call).
pub fn evaluate(record: &CloudTrailRecord, cfg: &DetectorConfig) -> Vec<Alert> {
    evaluate_with(record, cfg, &memory::Recall::default())
}

/// Every rule over one record and what the memory held for it.
pub fn evaluate_with(
    record: &CloudTrailRecord,
    cfg: &DetectorConfig,
    recall: &memory::Recall,
) -> Vec<Alert> {
    let minutes = cfg.correlation_minutes;
    // Whose tag it is decides who may set it (organisation mode: a member's taggers are
    // named with their account), as containment will judge it there.
    let account = record
        .recipient_account_id
        .as_deref()
        .and_then(|a| crate::AccountId::parse(a).ok());
    let guard = cfg.guard.in_account(account.as_ref());
    [
        canary_key_used::check(record, cfg.guard.me.account.as_ref()),
        canary_tampered::check(record),
        exemption_tagged::check(record, &guard),
        backdoor_key::check(record, &cfg.trusted_creators),
        user_created_with_key::check(record, recall, minutes, &cfg.trusted_creators),
        new_key_used_elsewhere::check(record, recall, minutes),
        console_backdoor::check(record),
        role_trust_backdoor::check(record),
        mfa_removed::check(record),
        federation_token::check(record),
        root_key_created::check(record),
        key_created::check(record),
        failed_key_creation::check(record),
        quarantine_policy::check(record),
        admin_policy::check(record),
        inline_admin_policy::check(record),
        logging_disabled::check(record),
        runs_instances::check(record, cfg.many_instances, recall),
        threat_ip::check(record, &cfg.threat_cidrs),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// What an alert on a canary's call says besides its summary.
fn canary_facts(notice: Notice, record: &CloudTrailRecord) -> Notice {
    let mut notice = notice.fact(
        "call",
        format!("{}:{}", record.event_source, record.event_name),
    );
    for (name, value) in [
        ("error_code", &record.error_code),
        ("user_agent", &record.user_agent),
        ("region", &record.aws_region),
        ("event_time", &record.event_time),
    ] {
        if let Some(v) = value {
            notice = notice.fact(name, crate::events::bounded_text(v, 200));
        }
    }
    notice
}

/// The window a canary's alerts hold: per account and canary, from the call's own time
/// (the plan stays a function of the event). A call without a readable time, or a
/// window of 0 minutes, alerts every time: the safe side.
fn canary_window(
    caller: &canary_key_used::Caller,
    record: &CloudTrailRecord,
    envelope: Option<&Envelope>,
    cfg: &DetectorConfig,
) -> Option<Window> {
    if cfg.canary_alert_minutes == 0 {
        return None;
    }
    let at = crate::parse_time(record.event_time.as_deref()?)?;
    let account = [
        record.user_identity.account_id.as_deref(),
        record.recipient_account_id.as_deref(),
        envelope.and_then(|e| e.account.as_deref()),
    ]
    .into_iter()
    .flatten()
    .find_map(|a| crate::scope::AccountId::parse(a).ok());
    Some(Window {
        key: canary_check::window_key(account.as_ref(), &caller.subject),
        until: at + chrono::Duration::minutes(i64::from(cfg.canary_alert_minutes)),
    })
}

/// The window `new-key-used-elsewhere` holds per key and severity, until the key's
/// correlation window ends: a fresh key's stream of calls from elsewhere is one alert
/// per channel (the next one counts what it held back), not a post per call.
fn new_key_window(
    alert: &Alert,
    account: Option<&crate::scope::AccountId>,
    recall: &memory::Recall,
    cfg: &DetectorConfig,
) -> Option<Window> {
    let created = recall.signer_created.as_ref()?;
    let (key, _) = alert.contain.as_ref()?;
    let until = created
        .at
        .checked_add_signed(chrono::Duration::minutes(i64::from(
            cfg.correlation_minutes,
        )))?;
    Some(Window {
        key: step_key::window(
            FUNCTION,
            alert.rule,
            account,
            &step_key::Subject::other(&format!("{key}/{}", alert.severity.name())),
        ),
        until,
    })
}

/// The plan for one event that needs nothing recalled ([`memory::ask`] is `None`), or
/// is refused or ignored before anything is.
pub fn decide(trigger: &Trigger, cfg: &DetectorConfig, event_ref: &str) -> Plan {
    decide_with(trigger, cfg, event_ref, &memory::Recall::default())
}

/// What the event leaves in the memory, as steps: each the latest of its item.
fn remember_steps(
    record: &CloudTrailRecord,
    envelope: Option<&Envelope>,
    cfg: &DetectorConfig,
    event_ref: &str,
) -> Vec<Step> {
    let window = chrono::Duration::minutes(i64::from(cfg.correlation_minutes));
    memory::memos(record, envelope, &cfg.trusted_creators)
        .into_iter()
        .filter_map(|(account, memo)| Some((memo.until(window)?, account, memo)))
        .map(|(until, account, memo)| Step {
            replaces: None,
            after: None,
            scope: None,
            idempotency_key: step_key::step(
                FUNCTION,
                "remember",
                Some(&account),
                &step_key::Subject::other(&memo.subject()),
                event_ref,
            ),
            reason: format!(
                "for the rules that compare later calls with it, until {}",
                until.to_rfc3339()
            ),
            action: Action::Remember {
                until,
                account,
                memo,
            },
            window: None,
        })
        .collect()
}

/// The plan for one event: hand-offs first (containment must not wait behind a
/// rate-limited webhook), then alerts, then what it leaves in the memory.
pub fn decide_with(
    trigger: &Trigger,
    cfg: &DetectorConfig,
    event_ref: &str,
    recall: &memory::Recall,
) -> Plan {
    if let Some(why) = cfg.guard.untrusted(trigger, None) {
        return Plan::for_event(FUNCTION, Decision::Refused { why }, event_ref);
    }
    let Trigger::CloudTrail { record, envelope } = trigger else {
        return Plan::for_event(
            FUNCTION,
            Decision::Ignored {
                why: format!("{FUNCTION} reads CloudTrail records and its own schedule only"),
            },
            event_ref,
        );
    };
    let mut plan = Plan::for_event(FUNCTION, Decision::Act, event_ref);
    // Who set an exemption tag is kept before anything is handed off: containment reads
    // it before it believes the tag.
    if let Some((principal, provenance)) = exemption_tagged::exempted(record, &cfg.guard) {
        let account = memory::call_account(record, envelope.as_ref());
        plan.steps.push(Step {
            replaces: None,
            after: None,
            scope: None,
            idempotency_key: step_key::step(
                FUNCTION,
                "record_exemption",
                account.as_ref(),
                &step_key::Subject::principal(&principal),
                event_ref,
            ),
            reason: format!(
                "who set the exemption tag ({}), for containment to judge before it believes it",
                provenance.set_by
            ),
            action: Action::RecordExemption {
                principal,
                account,
                provenance,
            },
            window: None,
        });
    }
    // What this call leaves in the memory, before the hand-offs: the next call of a
    // scripted attack may be processed a few hundred milliseconds after this one.
    plan.steps
        .extend(remember_steps(record, envelope.as_ref(), cfg, event_ref));
    let mut alerts = Vec::new();
    // A canary's alerts hold its window; what they contain is decided as for anyone
    // (a canary that can do nothing makes no containable call but a threat-ip one, and
    // deactivate-key leaves a harmless canary alone).
    let canary = canary_key_used::caller(record, cfg.guard.me.account.as_ref());
    for alert in evaluate_with(record, cfg, recall) {
        let scope = alert
            .contain
            .as_ref()
            .and_then(|(key, _)| key_scope(record, envelope.as_ref(), key));
        // Another account's key is alerted on, never handed off, unless organisation mode
        // makes it a member's (deactivate-key checks it again, with STS and the
        // organisation, before it acts there).
        let foreign = alert
            .contain
            .as_ref()
            .and_then(|_| cfg.guard.foreign(scope.as_ref()));
        if alert.severity >= cfg.alert_min {
            let mut notice =
                Notice::new(alert.severity, format!("{}: {}", alert.rule, alert.summary))
                    .fact("rule", alert.rule)
                    .fact("why", alert.why);
            if let Some((key, user)) = &alert.contain {
                notice = notice.key(Some(key.clone())).user(user.clone());
            }
            if let Some(s) = &scope {
                notice = notice.fact("account", s.account.as_str());
                // A forwarded call keeps the Region it was made in: the notice says where.
                if let Some(region) = &s.region {
                    notice = notice.fact("region", region.as_str());
                }
            }
            if let Some(why) = &foreign {
                notice = notice.fact("not_contained", why.clone());
            }
            if let Some(ip) = &record.source_ip_address {
                notice = notice.fact("source_ip", ip.clone());
            }
            let mut window = None;
            if let (Some(c), true) = (&canary, alert.rule == canary_key_used::RULE) {
                notice = canary_facts(notice.key(c.key.clone()).user(c.user.clone()), record);
                window = canary_window(c, record, envelope.as_ref(), cfg);
            }
            if alert.rule == new_key_used_elsewhere::RULE {
                window = new_key_window(&alert, scope.as_ref().map(|s| &s.account), recall, cfg);
            }
            alerts.extend(cfg.alert_steps(
                &notice,
                alert.rule,
                event_ref,
                alert.why,
                window.as_ref(),
            ));
        }
        let containable = alert.severity >= cfg.contain_min && foreign.is_none();
        if let (Some((key_id, user)), true, Some(scope)) = (alert.contain, containable, scope) {
            plan.steps.push(Step {
                replaces: None,
                after: None,
                idempotency_key: step_key::step(
                    FUNCTION,
                    "hand_off",
                    Some(&scope.account),
                    &step_key::Subject::other(alert.rule).with_key(key_id.as_str()),
                    event_ref,
                ),
                reason: format!("{} ({:?}): contain {key_id}", alert.rule, alert.severity),
                action: Action::HandOff {
                    key_id,
                    user,
                    account: scope.account.clone(),
                    classifier_source: format!("{FUNCTION}/{}", alert.rule),
                    event_id: event_ref.to_owned(),
                },
                scope: Some(scope),
                window: None,
            });
        }
    }
    plan.steps.extend(alerts);
    if plan.steps.is_empty() {
        plan.decision = Decision::NothingToDo {
            why: "no rule matched at or above ALERT_MIN_SEVERITY".into(),
        };
    }
    plan
}

#[cfg(test)]
mod tests;
