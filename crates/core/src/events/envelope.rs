//! The EventBridge envelope around every event AWS routes to a function.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Envelope {
    pub id: String,
    pub detail_type: String,
    pub source: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub resources: Vec<String>,
}

impl Envelope {
    /// EventBridge lets only AWS services publish sources that begin with `aws.`; any
    /// principal with `events:PutEvents` can publish every other source.
    pub fn is_from_aws(&self) -> bool {
        self.source.starts_with("aws.")
    }
}
