//! `keyguard replay PATH...`: createkey-detector's rules over CloudTrail log files as
//! CloudTrail delivers them to S3 (`{"Records": [...]}`, `.json` or `.json.gz`,
//! directories walked recursively). Records are read one at a time, so memory stays flat
//! however large a file is, and files are decoded on every core (`--jobs`) while the
//! rules read them in order ([`read`]). One JSON line per finding on stdout; progress (when stderr
//! is a terminal) and a summary on stderr. This is how a team hunts its history on the
//! day it installs keyguard. The rules that compare a call with earlier ones (a new key
//! used elsewhere, a key for a user its caller just made, a key's launches counted
//! together) remember what the replay has read so far, in file order, as the detector
//! remembers in its ledger.

mod inputs;
mod read;
#[cfg(feature = "s3")]
mod s3;
pub mod window;

use crate::InputError;
use inputs::{Batch, Listed};
use keyguard_core::policy::detector::{evaluate_with, memory, DetectorConfig};
use read::LogFile;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, Default)]
pub struct Summary {
    pub files: u64,
    pub records: u64,
    /// Records that could not be read (over the size cap, nested past the parser's limit,
    /// not JSON) or are not CloudTrail records keyguard can read: each named on stderr.
    pub unreadable: u64,
    /// Paths that could not be read at all, or files whose own shape broke part way
    /// (the records before the fault were replayed): each named on stderr.
    pub unreadable_paths: u64,
    /// Records read but outside `--since`/`--until`/`--account`/`--region`.
    pub outside: u64,
    pub by_rule: BTreeMap<&'static str, u64>,
}

/// Unreadable records and paths named on stderr, at most: past it they are counted.
const NAMED: u64 = 1_000;

/// Says why something could not be read, while fewer than [`NAMED`] were.
/// Written, not `eprintln!`ed: a closed stderr (`2>&1 | head`) ends the naming, not the
/// replay.
fn name_unreadable(count: u64, what: std::fmt::Arguments) {
    let mut err = std::io::stderr().lock();
    let _ = if count <= NAMED {
        // Names come from file systems and buckets anyone may write to: cleaned as
        // notices are, so no control character reaches the terminal.
        let what = keyguard_core::notice::clean(&what.to_string(), 2_000);
        writeln!(err, "keyguard replay: skipped {what}")
    } else if count == NAMED + 1 {
        writeln!(
            err,
            "keyguard replay: more skipped records or paths are counted, not named"
        )
    } else {
        Ok(())
    };
}

fn skip(what: &dyn std::fmt::Display, why: &dyn std::fmt::Display, summary: &mut Summary) {
    summary.unreadable_paths += 1;
    name_unreadable(
        summary.unreadable + summary.unreadable_paths,
        format_args!("{what}: {why}"),
    );
}

/// What each finding line is: keyguard's own JSON, or an OCSF Detection Finding.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lines {
    Keyguard,
    Ocsf,
}

/// How a replay reads and writes.
pub struct Options {
    pub max_record_bytes: usize,
    pub lines: Lines,
    /// Files read at once: at least one; `None`, the cores, or at least
    /// [`S3_JOBS`] when a file is in S3 (its readers mostly wait on the network).
    pub jobs: Option<usize>,
    pub window: window::Window,
}

/// Readers when a file is in S3, unless `--jobs` says: enough GETs in flight to hide S3's
/// first-byte latency behind the inflating, few enough that their batches stay within
/// the memory bound (each reader holds up to three batches: 8 readers took 135 MiB on
/// the bench's realistic files, 2 took 40).
pub const S3_JOBS: usize = 4;

pub fn replay(
    inputs: &[PathBuf],
    cfg: &DetectorConfig,
    opts: &Options,
) -> Result<Summary, InputError> {
    opts.window
        .check()
        .map_err(|e| InputError(format!("replay: {e}")))?;
    let mut summary = Summary::default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut closed = false;
    let mut held = memory::InProcess::default();
    let batches = inputs::batches(inputs, &opts.window, &mut summary)?;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let remote = batches.iter().any(Batch::is_remote);
    let jobs = opts
        .jobs
        .unwrap_or(if remote { cores.max(S3_JOBS) } else { cores });
    let bar = progress_bar();
    for batch in batches {
        let listed = batch.files(&opts.window, &mut summary);
        // Shown only on a terminal: no file is asked its size for a hidden bar.
        if !bar.is_hidden() {
            bar.inc_length(listed.iter().map(Listed::size).sum());
        }
        let mut current = usize::MAX;
        let mut in_file = 0u64;
        read::each_file(&listed, jobs, opts.max_record_bytes, |i, file, piece| {
            if i != current {
                current = i;
                in_file = 0;
                summary.files += 1;
                if !bar.is_hidden() {
                    bar.inc(file.size());
                    bar.set_message(format!("{} records", summary.records));
                }
            }
            let name = file.name();
            let records = match piece {
                read::Piece::Records(records) => records,
                read::Piece::Unopened(e) => {
                    summary.unreadable_paths += 1;
                    name_unreadable(
                        summary.unreadable + summary.unreadable_paths,
                        format_args!("{name}: {e}"),
                    );
                    return;
                }
                // A file whose shape breaks part way keeps the records read before it.
                read::Piece::Broken(e) => {
                    summary.unreadable_paths += 1;
                    name_unreadable(
                        summary.unreadable + summary.unreadable_paths,
                        format_args!("the rest of {name}: {e}"),
                    );
                    return;
                }
            };
            for parsed in records {
                summary.records += 1;
                let index = in_file;
                in_file += 1;
                let record = match parsed {
                    Ok(record) => record,
                    Err(why) => {
                        summary.unreadable += 1;
                        name_unreadable(
                            summary.unreadable + summary.unreadable_paths,
                            format_args!("{name}: record {index}: {why}"),
                        );
                        continue;
                    }
                };
                // Outside the window, a record is not replayed, nor remembered: what a
                // replay finds depends on the window, not on how files cut it.
                if !opts.window.holds(&record) {
                    summary.outside += 1;
                    continue;
                }
                // Records in a log file are bare: no EventBridge envelope.
                let recall = memory::ask(&record, None)
                    .map(|ask| held.recall(&ask, cfg.correlation_minutes))
                    .unwrap_or_default();
                for (account, memo) in memory::memos(&record, None, &cfg.trusted_creators) {
                    held.remember(&account, &memo);
                }
                for alert in evaluate_with(&record, cfg, &recall) {
                    *summary.by_rule.entry(alert.rule).or_default() += 1;
                    let line = if opts.lines == Lines::Ocsf {
                        keyguard_core::ocsf::from_alert(&record, &alert, chrono::Utc::now())
                    } else {
                        json!({
                        "file": name.to_string(),
                        "event_id": record.event_id,
                        "event_time": record.event_time,
                        "event_name": record.event_name,
                        "rule": alert.rule,
                        "severity": alert.severity,
                        "summary": alert.summary,
                        "contain_key_id": alert.contain.as_ref().map(|(k, _)| k.to_string()),
                        "source_ip": record.source_ip_address,
                        })
                    };
                    // A closed stdout (`| head`) ends the output, not the program.
                    if !closed && writeln!(out, "{line}").is_err() {
                        closed = true;
                    }
                }
            }
        });
    }
    let _ = out.flush();
    bar.finish_and_clear();
    Ok(summary)
}

/// Progress over the files' bytes (read as each file begins), with the rate and time
/// left, on stderr; hidden unless stderr is a terminal, so nothing a script reads changes.
fn progress_bar() -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    // Its length grows as each batch is listed.
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "keyguard replay {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}
