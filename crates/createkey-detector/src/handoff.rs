//! The hand-off to deactivate-key: an asynchronous Lambda invocation
//! (`InvocationType=Event`), so a slow containment never holds the detector, and Lambda
//! itself retries the invocation and sends it to the on-failure destination if it fails.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use keyguard_core::{AccessKeyId, EffectError, ErrorKind, UserName};
use serde_json::json;

pub struct Invoker {
    client: aws_sdk_lambda::Client,
    /// `DEACTIVATE_FUNCTION_NAME`: a name, an ARN or an alias ARN.
    function: String,
}

/// What deactivate-key is handed.
pub struct HandOff<'a> {
    pub key_id: &'a AccessKeyId,
    pub user: Option<&'a UserName>,
    pub classifier_source: &'a str,
    pub event_id: &'a str,
}

impl HandOff<'_> {
    /// The hand-off event deactivate-key reads (`events/deactivate-key/handoff.json`).
    pub fn payload(&self) -> serde_json::Value {
        let mut v = json!({
            "accessKeyId": self.key_id.as_str(),
            "classifierSource": self.classifier_source,
            "eventId": self.event_id,
        });
        if let Some(user) = self.user {
            v["userName"] = json!(user.as_str());
        }
        v
    }
}

impl Invoker {
    pub fn new(sdk: &keyguard_aws::SdkConfig, function: &str) -> Self {
        Self::with_client(aws_sdk_lambda::Client::new(sdk), function)
    }

    pub fn with_client(client: aws_sdk_lambda::Client, function: &str) -> Self {
        Self {
            client,
            function: function.to_owned(),
        }
    }

    pub async fn hand_off(&self, h: &HandOff<'_>) -> Result<String, EffectError> {
        let out = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(h.payload().to_string()))
            .send()
            .await
            .map_err(|e| EffectError {
                // "Function not found" is a broken deployment, never a vanished key: it
                // must fail the step (and the invocation), not read as a clean not-found.
                kind: ErrorKind::Other,
                ..keyguard_aws::effect_error(&e)
            })?;
        // An asynchronous invocation is accepted with 202 and never carries a function
        // error; anything else means Lambda ran it some other way, which is not a
        // hand-off we can vouch for.
        if let Some(err) = out.function_error() {
            return Err(EffectError::new(
                ErrorKind::Other,
                Some("FunctionError"),
                format!("{} answered with a function error: {err}", self.function),
            ));
        }
        Ok(format!(
            "{} invoked asynchronously for key {} (HTTP {})",
            self.function,
            h.key_id,
            out.status_code()
        ))
    }
}
