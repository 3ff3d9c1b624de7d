//! Email through SES (v2): one message, one recipient, text and HTML.

use crate::error::effect_error;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use keyguard_core::{EffectError, Email, ErrorKind};

/// SES refuses this message, and would refuse it again (`MessageRejected`: an address the
/// sandbox has not verified, content it will not carry). Throttling, a paused account or
/// an unverified MAIL FROM domain may mend, and stay failures the run retries.
const REJECTED_FOR_GOOD: &[&str] = &["MessageRejected"];

/// A rejection is the recipient's only when SES does not name the sender: "Email address
/// is not verified. The following identities failed the check …" lists the sender too
/// when it is the sender's identity that lapsed, and then every email of the run would
/// be refused. That is a configuration failure: it stays a failure, so the people's key
/// actions keep waiting for their email instead of going ahead unannounced.
fn permanent_or_not(mut e: EffectError, sender: &str) -> EffectError {
    let names_sender = !sender.is_empty()
        && e.message
            .to_ascii_lowercase()
            .contains(&sender.to_ascii_lowercase());
    if e.code
        .as_deref()
        .is_some_and(|c| REJECTED_FOR_GOOD.contains(&c))
        && !names_sender
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
            .map_err(|e| permanent_or_not(effect_error(&e), &email.from))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(message: &str) -> EffectError {
        EffectError::new(ErrorKind::Other, Some("MessageRejected"), message)
    }

    #[test]
    fn a_rejection_is_permanent_only_when_it_is_the_recipients() {
        let sender = "keyguard@example.com";
        let recipient = rejected("Email address is not verified. The following identities failed the check in region EU-WEST-3: bob@example.com");
        assert_eq!(
            permanent_or_not(recipient, sender).kind,
            ErrorKind::Rejected
        );
        let lapsed = rejected("Email address is not verified. The following identities failed the check in region US-EAST-1: KeyGuard@Example.com, bob@example.com");
        assert_eq!(
            permanent_or_not(lapsed, sender).kind,
            ErrorKind::Other,
            "the sender's identity: every email would fail"
        );
        let throttled = EffectError::new(
            ErrorKind::Other,
            Some("TooManyRequestsException"),
            "slow down",
        );
        assert_eq!(permanent_or_not(throttled, sender).kind, ErrorKind::Other);
    }
}
