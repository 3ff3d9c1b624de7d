//! GuardDuty findings, bare or as the `detail` of a "GuardDuty Finding" event.

use serde::{de, Deserialize, Deserializer, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub id: String,
    #[serde(rename = "type")]
    pub finding_type: String,
    pub severity: f64,
    #[serde(
        default,
        deserialize_with = "super::lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(
        default,
        deserialize_with = "super::lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub region: Option<String>,
    #[serde(
        default,
        deserialize_with = "super::lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub title: Option<String>,
    #[serde(
        default,
        deserialize_with = "super::lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<String>,
    #[serde(
        default,
        deserialize_with = "super::lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
}

impl Finding {
    pub fn access_key_details(&self) -> Option<&AccessKeyDetails> {
        self.resource.as_ref()?.access_key_details.as_ref()
    }

    /// GuardDuty's generated sample findings (`service.additionalInfo.sample`) are not
    /// evidence of anything.
    pub fn is_sample(&self) -> bool {
        self.service
            .as_ref()
            .and_then(|s| s.additional_info.as_ref())
            .and_then(|a| a.sample)
            .unwrap_or(false)
    }

    /// The account of the remote API caller, when GuardDuty names one: usually where the
    /// finding account's credential was used from, sometimes the caller's own
    /// credential's account; only STS can tell (`containment::finding_contested`).
    pub fn remote_account(&self) -> Option<&str> {
        self.service
            .as_ref()?
            .action
            .as_ref()?
            .aws_api_call_action
            .as_ref()?
            .remote_account_details
            .as_ref()?
            .account_id
            .as_deref()
    }

    pub fn remote_ip(&self) -> Option<&str> {
        let call = self
            .service
            .as_ref()?
            .action
            .as_ref()?
            .aws_api_call_action
            .as_ref()?;
        let ip = call.remote_ip_details.as_ref()?;
        ip.ip_address_v4.as_deref().or(ip.ip_address_v6.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_details: Option<AccessKeyDetails>,
}

/// Kept raw: GuardDuty's generated findings use placeholders such as
/// `GeneratedFindingAccessKeyId`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// For `AssumedRole` GuardDuty puts the role's name here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ServiceAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_info: Option<AdditionalInfo>,
    #[serde(
        default,
        deserialize_with = "super::lenient::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub archived: Option<bool>,
    #[serde(
        default,
        deserialize_with = "super::lenient::count",
        skip_serializing_if = "Option::is_none"
    )]
    pub count: Option<u64>,
    #[serde(
        default,
        deserialize_with = "super::lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_first_seen: Option<String>,
    #[serde(
        default,
        deserialize_with = "super::lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_last_seen: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAction {
    #[serde(
        default,
        deserialize_with = "super::lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub action_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_api_call_action: Option<ApiCallAction>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiCallAction {
    #[serde(
        default,
        deserialize_with = "super::lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub api: Option<String>,
    #[serde(
        default,
        deserialize_with = "super::lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_name: Option<String>,
    #[serde(
        default,
        deserialize_with = "super::lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub caller_type: Option<String>,
    #[serde(
        default,
        deserialize_with = "super::lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip_details: Option<RemoteIpDetails>,
    /// The caller's own account when it is not the finding's (GuardDuty's
    /// `RemoteAccountDetails`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_account_details: Option<RemoteAccountDetails>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteAccountDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(
        default,
        deserialize_with = "super::lenient::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub affiliated: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteIpDetails {
    #[serde(
        default,
        deserialize_with = "super::lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ip_address_v4: Option<String>,
    #[serde(
        default,
        deserialize_with = "super::lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ip_address_v6: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalInfo {
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub sample: Option<bool>,
}

/// `sample` is `true` in GuardDuty's JSON, `"true"` in some exports.
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(de::Error::custom("expected true or false")),
    }
}
