//! The payload Secrets Manager sends a rotation function (not an EventBridge event).

use super::ParseError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RotationStep {
    #[serde(rename = "createSecret")]
    Create,
    #[serde(rename = "setSecret")]
    Set,
    #[serde(rename = "testSecret")]
    Test,
    #[serde(rename = "finishSecret")]
    Finish,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationEvent {
    pub step: RotationStep,
    pub secret_id: String,
    pub client_request_token: String,
    #[serde(default)]
    pub rotation_token: Option<String>,
}

impl RotationEvent {
    /// Secrets Manager's own limits (a `SecretId` of 1 to 2,048 characters, a
    /// `ClientRequestToken` of 32 to 64): anything else did not come from it, and would
    /// otherwise be echoed whole into the report and the logs.
    pub(crate) fn checked(self) -> Result<Self, ParseError> {
        let fields = [
            ("SecretId", self.secret_id.chars().count(), 1, 2048),
            (
                "ClientRequestToken",
                self.client_request_token.chars().count(),
                32,
                64,
            ),
            (
                "RotationToken",
                self.rotation_token
                    .as_deref()
                    .map_or(0, |t| t.chars().count()),
                0,
                256,
            ),
        ];
        for (path, len, min, max) in fields {
            if !(min..=max).contains(&len) {
                return Err(ParseError::Field {
                    path: path.into(),
                    message: format!("{len} characters; Secrets Manager sends {min} to {max}"),
                });
            }
        }
        Ok(self)
    }
}
