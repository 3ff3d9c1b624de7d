//! createkey-detector's effects: webhook posts and hand-offs here, everything else (SNS)
//! through the shared [`AwsEffects`].

use crate::handoff::{HandOff, Invoker};
use crate::webhook::Webhooks;
use keyguard_aws::AwsEffects;
use keyguard_core::{Action, EffectError, Effects};

pub struct DetectorEffects {
    pub aws: AwsEffects,
    pub webhooks: Webhooks,
    pub invoker: Invoker,
}

impl Effects for DetectorEffects {
    async fn perform(&self, action: &Action) -> Result<Option<String>, EffectError> {
        match action {
            Action::Alert { channel, notice } => {
                self.webhooks.post(*channel, notice).await.map(Some)
            }
            Action::HandOff {
                key_id,
                user,
                classifier_source,
                event_id,
            } => {
                let h = HandOff {
                    key_id,
                    user: user.as_ref(),
                    classifier_source,
                    event_id,
                };
                self.invoker.hand_off(&h).await.map(Some)
            }
            other => self.aws.perform(other).await,
        }
    }
}
