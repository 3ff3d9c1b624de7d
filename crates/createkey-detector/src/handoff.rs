//! The hand-off to deactivate-key: an asynchronous Lambda invocation
//! (`InvocationType=Event`), so a slow containment never holds the detector, and Lambda
//! itself retries the invocation and sends it to the on-failure destination if it fails.

//!
//! The body carries a MAC from KMS (see `keyguard_aws::handoff_mac`): deactivate-key
//! believes a hand-off only when it verifies, because any principal in the account with
//! `lambda:InvokeFunction` could otherwise send one.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use keyguard_aws::HandoffKey;
use keyguard_core::events::Handoff;
use keyguard_core::{EffectError, ErrorKind, Timestamp};
use std::time::Duration;

/// Each Lambda `Invoke` and each KMS call is bounded, so the detector's worst case is
/// a sum of known budgets (see `Settings::worst_case`).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Invoker {
    client: aws_sdk_lambda::Client,
    /// `DEACTIVATE_FUNCTION_NAME`: a name, an ARN or an alias ARN.
    function: String,
    key: HandoffKey,
}

impl Invoker {
    pub fn new(sdk: &keyguard_aws::SdkConfig, function: &str, handoff_key: &str) -> Self {
        let sdk = keyguard_aws::bounded(sdk, CALL_TIMEOUT);
        Self {
            client: aws_sdk_lambda::Client::new(&sdk),
            function: function.to_owned(),
            key: HandoffKey::new(&sdk, handoff_key),
        }
    }

    /// An invoker with its own Lambda client (tests point it at a local receiver).
    pub fn with_client(client: aws_sdk_lambda::Client, function: &str, key: HandoffKey) -> Self {
        Self {
            client,
            function: function.to_owned(),
            key,
        }
    }

    /// The signed hand-off deactivate-key reads (`events/deactivate-key/handoff.json`
    /// shows one, with a MAC only the tests' key makes).
    pub async fn signed(&self, mut h: Handoff, now: Timestamp) -> Result<Handoff, EffectError> {
        h.issued_at = Some(now.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        // The MAC covers every field but itself.
        h.mac = Some(self.key.sign(&h).await?);
        Ok(h)
    }

    pub async fn hand_off(&self, h: Handoff, now: Timestamp) -> Result<String, EffectError> {
        let h = self.signed(h, now).await?;
        let payload = serde_json::to_string(&h).map_err(|e| {
            EffectError::new(
                ErrorKind::Other,
                None,
                format!("hand-off not serialisable: {e}"),
            )
        })?;
        let out = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
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
            "{} invoked asynchronously with a signed hand-off for key {} in account {} (HTTP {})",
            self.function,
            h.access_key_id,
            h.account_id,
            out.status_code()
        ))
    }
}
