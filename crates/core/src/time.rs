//! Lenient timestamps. Published events carry at least four time formats (RFC 3339,
//! `2022-09-27 17:09:18[.fffffffff]`, RFC 1123 with a weekday that may not match the date,
//! and CloudTrail's `Jan 8, 2020 8:43:06 PM`), so times stay strings in the models and
//! are read through this one function when a decision needs them.

use chrono::{DateTime, NaiveDateTime, Utc};

pub type Timestamp = DateTime<Utc>;

/// Years an event can carry. chrono reads a year of any width with a sign, and a time in
/// year 262143 would overflow the first minutes added to it: outside these, no time.
const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

pub fn parse_time(raw: &str) -> Option<Timestamp> {
    use chrono::Datelike;
    parse_any(raw).filter(|t| YEARS.contains(&t.year()))
}

fn parse_any(raw: &str) -> Option<Timestamp> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%b %d, %Y %I:%M:%S %p",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(raw, fmt) {
            return Some(t.and_utc());
        }
    }
    // RFC 1123: the weekday is redundant and published samples get it wrong
    // ("Sat, 05 Jun 2016" was a Sunday), so it is dropped rather than checked.
    let without_weekday = raw.split_once(", ").map_or(raw, |(_, rest)| rest);
    let without_zone = without_weekday.strip_suffix(" GMT")?;
    NaiveDateTime::parse_from_str(without_zone, "%d %b %Y %H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_year_no_event_can_carry_is_no_time() {
        for bad in [
            "+262143-12-31 23:59:59",
            "262143-12-31T23:59:59",
            "-0001-01-01 00:00:00",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        let last = parse_time("9999-12-31T23:59:59Z").unwrap();
        // What the detector adds to an event's time cannot overflow.
        assert!(last
            .checked_add_signed(chrono::Duration::minutes(2 * 1440))
            .is_some());
    }

    #[test]
    fn every_published_format() {
        let want = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        };
        let cases = [
            ("2019-01-01T00:00:00Z", "2019-01-01T00:00:00Z"),
            ("2022-09-27 17:09:18", "2022-09-27T17:09:18Z"),
            ("2023-01-03 01:52:07.000000000", "2023-01-03T01:52:07Z"),
            ("Sat, 05 Jun 2016 15:10:09 GMT", "2016-06-05T15:10:09Z"),
            ("Wed, 12 Feb 2025 00:37:54 GMT", "2025-02-12T00:37:54Z"),
            ("Jan 8, 2020 8:43:06 PM", "2020-01-08T20:43:06Z"),
            ("2016-08-02T02:05:06.000Z", "2016-08-02T02:05:06Z"),
        ];
        for (raw, iso) in cases {
            assert_eq!(parse_time(raw), want(iso), "{raw}");
        }
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(""), None);
    }
}
