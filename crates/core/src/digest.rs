//! Stable, dependency-free digests for ids derived from content: the same input gives the
//! same id on every machine and every run, which is what idempotency needs. Not for
//! security: nothing here resists a chosen collision.

/// FNV-1a, 64 bits, from `seed` (the standard offset basis for the usual hash).
pub fn fnv1a(text: &str, seed: u64) -> u64 {
    text.bytes().fold(seed, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// A UUID-shaped token (version 4 layout) derived from `text`, for APIs whose idempotency
/// token must be a UUID (`ssm:StartAutomationExecution`'s `ClientToken`).
pub fn uuid_from(text: &str) -> String {
    let hi = fnv1a(text, FNV_OFFSET);
    let lo = fnv1a(text, hi ^ 0x9e37_79b9_7f4a_7c15);
    let hi = (hi & 0xffff_ffff_ffff_0fff) | 0x4000;
    let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_tokens_are_stable_distinct_and_uuid_shaped() {
        let a = uuid_from("guardduty-translator:start_runbook:user/alice:ev-1");
        assert_eq!(
            a,
            uuid_from("guardduty-translator:start_runbook:user/alice:ev-1")
        );
        assert_ne!(
            a,
            uuid_from("guardduty-translator:start_runbook:user/alice:ev-2")
        );
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"));
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
