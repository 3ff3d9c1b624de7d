//! The IAM credential report (CSV): which users have access keys of which age, in one
//! call for the whole account. age-rotation reads it to find the few users that need
//! action, and asks IAM about those only.
//!
//! Values the report uses for "nothing here": `N/A` (no such key, or never used),
//! `not_supported` and `no_information`. The root account's row (`<root_account>`) is
//! not an IAM user and is skipped.

use crate::time::{parse_time, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportKey {
    pub active: bool,
    /// When the key was created or last rotated (the report's `last_rotated`).
    pub last_rotated: Option<Timestamp>,
    /// The report's `last_used_date`; `None` when never used or not known.
    pub last_used: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub user: String,
    /// Key slots 1 and 2, where the user has a key there.
    pub keys: Vec<ReportKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("credential report: {0}")]
    Csv(String),
    #[error("credential report has no column {0}")]
    MissingColumn(&'static str),
}

fn value(raw: &str) -> Option<&str> {
    match raw.trim() {
        "" | "N/A" | "not_supported" | "no_information" => None,
        v => Some(v),
    }
}

/// Parses the report. Rows that are not IAM users are skipped; a malformed date is read
/// as "unknown", which makes the key a candidate for a closer look rather than invisible.
pub fn parse(csv_text: &[u8]) -> Result<Vec<ReportRow>, ReportError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(csv_text);
    let headers = reader
        .headers()
        .map_err(|e| ReportError::Csv(e.to_string()))?
        .clone();
    let col = |name: &'static str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or(ReportError::MissingColumn(name))
    };
    let user = col("user")?;
    let slot = |n: u8| -> Result<[usize; 3], ReportError> {
        Ok(match n {
            1 => [
                col("access_key_1_active")?,
                col("access_key_1_last_rotated")?,
                col("access_key_1_last_used_date")?,
            ],
            _ => [
                col("access_key_2_active")?,
                col("access_key_2_last_rotated")?,
                col("access_key_2_last_used_date")?,
            ],
        })
    };
    let slots = [slot(1)?, slot(2)?];
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| ReportError::Csv(e.to_string()))?;
        let Some(name) = record.get(user).map(str::trim) else {
            continue;
        };
        if name.is_empty() || name == "<root_account>" {
            continue;
        }
        let keys = slots
            .iter()
            .filter_map(|[active, rotated, used]| {
                let active = value(record.get(*active).unwrap_or(""))?;
                let last_rotated = value(record.get(*rotated).unwrap_or("")).map(parse_time);
                let last_used = value(record.get(*used).unwrap_or("")).and_then(parse_time);
                // `active` is `false` both for an Inactive key and for no key at all;
                // only a date says a key is there.
                match (active, last_rotated) {
                    ("true", rotated) => Some(ReportKey {
                        active: true,
                        last_rotated: rotated.flatten(),
                        last_used,
                    }),
                    (_, Some(rotated)) => Some(ReportKey {
                        active: false,
                        last_rotated: rotated,
                        last_used,
                    }),
                    _ => None,
                }
            })
            .collect();
        rows.push(ReportRow {
            user: name.to_owned(),
            keys,
        });
    }
    Ok(rows)
}

/// The users with a key at least `min_days` old (or of unknown age), the only ones whose
/// keys and tags are worth reading.
pub fn candidates(rows: &[ReportRow], min_days: u32, now: Timestamp) -> Vec<String> {
    rows.iter()
        .filter(|row| {
            row.keys.iter().any(|k| match k.last_rotated {
                Some(t) => (now - t).num_days() >= i64::from(min_days),
                None => true,
            })
        })
        .map(|row| row.user.clone())
        .collect()
}

/// The users with a key unused (or, never used, created) at least `min_days` ago, or of
/// unknown age or use: the only ones the unused-key sweep needs to read. The report may be
/// up to four hours old, so Inactive keys count too (one re-activated since shows Inactive
/// there); the reads that follow are current, and a key used since is found used.
pub fn unused_candidates(rows: &[ReportRow], min_days: u32, now: Timestamp) -> Vec<String> {
    rows.iter()
        .filter(|row| {
            row.keys
                .iter()
                .any(|k| match k.last_used.or(k.last_rotated) {
                    Some(t) => (now - t).num_days() >= i64::from(min_days),
                    None => true,
                })
        })
        .map(|row| row.user.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    fn report(rows: &[&str]) -> Vec<u8> {
        let mut text = HEADER.to_owned();
        for r in rows {
            text.push('\n');
            text.push_str(r);
        }
        text.into_bytes()
    }

    #[test]
    fn reads_keys_and_skips_root_and_placeholders() {
        let csv = report(&[
            "<root_account>,arn:aws:iam::1:root,2020-01-01T00:00:00+00:00,not_supported,2026-01-01T00:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
            "old,arn:aws:iam::1:user/old,2024-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2026-08-01T00:00:00+00:00,no_information,not_supported,not_supported,false,2026-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A",
            "fresh,arn:aws:iam::1:user/fresh,2026-11-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2026-11-20T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
            "nokeys,arn:aws:iam::1:user/nokeys,2026-11-01T00:00:00+00:00,true,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        ]);
        let rows = parse(&csv).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].user, "old");
        assert_eq!(rows[0].keys.len(), 2);
        assert!(rows[0].keys[0].active);
        assert!(!rows[0].keys[1].active, "an Inactive key is still a key");
        assert!(rows[2].keys.is_empty());
        let now = parse_time("2026-11-23T00:00:00Z").unwrap();
        assert_eq!(candidates(&rows, 70, now), ["old"]);
        assert_eq!(candidates(&rows, 3, now), ["old", "fresh"]);
    }

    #[test]
    fn unused_candidates_count_from_last_use_else_creation() {
        let csv = report(&[
            // Old, but used yesterday: not a candidate at 30 days.
            "busy,arn,2024-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2025-01-01T00:00:00+00:00,2026-11-22T00:00:00+00:00,us-east-1,iam,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
            // Used, but 40 days ago.
            "idle,arn,2024-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2025-01-01T00:00:00+00:00,2026-10-14T00:00:00+00:00,us-east-1,iam,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
            // Never used, in its second slot, created 31 days ago.
            "never,arn,2024-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,true,2026-10-23T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A",
            // Unused for years, Inactive in the report: read, since it may be Active again.
            "asleep,arn,2024-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,false,2020-01-01T00:00:00+00:00,2020-02-01T00:00:00+00:00,us-east-1,iam,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
            // An unreadable date: read it to be sure.
            "odd,arn,2024-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,yesterday,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        ]);
        let rows = parse(&csv).unwrap();
        let now = parse_time("2026-11-23T00:00:00Z").unwrap();
        assert_eq!(
            unused_candidates(&rows, 30, now),
            ["idle", "never", "asleep", "odd"]
        );
        assert_eq!(unused_candidates(&rows, 41, now), ["asleep", "odd"]);
        assert_eq!(
            rows[0].keys[0].last_used,
            parse_time("2026-11-22T00:00:00Z")
        );
    }

    #[test]
    fn a_bad_report_is_an_error_and_a_bad_date_a_candidate() {
        assert_eq!(
            parse(b"user,arn\nx,y").unwrap_err(),
            ReportError::MissingColumn("access_key_1_active")
        );
        let csv = report(&["odd,arn,2026,false,N/A,N/A,N/A,false,true,yesterday,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"]);
        let rows = parse(&csv).unwrap();
        assert_eq!(rows[0].keys[0].last_rotated, None);
        assert_eq!(candidates(&rows, 70, Timestamp::default()), ["odd"]);
    }
}
