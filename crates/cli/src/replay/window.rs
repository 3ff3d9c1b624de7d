//! Which part of a CloudTrail history a replay reads: `--since`, `--until`, `--account`
//! and `--region`. CloudTrail names every log file by where and when it was written
//! (`…AWSLogs/[ORG_ID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_
//! YYYYMMDDTHHMMZ_UNIQUE.json.gz`), so most of a history is ruled out by its name before
//! a byte of it is read: in S3 a folder that cannot hold a wanted file is never listed,
//! a file that cannot hold a wanted record never fetched. The records are then held to
//! the window themselves, so what the names let through cannot widen it.
//!
//! A file holds records from before it was written, never after; CloudTrail delivers
//! most within minutes but documents no bound, so a file written up to a day after
//! `--until` is still read for late records (the names can rule out only what is
//! certain).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use keyguard_core::events::CloudTrailRecord;

/// How late a record may be delivered and still be found: files written up to this long
/// after `--until` are read.
const LATE_DELIVERY: Duration = Duration::days(1);

#[derive(Debug, Clone, Default)]
pub struct Window {
    /// Records at or after this time (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// Records before this time (exclusive).
    pub until: Option<DateTime<Utc>>,
    /// Only these accounts (the record's `recipientAccountId`); empty: all.
    pub accounts: Vec<String>,
    /// Only these Regions (the record's `awsRegion`); empty: all.
    pub regions: Vec<String>,
}

/// A `--since`/`--until` value: a day (`2026-12-01`, midnight UTC) or a time
/// (`2026-12-01T10:00:00Z`).
pub fn parse_bound(raw: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(day) = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d") {
        if let Some(midnight) = day.and_hms_opt(0, 0, 0) {
            return Ok(midnight.and_utc());
        }
    }
    keyguard_core::parse_time(raw).ok_or_else(|| {
        format!("{raw:?} is not a day (2026-12-01) or a time (2026-12-01T10:00:00Z)")
    })
}

/// When CloudTrail wrote a log file, from its name
/// (`ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_UNIQUE.json.gz`); `None`, first, for a name
/// of another form.
pub fn written_at(name: &str) -> Option<String> {
    let file = name.rsplit('/').next()?;
    file.split('_').find_map(|part| {
        let stamp = part.as_bytes();
        let ok = stamp.len() == 14
            && stamp[8] == b'T'
            && stamp[13] == b'Z'
            && stamp[..8]
                .iter()
                .chain(&stamp[9..13])
                .all(u8::is_ascii_digit);
        ok.then(|| part.to_owned())
    })
}

/// The day (`YYYYMMDD`) of a day folder of CloudTrail's layout
/// (`…AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/`), or `None` for any other folder.
#[cfg_attr(not(feature = "s3"), allow(dead_code))]
pub fn day_of(folder: &str) -> Option<String> {
    let parts = layout_parts(folder)?;
    let [_, trail, _, year, month, day, ""] = parts.as_slice() else {
        return None;
    };
    let date = format!("{year}{month}{day}");
    (*trail == "CloudTrail" && date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()))
        .then_some(date)
}

/// What a listing should do with a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    /// It may hold wanted files: list it.
    Enter,
    /// It cannot: skip it and everything under it.
    Skip,
}

/// Where a name sits in CloudTrail's layout: the parts from `ACCOUNT` on (an
/// organisation trail's `o-…` folder dropped), or `None` where the name does not have
/// the layout's shape. Only whole segments count: `AWSLogs` followed by a 12-digit
/// account, or by `o-…` and one, or by nothing yet (a folder being listed on the way
/// down). A trail's own prefix may itself end in `AWSLogs` (`central/AWSLogs/AWSLogs/…`);
/// the last segment that fits is the layout's.
fn layout_parts(name: &str) -> Option<Vec<&str>> {
    let segments: Vec<&str> = name.split('/').collect();
    let account = |s: Option<&&str>| s.is_some_and(|s| is_account(s));
    let open = |s: Option<&&str>| s.is_none_or(|s| s.is_empty());
    (0..segments.len()).rev().find_map(|i| {
        if segments[i] != "AWSLogs" {
            return None;
        }
        let next = segments.get(i + 1);
        if account(next) || open(next) {
            return Some(segments[i + 1..].to_vec());
        }
        let org = next.is_some_and(|s| s.starts_with("o-"));
        let after = segments.get(i + 2);
        (org && (account(after) || open(after))).then(|| segments[i + 2..].to_vec())
    })
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A Region's shape (`us-east-1`, `us-gov-west-1`, `cn-north-1`): a typo such as
/// `eu-west1` would otherwise prune every folder and pass as an empty hunt.
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let letters = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    let digits = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(letters)
        && parts.last().is_some_and(digits)
}

impl Window {
    pub fn check(&self) -> Result<(), String> {
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since >= until {
                return Err(format!(
                    "--since {since} is not before --until {until}: the window holds nothing"
                ));
            }
        }
        for account in &self.accounts {
            if !is_account(account) {
                return Err(format!(
                    "--account {account:?} is not a 12-digit account id"
                ));
            }
        }
        for region in &self.regions {
            if !is_region(region) {
                return Err(format!(
                    "--region {region:?} is not a Region name (such as eu-west-1)"
                ));
            }
        }
        Ok(())
    }

    /// The days whose folders may hold wanted files, as `YYYYMMDD`: from `--since`'s day
    /// to the day a late record to `--until` may still be written in.
    fn days(&self) -> (Option<String>, Option<String>) {
        let day = |t: DateTime<Utc>| t.format("%Y%m%d").to_string();
        // --until is exclusive: its last record is the second before. Past the calendar's
        // end there is no later day to cut at.
        let last = self.until.and_then(|u| {
            u.checked_sub_signed(Duration::seconds(1))?
                .checked_add_signed(LATE_DELIVERY)
        });
        (self.since.map(day), last.map(day))
    }

    /// Whether a folder (a key prefix ending in `/`, or a directory path) can hold
    /// wanted files. Anything outside CloudTrail's layout is entered: the trail's own
    /// prefix is the user's to choose.
    pub fn folder(&self, prefix: &str) -> Folder {
        let Some(parts) = layout_parts(prefix) else {
            return Folder::Enter;
        };
        // The folder's own name is the last full part: `AWSLogs/1111/CloudTrail/` has
        // parts ["1111", "CloudTrail", ""].
        let full: Vec<&str> = parts
            .iter()
            .copied()
            .take(parts.len().saturating_sub(1))
            .collect();
        if self.rules_out(&full) {
            Folder::Skip
        } else {
            Folder::Enter
        }
    }

    /// Whether a file may hold wanted records, by its name alone: `.json` or `.json.gz`,
    /// not a digest, and (within CloudTrail's layout) of a wanted account, Region and day,
    /// written no earlier than `--since`.
    pub fn file(&self, name: &str) -> bool {
        if !(name.ends_with(".json") || name.ends_with(".json.gz")) {
            return false;
        }
        let Some(parts) = layout_parts(name) else {
            return true;
        };
        let folders = &parts[..parts.len().saturating_sub(1)];
        if self.rules_out(folders) {
            return false;
        }
        match (written_at(name), self.since) {
            // Every record in it was written before the file was.
            (Some(written), Some(since)) => written >= since.format("%Y%m%dT%H%MZ").to_string(),
            _ => true,
        }
    }

    /// Whether the folders `[ACCOUNT, "CloudTrail", REGION, YYYY, MM, DD]` (any leading
    /// part of them) rule every file under them out.
    fn rules_out(&self, parts: &[&str]) -> bool {
        if let Some(account) = parts.first() {
            if !self.accounts.is_empty() && !self.accounts.iter().any(|a| a == account) {
                return true;
            }
        }
        // Digests, Insights and other services' logs share the account's folder.
        if parts.get(1).is_some_and(|p| *p != "CloudTrail") {
            return true;
        }
        // IAM's and STS's calls are us-east-1's wherever they are filed: before November
        // 2021 a single-Region trail filed them in its own Region's folder. Asked for
        // us-east-1, every Region's folder is read and the records decide.
        if let Some(region) = parts.get(2) {
            let global = self.regions.iter().any(|r| r == "us-east-1");
            if !self.regions.is_empty() && !global && !self.regions.iter().any(|r| r == region) {
                return true;
            }
        }
        let date: String = parts.iter().skip(3).take(3).copied().collect();
        if date.is_empty() || !date.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        // A folder of year, month or day is ruled out when every day in it falls outside:
        // compare it with the bounds cut to the same length.
        let (first, last) = self.days();
        let cut = |day: &String| day.get(..date.len()).unwrap_or(day).to_owned();
        first.is_some_and(|f| date < cut(&f)) || last.is_some_and(|l| date > cut(&l))
    }

    /// Whether a record falls inside the window. A record that does not say its time,
    /// account or Region is kept: the window narrows a hunt, it never hides a record it
    /// cannot place.
    pub fn holds(&self, record: &CloudTrailRecord) -> bool {
        if let Some(t) = record
            .event_time
            .as_deref()
            .and_then(keyguard_core::parse_time)
        {
            if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t >= u) {
                return false;
            }
        }
        let listed = |wanted: &[String], got: &Option<String>| {
            wanted.is_empty() || got.as_ref().is_none_or(|g| wanted.iter().any(|w| w == g))
        };
        listed(&self.accounts, &record.recipient_account_id)
            && listed(&self.regions, &record.aws_region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> Window {
        Window {
            since: Some(parse_bound("2026-11-03T10:00:00Z").unwrap()),
            until: Some(parse_bound("2026-11-05").unwrap()),
            accounts: vec!["111111111111".into()],
            regions: vec!["eu-west-1".into()],
        }
    }

    #[test]
    fn folders_outside_the_account_region_or_days_are_skipped() {
        let w = window();
        let root = "trail/AWSLogs/";
        for (folder, want) in [
            ("", Folder::Enter),
            ("trail/", Folder::Enter),
            (root, Folder::Enter),
            ("trail/AWSLogs/o-abc123/", Folder::Enter),
            ("trail/AWSLogs/111111111111/", Folder::Enter),
            ("trail/AWSLogs/o-abc123/111111111111/", Folder::Enter),
            ("trail/AWSLogs/222222222222/", Folder::Skip),
            ("trail/AWSLogs/o-abc123/222222222222/", Folder::Skip),
            ("trail/AWSLogs/111111111111/CloudTrail/", Folder::Enter),
            (
                "trail/AWSLogs/111111111111/CloudTrail-Digest/",
                Folder::Skip,
            ),
            (
                "trail/AWSLogs/111111111111/CloudTrail-Insight/",
                Folder::Skip,
            ),
            (
                "trail/AWSLogs/111111111111/CloudTrail/eu-west-1/",
                Folder::Enter,
            ),
            (
                "trail/AWSLogs/111111111111/CloudTrail/us-east-1/",
                Folder::Skip,
            ),
            (
                "trail/AWSLogs/111111111111/CloudTrail/eu-west-1/2026/",
                Folder::Enter,
            ),
            (
                "trail/AWSLogs/111111111111/CloudTrail/eu-west-1/2025/",
                Folder::Skip,
            ),
            (
                "trail/AWSLogs/111111111111/CloudTrail/eu-west-1/2027/",
                Folder::Skip,
            ),
            (
                "trail/AWSLogs/111111111111/CloudTrail/eu-west-1/2026/10/",
                Folder::Skip,
            ),
            (
                "trail/AWSLogs/111111111111/CloudTrail/eu-west-1/2026/11/",
                Folder::Enter,
            ),
            (
                "trail/AWSLogs/111111111111/CloudTrail/eu-west-1/2026/11/02/",
                Folder::Skip,
            ),
            (
                "trail/AWSLogs/111111111111/CloudTrail/eu-west-1/2026/11/03/",
                Folder::Enter,
            ),
            // --until is exclusive, but a late record to 11-04 may be written on 11-05.
            (
                "trail/AWSLogs/111111111111/CloudTrail/eu-west-1/2026/11/05/",
                Folder::Enter,
            ),
            (
                "trail/AWSLogs/111111111111/CloudTrail/eu-west-1/2026/11/06/",
                Folder::Skip,
            ),
        ] {
            assert_eq!(w.folder(folder), want, "{folder}");
        }
        // An open window enters everything.
        let open = Window::default();
        assert_eq!(
            open.folder("AWSLogs/222222222222/CloudTrail/us-east-1/1999/"),
            Folder::Enter
        );
        assert_eq!(
            open.folder("AWSLogs/222222222222/CloudTrail-Digest/"),
            Folder::Skip,
            "digests hold no records, whatever the window"
        );
    }

    #[test]
    fn only_whole_segments_of_the_layout_are_read_as_the_layout() {
        let w = window();
        let trail = "AWSLogs/111111111111/CloudTrail/eu-west-1/2026/11/03/";
        // A trail whose own prefix ends in AWSLogs, and a local copy under ~/AWSLogs.
        for root in ["AWSLogs/", "central/AWSLogs/", "home/me/AWSLogs/o-abc123/"] {
            assert_eq!(w.folder(root), Folder::Enter, "{root}");
            assert_eq!(w.folder(&format!("{root}{trail}")), Folder::Enter, "{root}");
            let open = Window::default();
            assert_eq!(
                open.folder(&format!("{root}{trail}")),
                Folder::Enter,
                "{root}"
            );
        }
        // A folder that is not the layout's shape is entered, whatever it holds.
        assert_eq!(w.folder("prod-AWSLogs/"), Folder::Enter);
        assert_eq!(w.folder("AWSLogs/exports/2026/"), Folder::Enter);
        assert_eq!(Window::default().folder("x/AWSLogs/loop/"), Folder::Enter);
        assert_eq!(w.folder("AWSLogs/AWSLogs/222222222222/"), Folder::Skip);
    }

    #[test]
    fn a_day_folder_is_known_by_its_place_in_the_layout() {
        let day = "t/AWSLogs/o-abc123/111111111111/CloudTrail/eu-west-1/2026/11/03/";
        assert_eq!(day_of(day).as_deref(), Some("20261103"));
        assert_eq!(
            day_of("AWSLogs/111111111111/CloudTrail/eu-west-1/2026/11/"),
            None
        );
        assert_eq!(
            day_of("AWSLogs/111111111111/CloudTrail-Digest/eu-west-1/2026/11/03/"),
            None
        );
        assert_eq!(day_of("exports/2026/11/03/"), None);
        assert_eq!(
            written_at("s3://b/AWSLogs/1_CloudTrail_r_20261103T0905Z_x.json.gz").as_deref(),
            Some("20261103T0905Z")
        );
        assert_eq!(written_at("/tmp/records.json"), None);
    }

    #[test]
    fn asked_for_us_east_1_every_regions_folder_is_read() {
        let w = Window {
            regions: vec!["us-east-1".into()],
            ..Window::default()
        };
        // A single-Region trail filed IAM's calls in its own Region before 2021.
        assert_eq!(
            w.folder("AWSLogs/111111111111/CloudTrail/eu-west-1/"),
            Folder::Enter
        );
        assert!(w.check().is_ok());
        for typo in ["eu-west1", "euwest-1", "EU-WEST-1", "eu--1"] {
            let w = Window {
                regions: vec![typo.into()],
                ..Window::default()
            };
            assert!(w.check().unwrap_err().contains("not a Region"), "{typo}");
        }
        for region in [
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-5",
            "il-central-1",
        ] {
            let w = Window {
                regions: vec![region.into()],
                ..Window::default()
            };
            assert!(w.check().is_ok(), "{region}");
        }
    }

    #[test]
    fn a_window_at_the_end_of_time_cuts_nothing_and_does_not_panic() {
        let w = Window {
            until: Some(DateTime::<Utc>::MAX_UTC),
            ..Window::default()
        };
        assert_eq!(
            w.folder("AWSLogs/111111111111/CloudTrail/r/9999/"),
            Folder::Enter
        );
    }

    #[test]
    fn a_year_folder_across_a_new_year_is_entered_on_both_sides() {
        let w = Window {
            since: Some(parse_bound("2026-12-31").unwrap()),
            until: Some(parse_bound("2027-01-01T06:00:00Z").unwrap()),
            ..Window::default()
        };
        for (folder, want) in [
            (
                "AWSLogs/111111111111/CloudTrail/r/2026/12/31/",
                Folder::Enter,
            ),
            ("AWSLogs/111111111111/CloudTrail/r/2027/01/", Folder::Enter),
            (
                "AWSLogs/111111111111/CloudTrail/r/2027/01/02/",
                Folder::Enter,
            ),
            (
                "AWSLogs/111111111111/CloudTrail/r/2027/01/03/",
                Folder::Skip,
            ),
            ("AWSLogs/111111111111/CloudTrail/r/2027/02/", Folder::Skip),
        ] {
            assert_eq!(w.folder(folder), want, "{folder}");
        }
    }

    #[test]
    fn files_are_held_to_the_window_by_name() {
        let w = window();
        let day = "x/AWSLogs/111111111111/CloudTrail/eu-west-1/2026/11/03/";
        let name =
            |stamp: &str| format!("{day}111111111111_CloudTrail_eu-west-1_{stamp}_abcd.json.gz");
        assert!(!w.file(&name("20261103T0955Z")), "written before --since");
        assert!(w.file(&name("20261103T1000Z")));
        assert!(w.file(&name("20261103T2355Z")));
        assert!(!w.file(&format!("{day}notes.txt")));
        assert!(!w.file("x/AWSLogs/111111111111/CloudTrail-Digest/eu-west-1/2026/11/03/d.json.gz"));
        assert!(!w.file(
            "x/AWSLogs/111111111111/CloudTrail/us-east-1/2026/11/03/a_20261103T1200Z_b.json.gz"
        ));
        // Outside the layout, a name says nothing: the records decide.
        assert!(w.file("/tmp/export/records.json"));
    }

    #[test]
    fn records_are_held_to_the_window_and_unplaced_ones_kept() {
        let w = window();
        let record = |time: Option<&str>, account: Option<&str>, region: Option<&str>| {
            let mut v =
                serde_json::json!({"eventName": "GetUser", "eventSource": "iam.amazonaws.com"});
            if let Some(t) = time {
                v["eventTime"] = t.into();
            }
            if let Some(a) = account {
                v["recipientAccountId"] = a.into();
            }
            if let Some(r) = region {
                v["awsRegion"] = r.into();
            }
            serde_json::from_value::<CloudTrailRecord>(v).unwrap()
        };
        let a = Some("111111111111");
        let r = Some("eu-west-1");
        assert!(w.holds(&record(Some("2026-11-03T10:00:00Z"), a, r)));
        assert!(!w.holds(&record(Some("2026-11-03T09:59:59Z"), a, r)));
        assert!(
            !w.holds(&record(Some("2026-11-05T00:00:00Z"), a, r)),
            "--until is exclusive"
        );
        assert!(!w.holds(&record(
            Some("2026-11-04T00:00:00Z"),
            Some("222222222222"),
            r
        )));
        assert!(!w.holds(&record(Some("2026-11-04T00:00:00Z"), a, Some("us-east-1"))));
        assert!(w.holds(&record(None, None, None)));
    }

    #[test]
    fn a_window_that_holds_nothing_or_names_no_account_is_refused() {
        let mut w = window();
        w.until = w.since;
        assert!(w.check().unwrap_err().contains("not before"));
        let w = Window {
            accounts: vec!["12345".into()],
            ..Window::default()
        };
        assert!(w.check().unwrap_err().contains("12-digit"));
        assert!(parse_bound("yesterday").is_err());
        assert_eq!(
            parse_bound("2026-12-01").unwrap(),
            parse_bound("2026-12-01T00:00:00Z").unwrap()
        );
    }
}
