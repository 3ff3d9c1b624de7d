//! What keyguard decided to do, before anything is done.

use crate::key::{AccessKeyId, RoleName, UserName};
use crate::notice::{Channel, Notice};
use crate::time::Timestamp;
use serde::Serialize;

/// A principal whose temporary credentials can be revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "name", rename_all = "snake_case")]
pub enum Principal {
    /// Sessions from `sts:GetSessionToken`.
    User(UserName),
    /// Sessions from `sts:AssumeRole`.
    Role(RoleName),
}

/// One thing keyguard can do. Each variant knows the IAM permissions it needs, so a
/// function's least privilege is computed from the actions it can plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// `UpdateAccessKey Status=Inactive` for exactly this key.
    DeactivateKey {
        user: UserName,
        key_id: AccessKeyId,
    },
    /// Temporary keys cannot be deactivated: an inline deny-all conditioned on
    /// `aws:TokenIssueTime` earlier than `issued_before` ends every older session.
    RevokeSessions {
        principal: Principal,
        issued_before: Timestamp,
        policy_name: String,
        /// The key whose sessions these are (the one contained, or the `ASIA` key the
        /// event named): its ledger row is found by it, as the key's own is.
        #[serde(skip_serializing_if = "Option::is_none")]
        key_id: Option<AccessKeyId>,
    },
    /// `keyguard undo`: `UpdateAccessKey Status=Active` for a key keyguard's containment
    /// deactivated, whose status nobody changed since.
    ReactivateKey {
        user: UserName,
        key_id: AccessKeyId,
    },
    /// `keyguard undo`: the user's inline policy of this name put back as it was before
    /// keyguard's revocation: `document`, or none (`DeleteUserPolicy`).
    RestorePolicy {
        user: UserName,
        policy_name: String,
        document: Option<String>,
        /// The key whose containment this undoes.
        key_id: Option<AccessKeyId>,
    },
    /// `DeleteAccessKey` for exactly this key (only ever an Inactive one).
    DeleteKey {
        user: UserName,
        key_id: AccessKeyId,
    },
    /// `CreateAccessKey` for the user, stored at once as the secret's `AWSPENDING`
    /// version for `token`. The new secret goes from IAM to Secrets Manager and nowhere
    /// else; if storing fails, the new key is deleted again.
    CreatePendingKey {
        secret_id: String,
        token: String,
        user: UserName,
    },
    /// `sts:GetCallerIdentity` signed with the pending key must name `user`.
    TestPendingKey {
        secret_id: String,
        token: String,
        user: UserName,
        key_id: AccessKeyId,
    },
    /// `UpdateSecretVersionStage`: `AWSCURRENT` to `token`, from `from_version`.
    PromotePending {
        secret_id: String,
        token: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        from_version: Option<String>,
    },
    /// `ssm:StartAutomationExecution` of the rotation runbook for exactly this key.
    /// `client_token` (a UUID derived from the step) makes SSM refuse a second start.
    StartRunbook {
        document: String,
        user: UserName,
        key_id: AccessKeyId,
        #[serde(skip_serializing_if = "Option::is_none")]
        assume_role_arn: Option<String>,
        client_token: String,
    },
    /// An asynchronous invocation of deactivate-key (`lambda:InvokeFunction`,
    /// `InvocationType=Event`) with `{accessKeyId, accountId, userName, classifierSource,
    /// eventId, issuedAt, mac}`, its MAC made with `kms:GenerateMac`.
    HandOff {
        key_id: AccessKeyId,
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<UserName>,
        /// The key's account: deactivate-key acts only in its own.
        account: crate::scope::AccountId,
        classifier_source: String,
        event_id: String,
    },
    /// After a containment: the key's CloudTrail event history read (`LookupEvents`) and
    /// what it showed acted on. Its ledger row settles only once that went through, so a
    /// retry after a failed read sweeps again, and a redelivery does not.
    SweepHistory {
        user: UserName,
        key_id: AccessKeyId,
        lookback_hours: u32,
    },
    /// SES `SendEmail` of one message to one person.
    SendEmail {
        email: Email,
    },
    /// `ssm-incidents:StartIncident`.
    OpenIncident {
        incident: Incident,
    },
    /// The ledger's record of who set a principal's exemption tag, the latest call
    /// winning ([`crate::exemption`]): containment reads it before it believes the tag.
    RecordExemption {
        principal: Principal,
        #[serde(skip_serializing_if = "Option::is_none")]
        account: Option<crate::scope::AccountId>,
        provenance: crate::exemption::Provenance,
    },
    /// createkey-detector's memory of a created key or user, kept until `until` for the
    /// rules that compare later calls with it, the latest event winning
    /// ([`crate::policy::detector::memory`]).
    Remember {
        account: crate::scope::AccountId,
        memo: crate::policy::detector::memory::Memo,
        until: Timestamp,
    },
    /// `ssm-incidents:CreateTimelineEvent`: what was learnt after an incident opened (the
    /// sweep's list, read once the key is Inactive) put on that incident's timeline.
    AddToIncident {
        incident_arn: String,
        event_time: Timestamp,
        /// At most [`TIMELINE_EVENT_LIMIT`] characters, as the service allows.
        event_data: String,
        /// The step's idempotency key, digested: the service refuses a second event for it.
        client_token: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<UserName>,
        #[serde(skip_serializing_if = "Option::is_none")]
        key_id: Option<AccessKeyId>,
    },
    Notify {
        notice: Notice,
    },
    /// `securityhub:BatchImportFindings` of one finding about this run
    /// ([`crate::security_hub`]); the same `Id` again updates it.
    ImportFinding {
        finding: Box<crate::security_hub::Finding>,
        /// The run ended cleanly: it contained (or found contained) what it was about,
        /// every step settled, nothing refused ([`crate::security_hub::clean`]).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        clean: bool,
        /// A clean run that retried an attempt that had failed (a step of it, or this
        /// import): if the finding as Security Hub holds it told of a failure and is still
        /// open, set it `RESOLVED` first (`BatchUpdateFindings`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        resolve: bool,
    },
    /// A post to one chat webhook, whose URL is read from Secrets Manager. One step per
    /// channel, so a failed Slack post is retried without posting to Discord again.
    Alert {
        channel: Channel,
        notice: Notice,
    },
}

/// `CreateTimelineEvent`'s `eventData` limit (characters).
pub const TIMELINE_EVENT_LIMIT: usize = 12_000;

/// What an applied `StartIncident` step reports, and how the record's ARN is read back
/// from it (by the step that adds to the incident later, from the report or the ledger).
pub fn incident_detail(arn: &str) -> String {
    format!("incident {arn}")
}

/// The incident record ARN in an applied `OpenIncident` step's detail.
pub fn incident_in_detail(detail: &str) -> Option<&str> {
    detail
        .strip_prefix("incident ")
        .filter(|arn| arn.starts_with("arn:"))
}

/// What `StartIncident` is called with. `client_token` is the step's idempotency key, so
/// Incident Manager itself refuses a second incident for the same step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    pub response_plan_arn: String,
    pub title: String,
    /// 1 (critical) to 5 (no impact), as Incident Manager defines it.
    pub impact: u8,
    pub source: String,
    pub timestamp: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_arn: Option<String>,
    /// The finding as JSON, cut to the service's limit.
    pub raw_data: String,
    pub related: Vec<Link>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<AccessKeyId>,
    pub client_token: String,
}

/// One email to one person (never a shared `To:` list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Email {
    pub to: String,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserName>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub title: String,
    pub url: String,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Self::DeactivateKey { .. } => "deactivate_key",
            Self::RevokeSessions { .. } => "revoke_sessions",
            Self::ReactivateKey { .. } => "reactivate_key",
            Self::RestorePolicy { .. } => "restore_policy",
            Self::DeleteKey { .. } => "delete_key",
            Self::CreatePendingKey { .. } => "create_pending_key",
            Self::TestPendingKey { .. } => "test_pending_key",
            Self::PromotePending { .. } => "promote_pending",
            Self::SendEmail { .. } => "send_email",
            Self::HandOff { .. } => "hand_off",
            Self::SweepHistory { .. } => "sweep_history",
            Self::StartRunbook { .. } => "start_runbook",
            Self::OpenIncident { .. } => "open_incident",
            Self::AddToIncident { .. } => "add_to_incident",
            Self::RecordExemption { .. } => "record_exemption",
            Self::Remember { .. } => "remember",
            Self::Notify { .. } => "notify",
            Self::ImportFinding { .. } => "import_finding",
            Self::Alert { .. } => "alert",
        }
    }

    /// The AWS permissions the adapter needs to carry this out.
    pub fn iam_permissions(&self) -> &'static [&'static str] {
        match self {
            // The reads keep what the write replaces in the ledger, for `keyguard undo`.
            Self::DeactivateKey { .. } => &["iam:ListAccessKeys", "iam:UpdateAccessKey"],
            Self::RevokeSessions {
                principal: Principal::User(_),
                ..
            } => &["iam:GetUserPolicy", "iam:PutUserPolicy"],
            Self::RevokeSessions {
                principal: Principal::Role(_),
                ..
            } => &["iam:GetRolePolicy", "iam:PutRolePolicy"],
            Self::ReactivateKey { .. } => &["iam:UpdateAccessKey"],
            Self::RestorePolicy { .. } => &["iam:PutUserPolicy", "iam:DeleteUserPolicy"],
            Self::DeleteKey { .. } => &["iam:DeleteAccessKey"],
            Self::CreatePendingKey { .. } => &[
                "iam:CreateAccessKey",
                "iam:DeleteAccessKey",
                "secretsmanager:PutSecretValue",
            ],
            Self::TestPendingKey { .. } => &["secretsmanager:GetSecretValue"],
            Self::PromotePending { .. } => &["secretsmanager:UpdateSecretVersionStage"],
            Self::SendEmail { .. } => &["ses:SendEmail"],
            Self::HandOff { .. } => &["lambda:InvokeFunction", "kms:GenerateMac"],
            Self::SweepHistory { .. } => &["cloudtrail:LookupEvents"],
            Self::StartRunbook { .. } => &["ssm:StartAutomationExecution", "iam:PassRole"],
            Self::OpenIncident { .. } => &["ssm-incidents:StartIncident"],
            Self::AddToIncident { .. } => &["ssm-incidents:CreateTimelineEvent"],
            Self::RecordExemption { .. } | Self::Remember { .. } => &["dynamodb:PutItem"],
            Self::Notify { .. } => &["sns:Publish"],
            Self::ImportFinding { .. } => &[
                "securityhub:BatchImportFindings",
                "securityhub:GetFindings",
                "securityhub:BatchUpdateFindings",
            ],
            Self::Alert { .. } => &["secretsmanager:GetSecretValue"],
        }
    }

    /// Whether doing it twice leaves the same state (or the service refuses the repeat by
    /// its client token). Such steps go ahead when the ledger cannot be reached: a late
    /// containment is worse than a repeated one.
    pub fn repeat_is_harmless(&self) -> bool {
        // An undo is never made without its ledger row: with the ledger down it waits.
        !matches!(
            self,
            Self::Notify { .. }
                | Self::Alert { .. }
                | Self::CreatePendingKey { .. }
                | Self::SendEmail { .. }
                | Self::ReactivateKey { .. }
                | Self::RestorePolicy { .. }
        )
    }

    /// Whether the action calls the credential's account (its IAM, its SSM), and so is
    /// made there; the rest (notices, alerts, emails, incidents, the ledger's records)
    /// are keyguard's own, made in keyguard's account whatever the step's scope.
    pub fn acts_in_account(&self) -> bool {
        match self {
            Self::DeactivateKey { .. }
            | Self::RevokeSessions { .. }
            | Self::ReactivateKey { .. }
            | Self::RestorePolicy { .. }
            | Self::DeleteKey { .. }
            | Self::CreatePendingKey { .. }
            | Self::StartRunbook { .. } => true,
            Self::TestPendingKey { .. }
            | Self::PromotePending { .. }
            | Self::HandOff { .. }
            | Self::SweepHistory { .. }
            | Self::SendEmail { .. }
            | Self::OpenIncident { .. }
            | Self::RecordExemption { .. }
            | Self::Remember { .. }
            | Self::AddToIncident { .. }
            | Self::Notify { .. }
            | Self::ImportFinding { .. }
            | Self::Alert { .. } => false,
        }
    }

    pub fn user(&self) -> Option<&UserName> {
        match self {
            Self::DeactivateKey { user, .. }
            | Self::ReactivateKey { user, .. }
            | Self::RestorePolicy { user, .. }
            | Self::DeleteKey { user, .. }
            | Self::CreatePendingKey { user, .. }
            | Self::TestPendingKey { user, .. }
            | Self::StartRunbook { user, .. }
            | Self::SweepHistory { user, .. } => Some(user),
            Self::PromotePending { .. } => None,
            Self::OpenIncident { incident } => incident.user.as_ref(),
            Self::AddToIncident { user, .. } => user.as_ref(),
            Self::RecordExemption {
                principal: Principal::User(user),
                ..
            } => Some(user),
            Self::RecordExemption { .. } | Self::Remember { .. } | Self::ImportFinding { .. } => {
                None
            }
            Self::SendEmail { email } => email.user.as_ref(),
            Self::HandOff { user, .. } => user.as_ref(),
            Self::RevokeSessions {
                principal: Principal::User(user),
                ..
            } => Some(user),
            Self::Notify { notice } | Self::Alert { notice, .. } => notice.user.as_ref(),
            Self::RevokeSessions { .. } => None,
        }
    }

    /// The action as a retry of a failed attempt takes it: a clean run's import that
    /// failed before may resolve the finding its earlier run left telling of a failure
    /// (its own failure hid that run's steps from this one).
    pub fn on_retry(&self) -> Option<Self> {
        match self {
            Self::ImportFinding {
                finding,
                clean: true,
                resolve: false,
            } => Some(Self::ImportFinding {
                finding: finding.clone(),
                clean: true,
                resolve: true,
            }),
            _ => None,
        }
    }

    /// The same notice or alert saying how many steps its window kept quiet since the
    /// last one went out; `None` when there were none, or the action tells nobody.
    pub fn with_held_off(&self, held_off: u32) -> Option<Self> {
        if held_off == 0 {
            return None;
        }
        let fact = |n: &Notice| {
            n.clone().fact(
                "held_since_last_alert",
                format!("{held_off} more in the window before this alert, not sent"),
            )
        };
        match self {
            Self::Alert { channel, notice } => Some(Self::Alert {
                channel: *channel,
                notice: fact(notice),
            }),
            Self::Notify { notice } => Some(Self::Notify {
                notice: fact(notice),
            }),
            _ => None,
        }
    }

    pub fn key_id(&self) -> Option<&AccessKeyId> {
        match self {
            Self::DeactivateKey { key_id, .. }
            | Self::ReactivateKey { key_id, .. }
            | Self::DeleteKey { key_id, .. }
            | Self::TestPendingKey { key_id, .. }
            | Self::HandOff { key_id, .. }
            | Self::SweepHistory { key_id, .. }
            | Self::StartRunbook { key_id, .. } => Some(key_id),
            Self::CreatePendingKey { .. }
            | Self::PromotePending { .. }
            | Self::SendEmail { .. } => None,
            Self::OpenIncident { incident } => incident.key_id.as_ref(),
            Self::AddToIncident { key_id, .. } => key_id.as_ref(),
            Self::RecordExemption { .. } | Self::Remember { .. } | Self::ImportFinding { .. } => {
                None
            }
            Self::Notify { notice } | Self::Alert { notice, .. } => notice.key_id.as_ref(),
            Self::RevokeSessions { key_id, .. } | Self::RestorePolicy { key_id, .. } => {
                key_id.as_ref()
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub action: Action,
    pub reason: String,
    /// Written to the ledger before the step runs; a second delivery finds it and stops.
    pub idempotency_key: String,
    /// Also hold this window: no other step naming it runs before it ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// Taken only once the step with this idempotency key went through (in this run,
    /// or before): age-rotation touches a person's key only after telling them, so a
    /// failed email is retried with its action instead of being lost behind it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Where the step acts (the credential's account); `None` for steps that act on
    /// no account's principal (an alert, a summary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<crate::scope::Scope>,
    /// What the write replaces, where the decision already read it (containment's key
    /// status): kept in the step's ledger row by the claim itself, so the write waits
    /// for no second read and no second ledger call. `None`: read just before the write
    /// ([`crate::effects::Effects::before`]), as for the actions that can be undone and
    /// whose state the facts did not hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<crate::effects::Prior>,
}

/// A sliding window in the ledger: the step that takes it holds `key` until `until`, and
/// every step naming the same key before then is suppressed. Unlike a clock rounded to a
/// quarter hour, two findings a second apart can never both act.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    pub key: String,
    pub until: Timestamp,
}

/// The overall verdict, independent of how the steps later fare.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Carry out the steps.
    Act,
    /// The key is already Inactive: nothing to write.
    AlreadyContained,
    /// The work is already done (e.g. a rotation step delivered again): nothing to write.
    NothingToDo { why: String },
    /// The steps are shown but not applied (e.g. a GuardDuty sample finding).
    PlanOnly { why: String },
    /// keyguard will not act (exempt, itself, untrusted source); steps hold notices only.
    Refused { why: String },
    /// IAM has no way to contain this (a root key): steps hold notices only.
    NotContainable { why: String },
    /// The user or key does not exist.
    NotFound { what: String },
    /// The credential belongs to another account than keyguard's: notices only.
    ForeignAccount { why: String },
    /// The event names nothing this function acts on.
    Ignored { why: String },
    /// The event is well-formed JSON but names something invalid (e.g. a key id).
    Invalid { why: String },
    /// keyguard could not find out what to do (IAM unreachable, access denied).
    Failed { why: String },
}

impl Decision {
    /// The stable name, as in the JSON `decision` field.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Act => "act",
            Self::AlreadyContained => "already_contained",
            Self::PlanOnly { .. } => "plan_only",
            Self::NothingToDo { .. } => "nothing_to_do",
            Self::Refused { .. } => "refused",
            Self::NotContainable { .. } => "not_containable",
            Self::NotFound { .. } => "not_found",
            Self::ForeignAccount { .. } => "foreign_account",
            Self::Ignored { .. } => "ignored",
            Self::Invalid { .. } => "invalid",
            Self::Failed { .. } => "failed",
        }
    }

    /// Why nothing (or only a notice) was done, when the decision says.
    pub fn explanation(&self) -> Option<&str> {
        match self {
            Self::Refused { why }
            | Self::ForeignAccount { why }
            | Self::PlanOnly { why }
            | Self::NothingToDo { why }
            | Self::NotContainable { why }
            | Self::Ignored { why }
            | Self::Invalid { why }
            | Self::Failed { why } => Some(why),
            Self::NotFound { what } => Some(what),
            Self::Act | Self::AlreadyContained => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub function: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier_source: Option<String>,
    #[serde(flatten)]
    pub decision: Decision,
    pub steps: Vec<Step>,
    /// Users the facts could not be read for: nothing is decided for them, and the run
    /// that applies this plan fails, naming them, so the retry or the next run takes
    /// them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unread: Vec<crate::unread::Unread>,
    /// Something else the plan was made without (createkey-detector's memory): the run
    /// that applies it fails, naming it, so the retry reads it again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_also: Option<String>,
    /// When the event saw what it tells of ([`crate::Trigger::observed_at`]): the same for
    /// every delivery, so what is dated from it (a finding's `CreatedAt`) never moves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<Timestamp>,
}

impl Plan {
    /// A plan about one event (its id, or the content hash that stands for it).
    pub fn for_event(function: &str, decision: Decision, event_ref: impl Into<String>) -> Self {
        let mut plan = Self::new(function, decision);
        plan.event_id = Some(event_ref.into());
        plan
    }

    /// This plan's function, event, classifier and decision, with no steps: a step
    /// written later for the same event (a summary, a finding) is recorded as this
    /// plan's.
    pub fn without_steps(&self) -> Self {
        Self {
            function: self.function.clone(),
            event_id: self.event_id.clone(),
            classifier_source: self.classifier_source.clone(),
            decision: self.decision.clone(),
            steps: Vec::new(),
            unread: Vec::new(),
            unread_also: None,
            observed_at: self.observed_at,
        }
    }

    pub fn new(function: &str, decision: Decision) -> Self {
        Self {
            function: function.to_owned(),
            event_id: None,
            classifier_source: None,
            decision,
            steps: Vec::new(),
            unread: Vec::new(),
            unread_also: None,
            observed_at: None,
        }
    }
}
