//! `long-term-key-runs-instances` (medium; high for many or GPU instances): `RunInstances`
//! signed by a long-term `AKIA` key, the attack seed 004 shows (a leaked key mining on GPU
//! instances). Applications on EC2 use roles; people rarely launch with access keys.
//! "Many" counts every instance the key launched within `CORRELATION_MINUTES` of this
//! call (the detector's memory), so five launches of two in the window are many, as one
//! of ten is. A launch signed with a session token a long-term key minted
//! (`GetSessionToken`, `GetFederationToken`) is that key's: counted with its launches,
//! and the key itself is contained. A user's session whose minting key the memory does
//! not hold is contained as a session (deactivate-key revokes the user's sessions; a
//! federated user's, its minting user's). Such a session opened with MFA or from the
//! console is a person's and is not judged, nor are roles' sessions (applications on
//! EC2 use roles). A session the memory saw a key mint is judged whatever it says of
//! MFA: a leaked key can enrol a device of its own.

use super::memory::Recall;
use super::Alert;
use crate::events::{ApiCall, CloudTrailRecord, IdentityType};
use crate::key::{AccessKeyId, KeyKind, UserName};
use crate::notice::Severity;

/// The series (the letters before the generation digit) of every current accelerated
/// family: GPUs (`p`, `g`, `gr`), ML accelerators (`inf`, `trn`, `dl`), FPGAs (`f`) and
/// video transcoders (`vt`). The whole series is compared, so `g4dn`, `gr6` and `dl2q`
/// are accelerated and `m5`, `c7gn` or `mac2` are not.
const ACCELERATED_SERIES: &[&str] = &["p", "g", "gr", "inf", "trn", "dl", "f", "vt"];

fn is_gpu(instance_type: &str) -> bool {
    let family = instance_type.split('.').next().unwrap_or("");
    let series: String = family
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_ascii_lowercase();
    let has_generation = family[series.len()..].starts_with(|c: char| c.is_ascii_digit());
    has_generation && ACCELERATED_SERIES.contains(&series.as_str())
}

/// A session of unknown origin that a person holds: opened with MFA, or the console's (a
/// leaked key alone can open neither). Such launches are not judged here.
fn person(r: &CloudTrailRecord) -> bool {
    let mfa = r
        .user_identity
        .session_context
        .as_ref()
        .and_then(|c| c.attributes.as_ref())
        .and_then(|a| a.mfa_authenticated.as_deref())
        .is_some_and(|m| m.eq_ignore_ascii_case("true"));
    let console = r
        .session_credential_from_console
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case("true"));
    mfa || console
}

/// The IAM user behind a federated user's session.
fn issuer_user(r: &CloudTrailRecord) -> Option<&str> {
    let issuer = r
        .user_identity
        .session_context
        .as_ref()?
        .session_issuer
        .as_ref()?;
    (issuer.issuer_type.as_deref() == Some("IAMUser"))
        .then_some(issuer.user_name.as_deref())
        .flatten()
}

pub fn check(r: &CloudTrailRecord, many: u64, recall: &Recall) -> Option<Alert> {
    let ApiCall::RunInstances(call) = &r.call else {
        return None;
    };
    if !r.succeeded() {
        return None;
    }
    let id = &r.user_identity;
    let signer = AccessKeyId::parse(id.access_key_id.as_deref()?).ok()?;
    let user = |name: Option<&str>| name.and_then(|u| UserName::parse(u).ok());
    let minted = recall
        .session_parent
        .as_ref()
        .filter(|m| m.session_key == signer);
    let contain = match (signer.kind(), minted) {
        (KeyKind::LongTerm, _) => (signer.clone(), user(id.user_name.as_deref())),
        // Whatever the session says of MFA: a leaked key can enrol its own device, and the
        // memory saw this key mint this session.
        (KeyKind::Temporary, Some(m)) => (m.parent_key.clone(), user(Some(m.user.as_str()))),
        (KeyKind::Temporary, None) if person(r) => return None,
        (KeyKind::Temporary, None) => match id.identity_type {
            IdentityType::IamUser => (signer.clone(), user(id.user_name.as_deref())),
            // A federated user's session answers to the user that minted it.
            IdentityType::FederatedUser => (signer.clone(), user(issuer_user(r))),
            _ => return None,
        },
    };
    let through = if contain.0 == signer {
        String::new()
    } else {
        format!(" (through its session {signer})")
    };
    let count = call.started.max(call.requested);
    let kind = call.instance_type.as_deref().unwrap_or("unknown");
    // The window's launches include this one; without them (nothing recalled), this
    // call alone.
    let (in_window, launches) = match recall.instances() {
        (_, 0) => (count, 1),
        (total, n) => (total.max(count), n),
    };
    let severity = if in_window >= many || is_gpu(kind) {
        Severity::High
    } else {
        Severity::Medium
    };
    Some(Alert {
        rule: "long-term-key-runs-instances",
        severity,
        why: "instances launched with a long-term access key or a session it minted, as a leaked key is used for mining",
        summary: format!(
            "{} launched {count} {kind} instance(s) with key {}{through}{}",
            r.user_identity.arn.as_deref().unwrap_or("a caller"),
            contain.0,
            if launches > 1 {
                format!(" ({in_window} in {launches} launches within the window)")
            } else {
                String::new()
            }
        ),
        // A session with no user to answer for it cannot be contained: alerted only.
        contain: (contain.0.kind() == KeyKind::LongTerm || contain.1.is_some()).then_some(contain),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_accelerated_family_and_no_other() {
        for t in [
            "p2.xlarge",
            "p5e.48xlarge",
            "p6-b200.48xlarge",
            "g4dn.xlarge",
            "g6e.2xlarge",
            "gr6.4xlarge",
            "inf2.xlarge",
            "trn1n.32xlarge",
            "dl1.24xlarge",
            "dl2q.24xlarge",
            "f1.2xlarge",
            "f2.6xlarge",
            "vt1.3xlarge",
            "G5.xlarge",
        ] {
            assert!(super::is_gpu(t), "{t}");
        }
        for t in [
            "m5.large",
            "c7gn.xlarge",
            "r6g.large",
            "t4g.nano",
            "mac2.metal",
            "x2gd.large",
            "u-6tb1.metal",
            "i4g.large",
            "hpc7g.4xlarge",
            "im4gn.large",
            "",
            "g",
            "gpu.large",
        ] {
            assert!(!super::is_gpu(t), "{t}");
        }
    }
}
