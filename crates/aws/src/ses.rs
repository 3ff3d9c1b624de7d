//! Email through SES (v2): one message, one recipient, text and HTML.

use crate::error::effect_error;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use keyguard_core::{EffectError, Email, ErrorKind};

/// SES refuses this message, and would refuse it again (`MessageRejected`: an address the
/// sandbox has not verified, content it will not carry). Throttling, a paused account or
/// an unverified MAIL FROM domain may mend, and stay failures the run retries.
const REJECTED_FOR_GOOD: &[&str] = &["MessageRejected"];

fn permanent_or_not(mut e: EffectError) -> EffectError {
    if e.code
        .as_deref()
        .is_some_and(|c| REJECTED_FOR_GOOD.contains(&c))
    {
        e.kind = ErrorKind::Rejected;
    }
    e
}

#[derive(Clone)]
pub struct Mailer {
    client: aws_sdk_sesv2::Client,
}

fn content(text: &str) -> Result<Content, EffectError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| EffectError::new(ErrorKind::Other, None, e.to_string()))
}

impl Mailer {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_sesv2::Client::new(config),
        }
    }

    /// Sends the email; returns SES's message id.
    pub async fn send(&self, email: &Email) -> Result<String, EffectError> {
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(
                Body::builder()
                    .text(content(&email.text)?)
                    .html(content(&email.html)?)
                    .build(),
            )
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&email.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| permanent_or_not(effect_error(&e)))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}
