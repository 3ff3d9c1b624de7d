//! Notices to an SNS topic: a short subject and the notice as JSON (never a secret).

use crate::error::effect_error;
use keyguard_core::{EffectError, Notice, Notifier};

#[derive(Clone)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

/// SNS subjects must be fewer than 100 characters, printable ASCII, no line breaks
/// (AWS's `Publish` reference): 99 at most.
const SUBJECT_MAX: usize = 99;

fn subject(notice: &Notice) -> String {
    let severity = serde_json::to_value(notice.severity)
        .ok()
        .and_then(|v| v.as_str().map(str::to_uppercase))
        .unwrap_or_default();
    format!("[keyguard {severity}] {}", notice.subject)
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .take(SUBJECT_MAX)
        .collect()
}

impl SnsNotifier {
    pub fn new(config: &aws_config::SdkConfig, topic_arn: &str) -> Self {
        Self {
            client: aws_sdk_sns::Client::new(config),
            topic_arn: topic_arn.to_owned(),
        }
    }

    /// The notifier `NOTICE_TOPIC_ARN` names, if it names one.
    pub fn configured(
        config: &aws_config::SdkConfig,
        common: &keyguard_core::config::Common,
    ) -> Option<Self> {
        common
            .notice_topic_arn
            .as_deref()
            .map(|arn| Self::new(config, arn))
    }
}

impl Notifier for SnsNotifier {
    async fn notify(&self, notice: &Notice) -> Result<String, EffectError> {
        let body = serde_json::to_string_pretty(notice).unwrap_or_else(|_| notice.subject.clone());
        let out = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject(notice))
            .message(body)
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyguard_core::Severity;

    #[test]
    fn subjects_are_short_and_printable() {
        let n = Notice::new(
            Severity::Critical,
            format!("root key \u{7} {}", "x".repeat(200)),
        );
        let s = subject(&n);
        assert!(s.starts_with("[keyguard CRITICAL] root key   x"), "{s}");
        assert!(
            s.chars().count() < 100,
            "AWS refuses a subject of 100 or more"
        );
        assert_eq!(s.chars().count(), SUBJECT_MAX);
    }
}
