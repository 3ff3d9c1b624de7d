//! The revocation policy: `Deny *` to every session whose token was issued before a
//! cut-off. The document keyguard writes, the cut-off it reads back from one already
//! there, and the cut-off a write uses.

use crate::time::Timestamp;
use chrono::{DurationRound, TimeDelta};

const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// The inline policy AWS documents for revoking sessions. Long-term keys carry no
/// `aws:TokenIssueTime`, so a user's own keys are not affected.
pub fn policy_document(cut_off: Timestamp) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "KeyguardRevokeOlderSessions",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": cut_off.format(TIME_FORMAT).to_string()}}
        }]
    })
    .to_string()
}

/// The cut-off of a revocation policy (plain JSON) when it is exactly the document
/// keyguard writes ([`policy_document`]); `None` for any other. A narrower deny someone
/// put under the same name (one action, one resource, another condition) is not read as
/// a revocation, so it never makes keyguard leave sessions alone.
pub fn cut_off_of(document: &str) -> Option<Timestamp> {
    let doc: serde_json::Value = serde_json::from_str(document).ok()?;
    let cut = doc["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        .as_str()
        .and_then(crate::time::parse_time)?;
    let ours: serde_json::Value = serde_json::from_str(&policy_document(cut)).ok()?;
    (doc == ours).then_some(cut)
}

/// The cut-off a revocation writes: no earlier than the plan's, than the moment of the
/// write rounded up to the next whole second (the policy's times have whole seconds,
/// and a session minted in the second the key went Inactive must not pass), or than
/// the cut-off already in force (another writer's later one must not move back).
pub fn cut_off(planned: Timestamp, writing_at: Timestamp, prior: Option<&str>) -> Timestamp {
    let second = TimeDelta::seconds(1);
    let up = writing_at.duration_trunc(second).map_or(writing_at, |t| {
        if t < writing_at {
            t + second
        } else {
            t
        }
    });
    [Some(planned), Some(up), prior.and_then(cut_off_of)]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(up)
}

/// What a revocation's step reports, and what `keyguard undo` reads back from its row.
pub fn applied_detail(policy_name: &str, cut_off: Timestamp) -> String {
    format!(
        "inline policy {policy_name} denies sessions issued before {}",
        cut_off.format(TIME_FORMAT)
    )
}

/// The policy name and the cut-off a revocation wrote, from its [`applied_detail`].
pub fn written(detail: &str) -> Option<(String, Timestamp)> {
    let rest = detail.strip_prefix("inline policy ")?;
    let (name, time) = rest.split_once(" denies sessions issued before ")?;
    let time = time.split(';').next()?.trim();
    Some((name.to_owned(), crate::time::parse_time(time)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_time;

    fn t(s: &str) -> Timestamp {
        parse_time(s).unwrap()
    }

    #[test]
    fn the_cut_off_is_read_back_from_the_document_written() {
        let at = t("2026-12-03T10:00:07Z");
        assert_eq!(cut_off_of(&policy_document(at)), Some(at));
        assert_eq!(
            cut_off_of(
                r#"{"Statement":{"Effect":"Allow","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-12-03T10:00:07Z"}}}}"#
            ),
            None
        );
        assert_eq!(cut_off_of("not json"), None);
        // A narrower deny under the same name is not keyguard's revocation.
        let narrow = policy_document(at).replace(r#""Action":"*""#, r#""Action":"s3:GetObject""#);
        assert_ne!(narrow, policy_document(at));
        assert_eq!(cut_off_of(&narrow), None);
    }

    #[test]
    fn what_a_revocation_wrote_is_read_back_from_its_detail() {
        let at = t("2026-12-03T10:00:07Z");
        let detail = applied_detail("keyguard-revoke-older-sessions", at);
        assert_eq!(
            written(&detail),
            Some(("keyguard-revoke-older-sessions".to_owned(), at))
        );
        // The engine may add to a detail (a ledger that could not settle).
        let more = format!("{detail}; ledger row not settled: throttled");
        assert_eq!(written(&more).map(|w| w.1), Some(at));
        assert_eq!(written("key AKIA... of bob set Inactive"), None);
    }

    #[test]
    fn a_write_rounds_up_to_the_second_and_never_moves_the_cut_off_back() {
        let planned = t("2026-12-03T10:00:00Z");
        let writing = t("2026-12-03T10:00:04.250Z");
        assert_eq!(cut_off(planned, writing, None), t("2026-12-03T10:00:05Z"));
        assert_eq!(
            cut_off(planned, t("2026-12-03T10:00:04Z"), None),
            t("2026-12-03T10:00:04Z")
        );
        let later = policy_document(t("2026-12-03T10:09:00Z"));
        assert_eq!(
            cut_off(planned, writing, Some(&later)),
            t("2026-12-03T10:09:00Z")
        );
        let earlier = policy_document(t("2026-12-02T10:00:00Z"));
        assert_eq!(
            cut_off(planned, writing, Some(&earlier)),
            t("2026-12-03T10:00:05Z")
        );
    }
}
