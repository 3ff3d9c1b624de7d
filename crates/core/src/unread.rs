//! Users a scheduled scan could not read. age-rotation and secrets-rotator's sweep read
//! many users at once; one whose keys, tags or last use cannot be read is set apart
//! here, left out of the run's plan (nothing is decided on half its facts) and named in
//! the run's report, so one flaky call holds up that user only.

use crate::report::Report;

/// A user the scan could not read, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unread {
    pub user: String,
    pub why: String,
}

/// Users named in a report, and characters of each one's error: enough to act on, short
/// enough that a fleet-wide outage stays a readable report.
const UNREAD_LISTED: usize = 200;
const UNREAD_WHY_CHARS: usize = 160;

/// The run's report, failed (500) when some users could not be read, naming them: the
/// rest of the run stands, and Lambda's retry (or the next run) picks them up.
pub fn with_unread(report: Report, unread: &[Unread]) -> Report {
    if unread.is_empty() {
        return report;
    }
    let named: Vec<String> = unread
        .iter()
        .take(UNREAD_LISTED)
        .map(|u| {
            format!(
                "{} ({})",
                u.user,
                u.why.chars().take(UNREAD_WHY_CHARS).collect::<String>()
            )
        })
        .collect();
    let more = unread.len().saturating_sub(UNREAD_LISTED);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    report.failed_also(format!(
        "could not read {} user(s), left for the next run: {}{more}",
        unread.len(),
        named.join("; ")
    ))
}
