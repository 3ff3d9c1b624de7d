//! Event intake: untrusted bytes in, a typed [`Trigger`] or a [`ParseError`] naming the
//! field that is wrong. Never a panic.
//!
//! What arrives is recognised by shape, because the same record reaches keyguard in
//! several wrappers: an EventBridge envelope, a bare CloudTrail record or GuardDuty
//! finding (log files, SIEM exports, the shared corpus), Secrets Manager's rotation
//! payload, or the direct hand-off between functions.

mod cloudtrail;
mod envelope;
mod guardduty;
mod handoff;
mod health;
mod lenient;
mod log_file;
mod rotation;

pub use cloudtrail::{
    ApiCall, AttachUserPolicy, CloudTrailRecord, CreateAccessKey, CreatedKey, IdentityType,
    KeyRequest, RunInstances, SessionAttributes, SessionContext, SessionIssuer, UserIdentity,
    UserRequest,
};
pub use envelope::Envelope;
pub use guardduty::{AccessKeyDetails, Finding};
pub use handoff::{Handoff, MAC_ALGORITHM};
pub use health::{AffectedEntity, HealthEvent, Risk, CREDENTIALS_EXPOSED};
pub use log_file::{each_record, Item as LogItem, LogFileError, DEFAULT_MAX_RECORD_BYTES};
pub use rotation::{RotationEvent, RotationStep};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::{Map, Value};

/// Everything keyguard can be asked to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    CloudTrail {
        envelope: Option<Envelope>,
        record: Box<CloudTrailRecord>,
    },
    GuardDuty {
        envelope: Option<Envelope>,
        finding: Box<Finding>,
    },
    Health {
        envelope: Option<Envelope>,
        event: Box<HealthEvent>,
    },
    Scheduled {
        envelope: Envelope,
    },
    Rotation(RotationEvent),
    Handoff(Handoff),
    /// A well-formed EventBridge event of a type no function handles.
    Unsupported {
        envelope: Envelope,
    },
}

/// The stable name of a trigger's kind, as printed by `keyguard parse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    Cloudtrail,
    Guardduty,
    Health,
    Scheduled,
    SecretsRotation,
    Handoff,
    Unsupported,
}

impl Trigger {
    pub fn kind(&self) -> TriggerKind {
        match self {
            Self::CloudTrail { .. } => TriggerKind::Cloudtrail,
            Self::GuardDuty { .. } => TriggerKind::Guardduty,
            Self::Health { .. } => TriggerKind::Health,
            Self::Scheduled { .. } => TriggerKind::Scheduled,
            Self::Rotation(_) => TriggerKind::SecretsRotation,
            Self::Handoff(_) => TriggerKind::Handoff,
            Self::Unsupported { .. } => TriggerKind::Unsupported,
        }
    }

    pub fn envelope(&self) -> Option<&Envelope> {
        match self {
            Self::CloudTrail { envelope, .. }
            | Self::GuardDuty { envelope, .. }
            | Self::Health { envelope, .. } => envelope.as_ref(),
            Self::Scheduled { envelope } | Self::Unsupported { envelope } => Some(envelope),
            Self::Rotation(_) | Self::Handoff(_) => None,
        }
    }

    /// When what the event tells of was seen, the same in every delivery of it: the
    /// call's `eventTime`, GuardDuty's `createdAt` (its first sight of the activity), a
    /// hand-off's issue time, else the envelope's `time`.
    pub fn observed_at(&self) -> Option<crate::Timestamp> {
        let own = match self {
            Self::CloudTrail { record, .. } => record.event_time.as_deref(),
            Self::GuardDuty { finding, .. } => finding.created_at.as_deref(),
            Self::Handoff(h) => h.issued_at.as_deref(),
            _ => None,
        };
        own.or_else(|| self.envelope().and_then(|e| e.time.as_deref()))
            .and_then(crate::parse_time)
    }

    /// The id that stays the same when the event is delivered again.
    /// A GuardDuty finding is named by its own id, not its envelope's: GuardDuty
    /// re-publishes an updated finding (same id, new EventBridge id) every 15 minutes to
    /// 6 hours, and one finding must never act twice.
    pub fn event_id(&self) -> Option<&str> {
        if let Self::GuardDuty { finding, .. } = self {
            return Some(&finding.id);
        }
        if let Some(env) = self.envelope() {
            return Some(&env.id);
        }
        match self {
            Self::CloudTrail { record, .. } => record.event_id.as_deref(),
            Self::GuardDuty { finding, .. } => Some(&finding.id),
            Self::Health { event, .. } => event.event_arn.as_deref(),
            Self::Rotation(r) => Some(&r.client_request_token),
            Self::Handoff(h) => h.event_id.as_deref(),
            Self::Scheduled { .. } | Self::Unsupported { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum ParseError {
    #[error("not valid JSON (line {line}, column {column}): {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("`{path}`: {message}")]
    Field { path: String, message: String },
    #[error("not a keyguard event: {message}")]
    Unrecognized { message: String },
}

/// Parses untrusted bytes.
pub fn parse(bytes: &[u8]) -> Result<Trigger, ParseError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| ParseError::Syntax {
        line: e.line(),
        column: e.column(),
        message: bounded(&e.to_string()),
    })?;
    parse_value(&value)
}

/// Parses an already decoded JSON value (the Lambda runtime hands one over).
pub fn parse_value(value: &Value) -> Result<Trigger, ParseError> {
    let Value::Object(obj) = value else {
        return Err(ParseError::Unrecognized {
            message: format!("expected a JSON object, got {}", type_name(value)),
        });
    };
    let has = |k: &str| obj.contains_key(k);
    if has("detail-type") || (has("source") && has("detail")) {
        return parse_enveloped(obj, value);
    }
    if has("Step") && has("SecretId") {
        let event: RotationEvent = decode_at(value, "")?;
        return Ok(Trigger::Rotation(event.checked()?));
    }
    if has("accessKeyId") || has("classifierSource") {
        return Ok(Trigger::Handoff(decode_at(value, "")?));
    }
    if has("eventName") || has("eventSource") || has("userIdentity") {
        return Ok(Trigger::CloudTrail {
            envelope: None,
            record: Box::new(cloudtrail_record(value, "")?),
        });
    }
    if has("eventTypeCode") {
        return Ok(Trigger::Health {
            envelope: None,
            event: Box::new(decode_at(value, "")?),
        });
    }
    if has("schemaVersion") || (has("severity") && has("type") && has("id")) {
        return Ok(Trigger::GuardDuty {
            envelope: None,
            finding: Box::new(decode_at(value, "")?),
        });
    }
    if has("Records") {
        return Err(ParseError::Unrecognized {
            message: "a CloudTrail log file (`Records`) holds many events: replay it".into(),
        });
    }
    let mut keys: Vec<String> = obj.keys().take(8).map(|k| bounded(k)).collect();
    keys.sort_unstable();
    Err(ParseError::Unrecognized {
        message: format!("no known event shape has the fields {keys:?}"),
    })
}

fn parse_enveloped(obj: &Map<String, Value>, value: &Value) -> Result<Trigger, ParseError> {
    let envelope: Envelope = decode_at(value, "")?;
    let detail = obj.get("detail").ok_or_else(|| ParseError::Field {
        path: "detail".into(),
        message: "missing field `detail`".into(),
    })?;
    let envelope_some = Some(envelope.clone());
    Ok(match envelope.detail_type.as_str() {
        "AWS API Call via CloudTrail"
        | "AWS Console Sign In via CloudTrail"
        | "AWS Service Event via CloudTrail" => Trigger::CloudTrail {
            envelope: envelope_some,
            record: Box::new(cloudtrail_record(detail, "detail")?),
        },
        "GuardDuty Finding" => Trigger::GuardDuty {
            envelope: envelope_some,
            finding: Box::new(decode_at(detail, "detail")?),
        },
        "AWS Health Event" => Trigger::Health {
            envelope: envelope_some,
            event: Box::new(decode_at(detail, "detail")?),
        },
        "Scheduled Event" => Trigger::Scheduled { envelope },
        _ => Trigger::Unsupported { envelope },
    })
}

/// One CloudTrail record on its own (as `LookupEvents` returns it in `CloudTrailEvent`),
/// read as every other record is.
pub fn record(value: &Value) -> Result<CloudTrailRecord, ParseError> {
    cloudtrail_record(value, "")
}

fn cloudtrail_record(value: &Value, prefix: &str) -> Result<CloudTrailRecord, ParseError> {
    let mut record: CloudTrailRecord = decode_at(value, prefix)?;
    record.call = ApiCall::decode(&record).map_err(|e| match e {
        ParseError::Field { path, message } => ParseError::Field {
            path: join(prefix, &path),
            message,
        },
        other => other,
    })?;
    Ok(record)
}

/// One record of a CloudTrail log file, decoded straight from its bytes: the record as
/// [`record`] reads it, without first building a JSON tree of every field, which a
/// replay of a billion records cannot afford (fields no rule reads are skipped as they
/// are met). The request and response are decoded only where `reads_parameters(source,
/// name)` says some rule reads them, and are `None` elsewhere (they are still checked to
/// be JSON). Anything but one CloudTrail record (another JSON value, bytes after it) is
/// an error naming what is wrong.
pub fn log_record(
    bytes: &[u8],
    reads_parameters: impl Fn(&str, &str) -> bool,
) -> Result<CloudTrailRecord, ParseError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ParseError::Unrecognized {
            message: "a CloudTrail record is a JSON object".into(),
        });
    }
    // Tracking the path costs an allocation per key, so it is done only for a record
    // that fails, a second time, to name where.
    let lean: cloudtrail::Record<&serde_json::value::RawValue> = match serde_json::from_slice(bytes)
    {
        Ok(record) => record,
        Err(e) => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            return Err(
                match serde_path_to_error::deserialize::<_, CloudTrailRecord>(&mut de) {
                    Err(err) if !err.inner().is_syntax() && !err.inner().is_eof() => {
                        field_error(&err, "")
                    }
                    _ => ParseError::Syntax {
                        line: e.line(),
                        column: e.column(),
                        message: bounded(&e.to_string()),
                    },
                },
            );
        }
    };
    let keep = reads_parameters(&lean.event_source, &lean.event_name);
    let mut record = lean.map_parameters(|field, raw| {
        if !keep {
            return Ok(None);
        }
        serde_json::from_str(raw.get())
            .map(Some)
            .map_err(|e| ParseError::Field {
                path: field.to_owned(),
                message: bounded(&e.to_string()),
            })
    })?;
    record.call = ApiCall::decode(&record)?;
    Ok(record)
}

/// Deserializes `value` as `T`; an error names the full path of the offending field,
/// `prefix` first (e.g. `detail.userIdentity.type`).
pub(crate) fn decode_at<T: DeserializeOwned>(value: &Value, prefix: &str) -> Result<T, ParseError> {
    serde_path_to_error::deserialize(value).map_err(|err| field_error(&err, prefix))
}

fn field_error<E: std::fmt::Display>(
    err: &serde_path_to_error::Error<E>,
    prefix: &str,
) -> ParseError {
    let inner = err.inner().to_string();
    let mut path = err.path().to_string();
    if path == "." {
        path.clear();
    }
    // serde reports a missing field at its parent; name the field itself.
    if let Some(field) = inner
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        path = join(&path, field);
    }
    ParseError::Field {
        path: bounded(&join(prefix, &path)),
        message: bounded(&inner),
    }
}

/// Errors name what is wrong, and serde quotes the offending value: an attacker's 200 KiB
/// string would be echoed into the report and every log line. Kept to its first 160
/// characters, with the length said.
pub(crate) fn bounded(text: &str) -> String {
    bounded_text(text, 160)
}

/// `text`, or its first `keep` characters and its length when it is longer.
pub fn bounded_text(text: &str, keep: usize) -> String {
    match text.char_indices().nth(keep) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
    }
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}.{path}"),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;

/// A reference to the event that is the same on every delivery: its id when it has one,
/// else a digest of its content (a hand-off sent without `eventId`).
pub fn event_ref(trigger: &Trigger, raw: &Value) -> String {
    if let Some(id) = trigger.event_id() {
        // Real ids are short (UUIDs, tokens). A huge one is kept distinct by its digest,
        // never copied whole into every report, log line and ledger key.
        if id.len() <= 128 {
            return id.to_owned();
        }
        let head: String = id.chars().take(64).collect();
        let hash = crate::digest::fnv1a(id, crate::digest::FNV_OFFSET);
        return format!("{head}…-{hash:016x}");
    }
    // Over the canonical JSON (serde_json sorts object keys), so redeliveries agree.
    let hash = crate::digest::fnv1a(&raw.to_string(), crate::digest::FNV_OFFSET);
    format!("content-{hash:016x}")
}
