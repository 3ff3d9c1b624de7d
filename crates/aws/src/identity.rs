//! Who keyguard itself runs as, read once at cold start, so it never contains its own
//! credential.

use crate::error::effect_error;
use keyguard_core::policy::containment::{self, SelfIdentity};
use keyguard_core::EffectError;

/// `sts:GetCallerIdentity`, which needs no permission.
async fn caller(
    config: &aws_config::SdkConfig,
) -> Result<aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput, EffectError> {
    aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| effect_error(&e))
}

/// Who keyguard runs as, plus the key id the runtime handed us.
pub async fn whoami(config: &aws_config::SdkConfig) -> Result<SelfIdentity, EffectError> {
    let out = caller(config).await?;
    let arn = out.arn().unwrap_or_default();
    let role = containment::role_from_arn(arn).map(str::to_owned);
    let user = user_from_arn(arn).map(str::to_owned);
    Ok(SelfIdentity {
        key_id: std::env::var("AWS_ACCESS_KEY_ID").ok(),
        user,
        role,
        account: out
            .account()
            .and_then(|a| keyguard_core::AccountId::parse(a).ok()),
    })
}

/// The user name in `arn:aws:iam::ACCOUNT:user/PATH/NAME`.
pub fn user_from_arn(arn: &str) -> Option<&str> {
    arn.split_once(":user/")?.1.rsplit('/').next()
}

/// The account keyguard runs in.
pub async fn account(config: &aws_config::SdkConfig) -> Result<String, EffectError> {
    Ok(caller(config)
        .await?
        .account()
        .unwrap_or_default()
        .to_owned())
}

/// The caller's ARN: who `keyguard undo` records as having undone a step.
pub async fn caller_arn(config: &aws_config::SdkConfig) -> Result<String, EffectError> {
    Ok(caller(config).await?.arn().unwrap_or_default().to_owned())
}
