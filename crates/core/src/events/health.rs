//! AWS Health events: `AWS_RISK_CREDENTIALS_EXPOSED` names a leaked key.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const CREDENTIALS_EXPOSED: &str = "AWS_RISK_CREDENTIALS_EXPOSED";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthEvent {
    pub event_type_code: String,
    #[serde(default)]
    pub event_arn: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub event_type_category: Option<String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub affected_entities: Vec<AffectedEntity>,
    /// The organisational view names the member account the event is about.
    #[serde(default)]
    pub affected_account: Option<String>,
    /// Free-form; for exposed keys it may carry `publicKey` and `userName`.
    #[serde(default)]
    pub event_metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AffectedEntity {
    pub entity_value: String,
}

impl HealthEvent {
    pub fn is_credentials_exposed(&self) -> bool {
        self.event_type_code == CREDENTIALS_EXPOSED
    }

    fn metadata(&self, name: &str) -> Option<&str> {
        self.event_metadata.as_ref()?.get(name)?.as_str()
    }

    /// The exposed key: the first affected entity, else `eventMetadata.publicKey`.
    pub fn exposed_key(&self) -> Option<&str> {
        self.affected_entities
            .first()
            .map(|e| e.entity_value.as_str())
            .or_else(|| self.metadata("publicKey"))
    }

    pub fn exposed_user(&self) -> Option<&str> {
        self.metadata("userName")
    }
}
