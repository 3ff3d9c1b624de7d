//! CloudTrail records, bare (as in log files) or as the `detail` of an EventBridge event.

use serde::{de, Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Who made the call. Every field but `type` is optional because each identity type
/// carries a different subset (a Root call has no user name, an AWSService none at all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    #[serde(rename = "type")]
    pub identity_type: IdentityType,
    #[serde(default)]
    pub principal_id: Option<String>,
    #[serde(default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    /// Kept raw: published records carry placeholders such as `EXAMPLE_KEY`. Decisions
    /// validate it with [`crate::AccessKeyId::parse`].
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub invoked_by: Option<String>,
    #[serde(default)]
    pub session_context: Option<SessionContext>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    #[serde(default)]
    pub session_issuer: Option<SessionIssuer>,
    #[serde(default)]
    pub attributes: Option<SessionAttributes>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer {
    #[serde(default, rename = "type")]
    pub issuer_type: Option<String>,
    #[serde(default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    /// For a role session: the role's name.
    #[serde(default)]
    pub user_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAttributes {
    #[serde(default)]
    pub creation_date: Option<String>,
    #[serde(default)]
    pub mfa_authenticated: Option<String>,
}

/// `userIdentity.type`. An unknown type is kept, not rejected: AWS adds types
/// (IdentityCenterUser arrived in 2023) and a record must not be lost for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityType {
    IamUser,
    AssumedRole,
    Root,
    AwsService,
    FederatedUser,
    IdentityCenterUser,
    AwsAccount,
    Unknown(String),
}

impl IdentityType {
    pub fn as_str(&self) -> &str {
        match self {
            Self::IamUser => "IAMUser",
            Self::AssumedRole => "AssumedRole",
            Self::Root => "Root",
            Self::AwsService => "AWSService",
            Self::FederatedUser => "FederatedUser",
            Self::IdentityCenterUser => "IdentityCenterUser",
            Self::AwsAccount => "AWSAccount",
            Self::Unknown(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for IdentityType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(match raw.as_str() {
            "IAMUser" => Self::IamUser,
            "AssumedRole" => Self::AssumedRole,
            "Root" => Self::Root,
            "AWSService" => Self::AwsService,
            "FederatedUser" => Self::FederatedUser,
            "IdentityCenterUser" => Self::IdentityCenterUser,
            "AWSAccount" => Self::AwsAccount,
            _ => Self::Unknown(raw),
        })
    }
}

impl Serialize for IdentityType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One CloudTrail record. `request_parameters`/`response_elements` stay raw; the calls
/// keyguard acts on are decoded into [`ApiCall`] at parse time, so a wrong type there is a
/// parse error naming the field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudTrailRecord {
    pub event_name: String,
    pub event_source: String,
    pub user_identity: UserIdentity,
    #[serde(default, rename = "eventID")]
    pub event_id: Option<String>,
    #[serde(default)]
    pub event_time: Option<String>,
    #[serde(default)]
    pub event_type: Option<String>,
    #[serde(default)]
    pub aws_region: Option<String>,
    #[serde(default, rename = "sourceIPAddress")]
    pub source_ip_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub recipient_account_id: Option<String>,
    #[serde(default)]
    pub request_parameters: Option<Value>,
    #[serde(default)]
    pub response_elements: Option<Value>,
    #[serde(skip)]
    pub call: ApiCall,
}

impl CloudTrailRecord {
    /// A call that failed (`errorCode` set) changed nothing.
    pub fn succeeded(&self) -> bool {
        self.error_code.is_none()
    }
}

/// The calls keyguard's rules read, decoded.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum ApiCall {
    CreateAccessKey(CreateAccessKey),
    UpdateAccessKey(KeyRequest),
    DeleteAccessKey(KeyRequest),
    CreateUser(UserRequest),
    CreateLoginProfile(UserRequest),
    AttachUserPolicy(AttachUserPolicy),
    RunInstances(RunInstances),
    #[default]
    Other,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRequest {
    /// Absent when the caller acts on itself.
    #[serde(default)]
    pub user_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRequest {
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKey {
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub create_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CreateAccessKey {
    /// `requestParameters.userName`: absent when callers create a key for themselves.
    pub requested_user: Option<String>,
    /// `responseElements.accessKey`: absent when the call failed.
    pub created: Option<CreatedKey>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachUserPolicy {
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub policy_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RunInstances {
    pub instance_type: Option<String>,
    /// Instances asked for: the largest `maxCount` of the request's items.
    pub requested: u64,
    /// Instances started, from the response.
    pub started: u64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RunInstancesRequest {
    #[serde(default)]
    instance_type: Option<String>,
    #[serde(default)]
    instances_set: Option<ItemSet<RunItem>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunItem {
    #[serde(default, deserialize_with = "lenient_u64")]
    max_count: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    min_count: Option<u64>,
}

#[derive(Deserialize)]
struct ItemSet<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

#[derive(Deserialize, Default)]
struct RunInstancesResponse {
    #[serde(default, rename = "instancesSet")]
    instances_set: Option<ItemSet<Value>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateAccessKeyResponse {
    #[serde(default)]
    access_key: Option<CreatedKey>,
}

/// CloudTrail writes counts as numbers, converters sometimes as strings.
fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| de::Error::custom("expected a non-negative integer")),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| de::Error::custom("expected a non-negative integer")),
        Some(_) => Err(de::Error::custom("expected a non-negative integer")),
    }
}

/// Decodes `field` (a raw JSON value or null) as `T`, reporting errors under `path`.
fn decode<T: serde::de::DeserializeOwned + Default>(
    value: &Option<Value>,
    path: &str,
) -> Result<T, super::ParseError> {
    match value {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => super::decode_at(v, path),
    }
}

impl ApiCall {
    pub(super) fn decode(record: &CloudTrailRecord) -> Result<Self, super::ParseError> {
        const REQ: &str = "requestParameters";
        const RESP: &str = "responseElements";
        let req = &record.request_parameters;
        let resp = &record.response_elements;
        Ok(
            match (record.event_source.as_str(), record.event_name.as_str()) {
                ("iam.amazonaws.com", "CreateAccessKey") => {
                    let request: UserRequest = decode(req, REQ)?;
                    let response: CreateAccessKeyResponse = decode(resp, RESP)?;
                    Self::CreateAccessKey(CreateAccessKey {
                        requested_user: request.user_name,
                        created: response.access_key,
                    })
                }
                ("iam.amazonaws.com", "UpdateAccessKey") => {
                    Self::UpdateAccessKey(decode(req, REQ)?)
                }
                ("iam.amazonaws.com", "DeleteAccessKey") => {
                    Self::DeleteAccessKey(decode(req, REQ)?)
                }
                ("iam.amazonaws.com", "CreateUser") => Self::CreateUser(decode(req, REQ)?),
                ("iam.amazonaws.com", "CreateLoginProfile") => {
                    Self::CreateLoginProfile(decode(req, REQ)?)
                }
                ("iam.amazonaws.com", "AttachUserPolicy") => {
                    Self::AttachUserPolicy(decode(req, REQ)?)
                }
                ("ec2.amazonaws.com", "RunInstances") => {
                    let request: RunInstancesRequest = decode(req, REQ)?;
                    let response: RunInstancesResponse = decode(resp, RESP)?;
                    let items = request.instances_set.map(|s| s.items).unwrap_or_default();
                    let requested = items
                        .iter()
                        .map(|i| i.max_count.or(i.min_count).unwrap_or(1))
                        .max()
                        .unwrap_or(0);
                    let started = response.instances_set.map_or(0, |s| s.items.len() as u64);
                    Self::RunInstances(RunInstances {
                        instance_type: request.instance_type,
                        requested,
                        started,
                    })
                }
                _ => Self::Other,
            },
        )
    }
}
