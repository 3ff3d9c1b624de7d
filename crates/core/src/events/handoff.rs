//! The direct hand-off createkey-detector sends deactivate-key. It is keyguard's own
//! format, so it is strict: a malformed key id, name or account is refused here.
//!
//! A function's resource policy does not stop callers in its own account: anyone whose
//! own policy allows `lambda:InvokeFunction` can invoke deactivate-key. So the body
//! carries its own proof: an HMAC-SHA-256 over [`Handoff::signed_message`], made with a
//! KMS HMAC key that only the detector's role may use for `kms:GenerateMac`, and checked
//! by deactivate-key with `kms:VerifyMac`. A hand-off without a valid MAC is refused.

use crate::key::{AccessKeyId, RoleName, UserName};
use crate::scope::AccountId;
use serde::{Deserialize, Serialize};

/// The algorithm every hand-off MAC is made with.
pub const MAC_ALGORITHM: &str = "HMAC_SHA_256";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Handoff {
    pub access_key_id: AccessKeyId,
    /// The account the key belongs to: deactivate-key acts only in its own.
    pub account_id: AccountId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<UserName>,
    /// For a temporary (`ASIA`) key: the role whose sessions to revoke.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_name: Option<RoleName>,
    /// Who decided this key must be contained, e.g. `createkey-detector/backdoor-key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_source: Option<String>,
    /// The event that led to the hand-off; the idempotency key is built from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// When the sender made it (RFC 3339), for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
    /// Base64 of the HMAC-SHA-256 over [`Handoff::signed_message`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

impl Handoff {
    /// Why the hand-off is too old (or undated) to believe, if it is: a signed hand-off
    /// can be copied (it waits in the on-failure queue, for one), and replayed once its
    /// ledger row has expired it would contain a key someone has re-enabled since.
    pub fn stale(&self, now: crate::Timestamp, max_age: std::time::Duration) -> Option<String> {
        let Some(raw) = self.issued_at.as_deref() else {
            return Some("it carries no issuedAt".into());
        };
        let Some(issued) = crate::parse_time(raw) else {
            return Some("its issuedAt is not a time".into());
        };
        let age = now.signed_duration_since(issued);
        let max = chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
        if age > max {
            return Some(format!(
                "it was issued at {issued}, more than HANDOFF_MAX_AGE_SECONDS ago"
            ));
        }
        // A little clock skew is normal; an hour ahead is not.
        (age < -chrono::Duration::minutes(5))
            .then(|| format!("it claims to be issued at {issued}, in the future"))
    }

    /// The exact bytes the MAC covers: a version tag, then every field but the MAC in a
    /// fixed order, each as JSON (so no value can smuggle in a separator).
    pub fn signed_message(&self) -> Vec<u8> {
        let field = |v: Option<&str>| serde_json::to_string(&v).unwrap_or_default();
        let parts = [
            field(Some(self.access_key_id.as_str())),
            field(Some(self.account_id.as_str())),
            field(self.user_name.as_ref().map(UserName::as_str)),
            field(self.role_name.as_ref().map(RoleName::as_str)),
            field(self.classifier_source.as_deref()),
            field(self.event_id.as_deref()),
            field(self.issued_at.as_deref()),
        ];
        format!("keyguard-handoff-v1\n{}", parts.join("\n")).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handoff(v: serde_json::Value) -> Result<Handoff, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn every_field_is_covered_by_the_mac() {
        let base = serde_json::json!({
            "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "accountId": "111111111111",
            "userName": "bob", "classifierSource": "createkey-detector/backdoor-key",
            "eventId": "ev-1", "issuedAt": "2026-12-02T00:00:00Z"
        });
        let signed = handoff(base.clone()).unwrap().signed_message();
        for (field, other) in [
            ("accessKeyId", "AKIAIOSFODNN7EXAMPLF"),
            ("accountId", "222222222222"),
            ("userName", "alice"),
            ("roleName", "admin"),
            ("classifierSource", "x"),
            ("eventId", "ev-2"),
            ("issuedAt", "2026-12-03T00:00:00Z"),
        ] {
            let mut v = base.clone();
            v[field] = serde_json::json!(other);
            assert_ne!(handoff(v).unwrap().signed_message(), signed, "{field}");
        }
        // The MAC itself is not part of what it covers.
        let mut v = base.clone();
        v["mac"] = serde_json::json!("AAAA");
        assert_eq!(handoff(v).unwrap().signed_message(), signed);
    }

    #[test]
    fn old_undated_and_future_hand_offs_are_stale() {
        let now = crate::parse_time("2026-12-02T12:00:00Z").unwrap();
        let six_hours = std::time::Duration::from_secs(6 * 3600);
        let at = |t: Option<&str>| {
            let mut v = serde_json::json!({"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "accountId": "111111111111"});
            if let Some(t) = t {
                v["issuedAt"] = serde_json::json!(t);
            }
            handoff(v).unwrap().stale(now, six_hours)
        };
        assert_eq!(at(Some("2026-12-02T11:59:00Z")), None);
        assert_eq!(at(Some("2026-12-02T06:00:01Z")), None);
        assert!(at(Some("2026-12-02T05:59:00Z"))
            .unwrap()
            .contains("HANDOFF_MAX_AGE_SECONDS"));
        assert!(at(Some("2026-12-02T13:00:00Z")).unwrap().contains("future"));
        assert!(at(None).is_some());
        assert!(at(Some("yesterday")).is_some());
    }

    #[test]
    fn strict_fields() {
        let ok =
            serde_json::json!({"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "accountId": "111111111111"});
        assert!(handoff(ok.clone()).is_ok());
        let mut extra = ok.clone();
        extra["roleArn"] = serde_json::json!("arn:aws:iam::1:role/x");
        assert!(
            handoff(extra).is_err(),
            "an unsigned extra field is refused"
        );
        assert!(handoff(serde_json::json!({"accessKeyId": "AKIAIOSFODNN7EXAMPLE"})).is_err());
        assert!(handoff(
            serde_json::json!({"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "accountId": "1"})
        )
        .is_err());
    }
}
