//! The hand-off's proof of origin: an HMAC-SHA-256 made by KMS (`kms:GenerateMac`) with
//! a key whose policy lets only createkey-detector's role make MACs and only
//! deactivate-key's role check them (`kms:VerifyMac`). The key never leaves KMS.
//!
//! deactivate-key checks with the key *it* is configured with (`HANDOFF_KEY_ID`), never
//! with one the payload names, and refuses what does not verify.

use crate::error::effect_error;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::MacAlgorithmSpec;
use keyguard_core::events::Handoff;
use keyguard_core::guard::HandoffCheck;
use keyguard_core::EffectError;

#[derive(Clone)]
pub struct HandoffKey {
    client: aws_sdk_kms::Client,
    /// `HANDOFF_KEY_ID`: a key id, ARN or alias of a KMS `HMAC_256` key.
    key_id: String,
}

impl HandoffKey {
    /// Creates an HMAC key as `infra/shared/` does (`HMAC_256`, `GENERATE_VERIFY_MAC`) and
    /// returns its id. For local runs and tests; deployed stacks own the key.
    pub async fn create(sdk: &aws_config::SdkConfig) -> Result<String, EffectError> {
        use aws_sdk_kms::types::{KeySpec, KeyUsageType};
        let out = aws_sdk_kms::Client::new(sdk)
            .create_key()
            .key_spec(KeySpec::Hmac256)
            .key_usage(KeyUsageType::GenerateVerifyMac)
            .description("keyguard hand-off MAC key (local)")
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(out
            .key_metadata()
            .map(|m| m.key_id().to_owned())
            .unwrap_or_default())
    }

    pub fn new(sdk: &aws_config::SdkConfig, key_id: &str) -> Self {
        Self {
            client: aws_sdk_kms::Client::new(sdk),
            key_id: key_id.to_owned(),
        }
    }

    /// Base64 of the MAC over the hand-off's signed message.
    pub async fn sign(&self, handoff: &Handoff) -> Result<String, EffectError> {
        let out = self
            .client
            .generate_mac()
            .key_id(&self.key_id)
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .message(Blob::new(handoff.signed_message()))
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        let mac = out.mac().map(|b| b.as_ref().to_vec()).unwrap_or_default();
        Ok(aws_smithy_types::base64::encode(mac))
    }

    /// Whether the hand-off's MAC is one this key made over exactly this message. KMS
    /// answers a wrong MAC with `KMSInvalidMacException`; any other failure is also a
    /// `Err` when KMS could not be asked (throttled, unreachable): the caller fails the
    /// invocation so Lambda retries, rather than refuse a real hand-off for good.
    pub async fn verify(&self, handoff: &Handoff) -> Result<HandoffCheck, EffectError> {
        let Some(mac) = handoff.mac.as_deref() else {
            return Ok(HandoffCheck::Rejected("it carries no mac".into()));
        };
        let Ok(mac) = aws_smithy_types::base64::decode(mac) else {
            return Ok(HandoffCheck::Rejected("its mac is not base64".into()));
        };
        if mac.is_empty() || mac.len() > 6144 {
            return Ok(HandoffCheck::Rejected(
                "its mac has no plausible length".into(),
            ));
        }
        let out = self
            .client
            .verify_mac()
            .key_id(&self.key_id)
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .message(Blob::new(handoff.signed_message()))
            .mac(Blob::new(mac))
            .send()
            .await;
        let refused = || HandoffCheck::Rejected("its mac does not verify".into());
        match out {
            Ok(o) if o.mac_valid() => Ok(HandoffCheck::Verified),
            Ok(_) => Ok(refused()),
            Err(e) => {
                let e = effect_error(&e);
                match e.code.as_deref() {
                    Some("KMSInvalidMacException") => Ok(refused()),
                    // The configured key is not an HMAC key, or not ours to use: a
                    // deployment error, and still no proof.
                    Some(
                        "InvalidKeyUsageException"
                        | "NotFoundException"
                        | "AccessDeniedException"
                        | "DisabledException"
                        | "KMSInvalidStateException",
                    ) => Ok(HandoffCheck::Rejected(format!(
                        "its mac could not be checked with HANDOFF_KEY_ID: {e}"
                    ))),
                    _ => Err(e),
                }
            }
        }
    }
}
