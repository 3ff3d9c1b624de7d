//! The direct hand-off another keyguard function (or a human) sends deactivate-key.
//! It is keyguard's own format, so it is strict: a malformed key id is refused here.

use crate::key::{AccessKeyId, RoleName, UserName};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handoff {
    pub access_key_id: AccessKeyId,
    #[serde(default)]
    pub user_name: Option<UserName>,
    /// For a temporary (`ASIA`) key: the role whose sessions to revoke.
    #[serde(default)]
    pub role_name: Option<RoleName>,
    /// Who decided this key must be contained, e.g. `createkey-detector/backdoor-key`.
    #[serde(default)]
    pub classifier_source: Option<String>,
    /// The event that led to the hand-off; the idempotency key is built from it.
    #[serde(default)]
    pub event_id: Option<String>,
}
