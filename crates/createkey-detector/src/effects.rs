//! createkey-detector's effects: webhook posts and hand-offs here, everything else (SNS)
//! through the shared [`AwsEffects`].

use crate::handoff::Invoker;
use crate::webhook::Webhooks;
use keyguard_aws::AwsEffects;
use keyguard_core::{Action, EffectError, Effects, Prior, Scope};

pub struct DetectorEffects {
    pub aws: AwsEffects,
    pub webhooks: Webhooks,
    pub invoker: Invoker,
}

impl Effects for DetectorEffects {
    async fn before(
        &self,
        at: Option<&Scope>,
        action: &Action,
    ) -> Result<Option<Prior>, EffectError> {
        self.aws.before(at, action).await
    }

    async fn perform(
        &self,
        at: Option<&Scope>,
        action: &Action,
        prior: Option<&Prior>,
    ) -> Result<Option<String>, EffectError> {
        match action {
            Action::Alert { channel, notice } => {
                self.webhooks.post(*channel, notice).await.map(Some)
            }
            Action::HandOff {
                key_id,
                user,
                account,
                classifier_source,
                event_id,
            } => {
                let h = keyguard_core::events::Handoff {
                    access_key_id: key_id.clone(),
                    account_id: account.clone(),
                    user_name: user.clone(),
                    role_name: None,
                    classifier_source: Some(classifier_source.clone()),
                    event_id: Some(event_id.clone()),
                    issued_at: None,
                    mac: None,
                };
                self.invoker.hand_off(h, chrono::Utc::now()).await.map(Some)
            }
            other => self.aws.perform(at, other, prior).await,
        }
    }

    fn lacks(&self, action: &str) -> Option<&'static str> {
        match action {
            "alert" | "hand_off" => None,
            other => self.aws.lacks(other),
        }
    }
}
