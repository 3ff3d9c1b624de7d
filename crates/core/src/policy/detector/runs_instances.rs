//! `long-term-key-runs-instances` (medium; high for many or GPU instances): `RunInstances`
//! signed by a long-term `AKIA` key, the attack seed 004 shows (a leaked key mining on GPU
//! instances). Applications on EC2 use roles; people rarely launch with access keys.

use super::{long_term, Alert};
use crate::events::{ApiCall, CloudTrailRecord};
use crate::notice::Severity;

/// Instance families with GPUs or ML accelerators.
const GPU_FAMILIES: &[&str] = &[
    "p2", "p3", "p4", "p5", "p6", "g3", "g4", "g5", "g6", "g7", "inf", "trn", "dl",
];

fn is_gpu(instance_type: &str) -> bool {
    let family = instance_type.split('.').next().unwrap_or("");
    GPU_FAMILIES.iter().any(|g| family.starts_with(g))
}

pub fn check(r: &CloudTrailRecord, many: u64) -> Option<Alert> {
    let ApiCall::RunInstances(call) = &r.call else {
        return None;
    };
    if !r.succeeded() {
        return None;
    }
    let contain = long_term(
        r.user_identity.access_key_id.as_deref(),
        r.user_identity.user_name.as_deref(),
    )?;
    let count = call.started.max(call.requested);
    let kind = call.instance_type.as_deref().unwrap_or("unknown");
    let severity = if count >= many || is_gpu(kind) {
        Severity::High
    } else {
        Severity::Medium
    };
    Some(Alert {
        rule: "long-term-key-runs-instances",
        severity,
        why: "instances launched with a long-term access key, as a leaked key is used for mining",
        summary: format!(
            "{} launched {count} {kind} instance(s) with key {}",
            r.user_identity.arn.as_deref().unwrap_or("a caller"),
            contain.0
        ),
        contain: Some(contain),
    })
}
