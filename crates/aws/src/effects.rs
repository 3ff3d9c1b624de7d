//! The [`Effects`] implementation: each planned action to the SDK call that carries it out.

use crate::{Iam, SnsNotifier};
use keyguard_core::{Action, EffectError, Effects, Notifier};

pub struct AwsEffects {
    pub iam: Iam,
    /// Where notices go; without one they are only logged (and say so in the report).
    pub notifier: Option<SnsNotifier>,
}

impl Effects for AwsEffects {
    async fn perform(&self, action: &Action) -> Result<Option<String>, EffectError> {
        match action {
            Action::DeactivateKey { user, key_id } => {
                self.iam.deactivate_key(user, key_id).await?;
                Ok(Some(format!("key {key_id} of {user} set Inactive")))
            }
            Action::RevokeSessions {
                principal,
                issued_before,
                policy_name,
            } => {
                self.iam
                    .revoke_sessions(principal, *issued_before, policy_name)
                    .await?;
                Ok(Some(format!(
                    "inline policy {policy_name} denies sessions issued before {issued_before}"
                )))
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
