//! The [`Effects`] implementation: each planned action to the SDK call that carries it out.

use crate::members::Members;
use crate::{Iam, Incidents, Mailer, Runbooks, Secrets, SnsNotifier};
use keyguard_core::organization::Membership;
use keyguard_core::{AccessKeyId, Action, EffectError, Effects, ErrorKind, Notifier, Prior, Scope};
use std::sync::Arc;

#[derive(Clone)]
pub struct AwsEffects {
    pub iam: Iam,
    /// Where notices go; without one they are only logged (and say so in the report).
    pub notifier: Option<SnsNotifier>,
    /// SSM Automation and Incident Manager, for the functions that plan them.
    pub runbooks: Option<Runbooks>,
    pub incidents: Option<Incidents>,
    /// Secrets Manager, for secrets-rotator.
    pub secrets: Option<Secrets>,
    /// SES, for age-rotation.
    pub mailer: Option<Mailer>,
    /// keyguard's record of who set exemption tags, for createkey-detector.
    pub exemptions: Option<crate::Exemptions>,
    /// createkey-detector's memory of created keys and users.
    pub memory: Option<crate::memory::Memory>,
    /// Organisation mode: a step whose scope is a member account acts there, its IAM and
    /// SSM calls made as the member role. Without it every step acts here.
    pub members: Option<Arc<Members>>,
    /// `SECURITY_HUB=true`: each run's finding imported into Security Hub.
    pub security_hub: Option<crate::security_hub::SecurityHub>,
}

impl AwsEffects {
    /// IAM, and SNS when `NOTICE_TOPIC_ARN` names a topic: what every function has.
    /// Functions add their own clients with struct update syntax.
    pub fn configured(sdk: &aws_config::SdkConfig, common: &keyguard_core::config::Common) -> Self {
        Self::iam_only(Iam::new(sdk), SnsNotifier::configured(sdk, common))
    }

    /// IAM and (optionally) SNS only.
    pub fn iam_only(iam: Iam, notifier: Option<SnsNotifier>) -> Self {
        Self {
            iam,
            notifier,
            runbooks: None,
            incidents: None,
            secrets: None,
            mailer: None,
            exemptions: None,
            memory: None,
            members: None,
            security_hub: None,
        }
    }

    /// The effects of the account a step acts in: these, or (organisation mode, a member
    /// account) the same with IAM and SSM as the member role there, so a member's runbook
    /// starts in the member. Notices, incidents, emails and the ledger stay in keyguard's
    /// account. An account the organisation does not have is refused here too, whatever
    /// the plan says.
    async fn at(&self, at: Option<&Scope>, action: &Action) -> Result<Option<Self>, EffectError> {
        let (Some(scope), Some(members), true) = (at, &self.members, action.acts_in_account())
        else {
            return Ok(None);
        };
        match members.membership(&scope.account).await? {
            Membership::Home => Ok(None),
            Membership::Outside(why) => Err(EffectError::new(
                ErrorKind::Rejected,
                Some("ForeignAccount"),
                format!("not acted in: {why}"),
            )),
            Membership::Member => {
                let runbooks = match &self.runbooks {
                    Some(home) => {
                        Some(home.in_account(&members.sdk_in(&scope.account, None).await?))
                    }
                    None => None,
                };
                Ok(Some(Self {
                    iam: members.iam_in(&scope.account, None).await?,
                    runbooks,
                    members: None,
                    ..self.clone()
                }))
            }
        }
    }
}

fn not_wired(what: &str) -> EffectError {
    EffectError::new(
        ErrorKind::Other,
        None,
        format!("this function has no {what} client: the plan asked for something it cannot do"),
    )
}

impl Effects for AwsEffects {
    async fn before(
        &self,
        at: Option<&Scope>,
        action: &Action,
    ) -> Result<Option<Prior>, EffectError> {
        match self.at(at, action).await? {
            Some(member) => member.before_here(action).await,
            None => self.before_here(action).await,
        }
    }

    async fn perform(
        &self,
        at: Option<&Scope>,
        action: &Action,
        prior: Option<&Prior>,
    ) -> Result<Option<String>, EffectError> {
        match self.at(at, action).await? {
            Some(member) => member.perform_here(action, prior).await,
            None => self.perform_here(action, prior).await,
        }
    }

    fn lacks(&self, action: &str) -> Option<&'static str> {
        let unless = |wired: bool, client| (!wired).then_some(client);
        match action {
            // IAM is always there; without a topic a notice is logged, and says so.
            "deactivate_key" | "revoke_sessions" | "reactivate_key" | "restore_policy"
            | "delete_key" | "sweep_history" | "notify" => None,
            "create_pending_key" | "test_pending_key" | "promote_pending" => {
                unless(self.secrets.is_some(), "a Secrets Manager client")
            }
            "send_email" => unless(self.mailer.is_some(), "an SES client"),
            "start_runbook" => unless(self.runbooks.is_some(), "an SSM client"),
            "open_incident" | "add_to_incident" => {
                unless(self.incidents.is_some(), "an Incident Manager client")
            }
            "import_finding" => unless(self.security_hub.is_some(), "a Security Hub client"),
            "record_exemption" => unless(self.exemptions.is_some(), "keyguard's exemption record"),
            "remember" => unless(self.memory.is_some(), "createkey-detector's memory"),
            "hand_off" => Some("a Lambda invoker (createkey-detector's effects carry it)"),
            "alert" => Some("webhooks (createkey-detector's effects carry them)"),
            _ => Some("anything that knows it: it is no action of keyguard's"),
        }
    }
}

impl AwsEffects {
    /// What containment's writes replace, so `keyguard undo` can put it back: the key's
    /// status, and the principal's policy of the revocation's name.
    async fn before_here(&self, action: &Action) -> Result<Option<Prior>, EffectError> {
        Ok(match action {
            Action::DeactivateKey { user, key_id } => Some(Prior::KeyStatus {
                status: self.iam.key_status(user, key_id).await?,
            }),
            Action::RevokeSessions {
                principal,
                policy_name,
                ..
            } => Some(Prior::InlinePolicy {
                document: self.iam.inline_policy(principal, policy_name).await?,
            }),
            _ => None,
        })
    }

    async fn perform_here(
        &self,
        action: &Action,
        prior: Option<&Prior>,
    ) -> Result<Option<String>, EffectError> {
        match action {
            Action::DeactivateKey { user, key_id } => {
                self.iam.deactivate_key(user, key_id).await?;
                Ok(Some(format!("key {key_id} of {user} set Inactive")))
            }
            Action::RevokeSessions {
                principal,
                issued_before,
                policy_name,
                ..
            } => {
                let in_force = match prior {
                    Some(Prior::InlinePolicy { document }) => document.as_deref(),
                    _ => None,
                };
                let cut_off = self
                    .iam
                    .revoke_sessions(principal, *issued_before, policy_name, in_force)
                    .await?;
                Ok(Some(keyguard_core::revocation::applied_detail(
                    policy_name,
                    cut_off,
                )))
            }
            Action::ReactivateKey { user, key_id } => {
                self.iam.reactivate_key(user, key_id).await?;
                Ok(Some(format!("key {key_id} of {user} set Active again")))
            }
            Action::RestorePolicy {
                user,
                policy_name,
                document,
                ..
            } => {
                self.iam
                    .restore_user_policy(user, policy_name, document.as_deref())
                    .await?;
                Ok(Some(match document {
                    Some(_) => format!("inline policy {policy_name} of {user} restored to the document it replaced"),
                    None => format!("inline policy {policy_name} of {user} removed (there was none before)"),
                }))
            }
            Action::DeleteKey { user, key_id } => {
                self.iam.delete_key(user, key_id).await?;
                Ok(Some(format!("key {key_id} of {user} deleted")))
            }
            Action::CreatePendingKey {
                secret_id,
                token,
                user,
            } => {
                let secrets = self
                    .secrets
                    .as_ref()
                    .ok_or_else(|| not_wired("Secrets Manager"))?;
                let key = self.iam.create_key(user).await?;
                if let Err(e) = secrets.store_pending(secret_id, token, user, &key).await {
                    // Never leave a key whose secret nobody holds.
                    let undone = match AccessKeyId::parse(&key.key_id) {
                        Ok(id) => match self.iam.delete_key(user, &id).await {
                            Ok(()) => format!("new key {id} deleted again"),
                            Err(d) => format!("new key {id} could NOT be deleted: {d}"),
                        },
                        Err(_) => format!("new key {} has an unexpected id", key.key_id),
                    };
                    return Err(EffectError {
                        message: format!("{}; {undone}", e.message),
                        ..e
                    });
                }
                Ok(Some(format!(
                    "key {} created for {user}, stored as AWSPENDING of {secret_id}",
                    key.key_id
                )))
            }
            Action::TestPendingKey {
                secret_id,
                token,
                user,
                key_id,
            } => {
                let secrets = self
                    .secrets
                    .as_ref()
                    .ok_or_else(|| not_wired("Secrets Manager"))?;
                let arn = secrets.test_pending(secret_id, token, user).await?;
                Ok(Some(format!("pending key {key_id} signs in as {arn}")))
            }
            Action::PromotePending {
                secret_id,
                token,
                from_version,
            } => {
                let secrets = self
                    .secrets
                    .as_ref()
                    .ok_or_else(|| not_wired("Secrets Manager"))?;
                secrets
                    .promote(secret_id, token, from_version.as_deref())
                    .await?;
                Ok(Some(format!(
                    "AWSCURRENT of {secret_id} is now version {token}"
                )))
            }
            // Hand-offs and webhook posts are createkey-detector's alone; its own effects
            // carry them and hand everything else here.
            Action::HandOff { .. } => Err(not_wired("Lambda")),
            Action::Alert { .. } => Err(not_wired("webhook")),
            // The reads were made before this step runs (deactivate-key's sweep): its row
            // is the record that they were, settled after what they showed was acted on.
            Action::SweepHistory {
                key_id,
                lookback_hours,
                ..
            } => Ok(Some(format!(
                "the last {lookback_hours} h of key {key_id}'s CloudTrail event history read and acted on"
            ))),
            Action::SendEmail { email } => {
                let mailer = self.mailer.as_ref().ok_or_else(|| not_wired("SES"))?;
                let id = mailer.send(email).await?;
                Ok(Some(format!("email {id} sent to {}", email.to)))
            }
            Action::StartRunbook {
                document,
                user,
                key_id,
                assume_role_arn,
                client_token,
            } => {
                let runbooks = self.runbooks.as_ref().ok_or_else(|| not_wired("SSM"))?;
                let id = runbooks
                    .start(
                        document,
                        user,
                        key_id,
                        assume_role_arn.as_deref(),
                        client_token,
                    )
                    .await?;
                Ok(Some(format!(
                    "automation execution {id} of {document} for key {key_id} of {user}"
                )))
            }
            Action::ImportFinding {
                finding, resolve, ..
            } => {
                let hub = self
                    .security_hub
                    .as_ref()
                    .ok_or_else(|| not_wired("Security Hub"))?;
                // Resolved before the import replaces what the finding told: a retry of
                // an import that failed after the update reads it resolved already. A
                // resolve that fails (refused, throttled) never holds the import back: the
                // finding stays open, and the step's detail says it was not resolved.
                let resolved = match resolve {
                    true => Some(hub.resolve_if_told(finding).await),
                    false => None,
                };
                let imported = hub.import(finding).await?;
                Ok(Some(match resolved {
                    Some(Ok(true)) => {
                        format!("{imported}; set RESOLVED: it told of a failure this run completed")
                    }
                    Some(Err(e)) => format!("{imported}; not set RESOLVED: {e}"),
                    _ => imported,
                }))
            }
            Action::OpenIncident { incident } => {
                let incidents = self
                    .incidents
                    .as_ref()
                    .ok_or_else(|| not_wired("Incident Manager"))?;
                let arn = incidents.start(incident).await?;
                Ok(Some(keyguard_core::plan::incident_detail(&arn)))
            }
            Action::RecordExemption {
                principal,
                account,
                provenance,
            } => {
                let record = self
                    .exemptions
                    .as_ref()
                    .ok_or_else(|| not_wired("exemption record"))?;
                let kept = record.record(account.as_ref(), principal, provenance).await?;
                let (kind, name) = match principal {
                    keyguard_core::Principal::User(u) => ("user", u.as_str()),
                    keyguard_core::Principal::Role(r) => ("role", r.as_str()),
                };
                Ok(Some(if kept {
                    format!("recorded: {kind} {name} tagged exempt by {}", provenance.set_by)
                } else {
                    "a later call's record is kept".to_owned()
                }))
            }
            Action::Remember {
                account,
                memo,
                until,
            } => {
                let memory = self.memory.as_ref().ok_or_else(|| not_wired("memory"))?;
                let kept = memory.remember(account, memo, *until).await?;
                Ok(Some(if kept {
                    format!("remembered until {}: {}", until.to_rfc3339(), memo.summary())
                } else {
                    "a later event's memory is kept".to_owned()
                }))
            }
            Action::AddToIncident {
                incident_arn,
                event_time,
                event_data,
                client_token,
                ..
            } => {
                let incidents = self
                    .incidents
                    .as_ref()
                    .ok_or_else(|| not_wired("Incident Manager"))?;
                let id = incidents
                    .add_to_timeline(incident_arn, *event_time, event_data, client_token)
                    .await?;
                Ok(Some(format!("timeline event {id} on {incident_arn}")))
            }
            Action::Notify { notice } => match &self.notifier {
                Some(n) => n
                    .notify(notice)
                    .await
                    .map(|id| Some(format!("published as {id}"))),
                None => Ok(Some("logged only: no notice topic configured".to_owned())),
            },
        }
    }
}
