//! The rotation runbook through SSM Automation.

use crate::error::effect_error;
use keyguard_core::{AccessKeyId, EffectError, ErrorKind, UserName};

#[derive(Clone)]
pub struct Runbooks {
    client: aws_sdk_ssm::Client,
    /// Passed to the runbook as `NoticeTopicArn`: where it tells of a rotation it refused
    /// or that failed, which happens after keyguard's own invocation has ended.
    notice_topic_arn: Option<String>,
}

impl Runbooks {
    pub fn new(config: &aws_config::SdkConfig, notice_topic_arn: Option<String>) -> Self {
        Self {
            client: aws_sdk_ssm::Client::new(config),
            notice_topic_arn,
        }
    }

    /// The same runbooks, started in the account `sdk` acts in (a member, through its
    /// member role), still telling keyguard's notice topic.
    pub fn in_account(&self, sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_ssm::Client::new(sdk),
            notice_topic_arn: self.notice_topic_arn.clone(),
        }
    }

    /// Starts `document` for exactly one key; returns the execution id. `client_token`
    /// makes SSM refuse a second start of the same step.
    pub async fn start(
        &self,
        document: &str,
        user: &UserName,
        key_id: &AccessKeyId,
        assume_role_arn: Option<&str>,
        client_token: &str,
    ) -> Result<String, EffectError> {
        let mut call = self
            .client
            .start_automation_execution()
            .document_name(document)
            .parameters("UserName", vec![user.to_string()])
            .parameters("AccessKeyId", vec![key_id.to_string()])
            .client_token(client_token);
        if let Some(role) = assume_role_arn {
            call = call.parameters("AutomationAssumeRole", vec![role.to_owned()]);
        }
        if let Some(topic) = &self.notice_topic_arn {
            call = call.parameters("NoticeTopicArn", vec![topic.clone()]);
        }
        let out = call.send().await.map_err(|e| effect_error(&e))?;
        out.automation_execution_id()
            .map(str::to_owned)
            .ok_or_else(|| {
                EffectError::new(
                    ErrorKind::Other,
                    None,
                    "StartAutomationExecution returned no execution id",
                )
            })
    }
}
