//! Deserializers for the fields no rule or decision reads exactly. An event whose unread
//! field has an unexpected type would otherwise be invalid, and an invalid event is a
//! missed one: these keep what they can and never fail. What the decisions read stays
//! exact.

use serde::{de, Deserialize, Deserializer};
use serde_json::{Map, Value};

/// Its text when it is a string, else its JSON.
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

/// A string; anything else is none (for a field that is read only when it is one: a
/// region, an ARN, a time).
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        _ => None,
    })
}

/// A count as a number or as a numeral; anything else is no count.
pub(crate) fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A flag as `true`/`false` or as their text; anything else is no flag.
pub(crate) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Bool(b)) => Some(b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    })
}

/// An object; anything else is none.
pub(crate) fn object<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Map<String, Value>>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Object(o)) => Some(o),
        _ => None,
    })
}

/// A count a rule reads (CloudTrail's instance counts): a number or a numeral, and an
/// error for anything else, so a malformed count is named rather than guessed.
pub(crate) fn exact_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
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
