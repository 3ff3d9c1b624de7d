//! CloudTrail records, bare (as in log files) or as the `detail` of an EventBridge event.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Who made the call. Every field but `type` is optional because each identity type
/// carries a different subset (a Root call has no user name, an AWSService none at all).
/// A record with no `userIdentity` at all (some `AwsServiceEvent` records) has
/// [`IdentityType::Absent`]: it parses, names no credential, and the rules decide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// Missing in some service records: an unknown type, as any type AWS adds.
    #[serde(rename = "type", default = "IdentityType::unstated")]
    pub identity_type: IdentityType,
    #[serde(default, deserialize_with = "super::lenient::string")]
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
    #[serde(default, deserialize_with = "super::lenient::string")]
    pub invoked_by: Option<String>,
    #[serde(default)]
    pub session_context: Option<SessionContext>,
}

impl UserIdentity {
    /// What a record without `userIdentity` has.
    pub fn absent() -> Self {
        Self {
            identity_type: IdentityType::Absent,
            principal_id: None,
            arn: None,
            account_id: None,
            access_key_id: None,
            user_name: None,
            invoked_by: None,
            session_context: None,
        }
    }

    pub fn is_absent(&self) -> bool {
        self.identity_type == IdentityType::Absent
    }
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
    #[serde(default, deserialize_with = "super::lenient::string")]
    pub creation_date: Option<String>,
    /// `"true"`/`"false"` as CloudTrail writes it; a converter's boolean is kept as text.
    #[serde(default, deserialize_with = "super::lenient::string")]
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
    /// The record has no `userIdentity`.
    Absent,
    Unknown(String),
}

impl IdentityType {
    /// What an identity without `type` is.
    pub fn unstated() -> Self {
        Self::Unknown("unstated".into())
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::IamUser => "IAMUser",
            Self::AssumedRole => "AssumedRole",
            Self::Root => "Root",
            Self::AwsService => "AWSService",
            Self::FederatedUser => "FederatedUser",
            Self::IdentityCenterUser => "IdentityCenterUser",
            Self::AwsAccount => "AWSAccount",
            Self::Absent => "none",
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
pub type CloudTrailRecord = Record<Value>;

/// A CloudTrail record whose request and response are `P`: a JSON tree, or (while a log
/// file is read) the raw text, decoded only for the calls a rule reads
/// ([`super::log_record`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    bound(deserialize = "P: Deserialize<'de>", serialize = "P: Serialize")
)]
pub struct Record<P> {
    pub event_name: String,
    pub event_source: String,
    #[serde(
        default = "UserIdentity::absent",
        skip_serializing_if = "UserIdentity::is_absent"
    )]
    pub user_identity: UserIdentity,
    #[serde(default, rename = "eventID")]
    pub event_id: Option<String>,
    #[serde(default)]
    pub event_time: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::string")]
    pub event_type: Option<String>,
    #[serde(default)]
    pub aws_region: Option<String>,
    #[serde(default, rename = "sourceIPAddress")]
    pub source_ip_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::string")]
    pub error_message: Option<String>,
    #[serde(default)]
    pub recipient_account_id: Option<String>,
    /// `"true"` when the caller is an IAM user's console (or CloudShell) session.
    #[serde(default, deserialize_with = "super::lenient::string")]
    pub session_credential_from_console: Option<String>,
    #[serde(default)]
    pub request_parameters: Option<P>,
    #[serde(default)]
    pub response_elements: Option<P>,
    #[serde(skip)]
    pub call: ApiCall,
}

impl<P> Record<P> {
    /// The same record with its request and response (each named by its field) turned
    /// by `f` (`None`: left out).
    pub(super) fn map_parameters<Q, E>(
        self,
        mut f: impl FnMut(&'static str, P) -> Result<Option<Q>, E>,
    ) -> Result<Record<Q>, E> {
        let mut map = |field, p: Option<P>| p.map_or(Ok(None), |p| f(field, p));
        Ok(Record {
            event_name: self.event_name,
            event_source: self.event_source,
            user_identity: self.user_identity,
            event_id: self.event_id,
            event_time: self.event_time,
            event_type: self.event_type,
            aws_region: self.aws_region,
            source_ip_address: self.source_ip_address,
            user_agent: self.user_agent,
            error_code: self.error_code,
            error_message: self.error_message,
            recipient_account_id: self.recipient_account_id,
            session_credential_from_console: self.session_credential_from_console,
            request_parameters: map("requestParameters", self.request_parameters)?,
            response_elements: map("responseElements", self.response_elements)?,
            call: self.call,
        })
    }
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
    CreateLoginProfile(LoginProfileRequest),
    UpdateLoginProfile(LoginProfileRequest),
    DeactivateMfaDevice(MfaRequest),
    DeleteVirtualMfaDevice(MfaRequest),
    GetFederationToken(FederationRequest),
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

/// `CreateLoginProfile` and `UpdateLoginProfile` (CloudTrail never records the password).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginProfileRequest {
    /// Absent when the caller acts on itself.
    #[serde(default)]
    pub user_name: Option<String>,
    /// The user must choose a new password at the next sign-in.
    #[serde(default, deserialize_with = "super::lenient::flag")]
    pub password_reset_required: Option<bool>,
}

/// `DeactivateMFADevice` (the user and the device) and `DeleteVirtualMFADevice` (the
/// device only: `arn:aws:iam::ACCOUNT:mfa/PATH/NAME`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MfaRequest {
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub serial_number: Option<String>,
}

/// `GetFederationToken`: the federated user's name (the policy and duration are not read).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FederationRequest {
    #[serde(default, deserialize_with = "super::lenient::string")]
    pub name: Option<String>,
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
    /// A string from `RunInstances` itself; `{"value": "p2.xlarge"}` in launches through
    /// EC2 Fleet and Auto Scaling.
    #[serde(default, deserialize_with = "instance_type")]
    instance_type: Option<String>,
    #[serde(default)]
    instances_set: Option<ItemSet<RunItem>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunItem {
    #[serde(default, deserialize_with = "super::lenient::exact_count")]
    max_count: Option<u64>,
    #[serde(default, deserialize_with = "super::lenient::exact_count")]
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

/// `instanceType` as `RunInstances` writes it (a string) or as EC2 Fleet and Auto
/// Scaling launches do (`{"value": "..."}`). Any other shape is an unknown type: the
/// GPU rule cannot tell, and the instance-count rule still counts.
fn instance_type<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Object(o)) => o.get("value").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    })
}

/// Decodes `field` (a raw JSON value or null) as `T`, reporting errors under `path`. An
/// object written as a JSON string (as some exports do) is read as that object.
fn decode<T: serde::de::DeserializeOwned + Default>(
    value: &Option<Value>,
    path: &str,
) -> Result<T, super::ParseError> {
    match value {
        None | Some(Value::Null) => Ok(T::default()),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(inner @ Value::Object(_)) => super::decode_at(&inner, path),
            _ => super::decode_at(&Value::String(text.clone()), path),
        },
        Some(v) => super::decode_at(v, path),
    }
}

/// A response is what a call returned, read only to name what it made: one of another
/// shape (CloudTrail writes some as a bare string) says nothing, and the rules decide
/// without it, never an invalid event.
fn decode_response<T: serde::de::DeserializeOwned + Default>(
    value: &Option<Value>,
    path: &str,
) -> Result<T, super::ParseError> {
    match value {
        Some(Value::String(text))
            if !serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object()) =>
        {
            Ok(T::default())
        }
        Some(Value::Bool(_) | Value::Number(_) | Value::Array(_)) => Ok(T::default()),
        _ => decode(value, path),
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
                    let response: CreateAccessKeyResponse = decode_response(resp, RESP)?;
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
                ("iam.amazonaws.com", "UpdateLoginProfile") => {
                    Self::UpdateLoginProfile(decode(req, REQ)?)
                }
                ("iam.amazonaws.com", "DeactivateMFADevice") => {
                    Self::DeactivateMfaDevice(decode(req, REQ)?)
                }
                ("iam.amazonaws.com", "DeleteVirtualMFADevice") => {
                    Self::DeleteVirtualMfaDevice(decode(req, REQ)?)
                }
                ("sts.amazonaws.com", "GetFederationToken") => {
                    Self::GetFederationToken(decode(req, REQ)?)
                }
                ("iam.amazonaws.com", "AttachUserPolicy") => {
                    Self::AttachUserPolicy(decode(req, REQ)?)
                }
                ("ec2.amazonaws.com", "RunInstances") => {
                    let request: RunInstancesRequest = decode(req, REQ)?;
                    let response: RunInstancesResponse = decode_response(resp, RESP)?;
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
