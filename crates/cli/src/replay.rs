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

mod read;
#[cfg(feature = "s3")]
mod s3;
pub mod window;

use crate::InputError;
use keyguard_core::policy::detector::{evaluate_with, memory, DetectorConfig};
use read::LogFile;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

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

/// A log file to replay: on this machine or in S3.
pub struct Listed {
    /// As the user would name it: the path, or `s3://BUCKET/KEY`.
    name: String,
    place: Place,
}

enum Place {
    Local(PathBuf),
    #[cfg(feature = "s3")]
    S3 {
        bucket: std::sync::Arc<s3::Bucket>,
        key: String,
        size: u64,
    },
}

impl LogFile for Listed {
    fn name(&self) -> &str {
        &self.name
    }

    fn open(&self) -> std::io::Result<Box<dyn std::io::Read + '_>> {
        match &self.place {
            Place::Local(path) => Ok(Box::new(std::fs::File::open(path)?)),
            #[cfg(feature = "s3")]
            Place::S3 { bucket, key, .. } => bucket.open(key),
        }
    }
}

impl Listed {
    /// Its stored size, for the progress bar (asked only when the bar is shown).
    fn size(&self) -> u64 {
        match &self.place {
            Place::Local(path) => std::fs::metadata(path).map_or(0, |m| m.len()),
            #[cfg(feature = "s3")]
            Place::S3 { size, .. } => *size,
        }
    }
}

/// Every file the inputs hold that the window lets through, in the order CloudTrail
/// wrote them. A local path the user named that does not exist, or a bucket that cannot
/// be reached, is an error (a typo should not pass as an empty hunt); anything met on
/// the way that cannot be read (a dangling link, a FIFO, a folder without permission)
/// is named and skipped.
fn files(
    inputs: &[PathBuf],
    window: &window::Window,
    summary: &mut Summary,
) -> Result<Vec<Listed>, InputError> {
    let mut local = Vec::new();
    let mut remote = Vec::new();
    for input in inputs {
        let raw = input.to_string_lossy();
        if raw.starts_with("s3://") {
            remote.push(raw.into_owned());
        } else if !input.exists() {
            return Err(InputError(format!("{raw}: no such file or directory")));
        } else {
            local.push(input.clone());
        }
    }
    let mut paths = Vec::new();
    walk(
        &local,
        window,
        &mut std::collections::BTreeSet::new(),
        &mut paths,
        summary,
    );
    let mut out: Vec<Listed> = paths
        .into_iter()
        .map(|path| Listed {
            name: path.display().to_string(),
            place: Place::Local(path),
        })
        .collect();
    if !remote.is_empty() {
        out.extend(in_s3(&remote, window, summary)?);
    }
    // In the order CloudTrail wrote them, so the correlations meet a key's creation
    // before its use: CloudTrail's layout (`…/CloudTrail/REGION/YYYY/MM/DD/`) walked by
    // name replays one Region after another, and IAM's calls are all in us-east-1.
    out.sort_by_cached_key(|f| (written_at(Path::new(&f.name)), f.name.clone()));
    Ok(out)
}

#[cfg(feature = "s3")]
fn in_s3(
    urls: &[String],
    window: &window::Window,
    summary: &mut Summary,
) -> Result<Vec<Listed>, InputError> {
    let client = s3::S3::new().map_err(InputError)?;
    let mut out = Vec::new();
    for raw in urls {
        let url = s3::parse_url(raw)
            .unwrap_or_else(|| Err(format!("{raw}: not an s3:// address")))
            .map_err(InputError)?;
        let bucket = std::sync::Arc::new(client.bucket(&url.bucket).map_err(InputError)?);
        let objects = bucket.list(&url.prefix, window, &mut |folder, why| {
            skip(&folder, &format!("could not be listed: {why}"), summary)
        });
        out.extend(objects.into_iter().map(|o| Listed {
            name: format!("s3://{}/{}", bucket.name(), o.key),
            place: Place::S3 {
                bucket: bucket.clone(),
                key: o.key,
                size: o.size,
            },
        }));
    }
    Ok(out)
}

#[cfg(not(feature = "s3"))]
fn in_s3(urls: &[String], _: &window::Window, _: &mut Summary) -> Result<Vec<Listed>, InputError> {
    Err(InputError(format!(
        "{}: this keyguard was built without S3 (the `s3` feature)",
        urls.join(", ")
    )))
}

/// When CloudTrail wrote a log file, from its name
/// (`ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_UNIQUE.json.gz`); `None`, first, for a name
/// of another form, which keeps the walk's order among such files.
fn written_at(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    name.split('_').find_map(|part| {
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

fn skip(what: &dyn std::fmt::Display, why: &dyn std::fmt::Display, summary: &mut Summary) {
    summary.unreadable_paths += 1;
    name_unreadable(
        summary.unreadable + summary.unreadable_paths,
        format_args!("{what}: {why}"),
    );
}

/// Walks each directory once: a symlink back to a directory already walked (a cycle,
/// or a second way to the same logs) is not followed again, so the walk always ends
/// and no file is replayed twice.
fn walk(
    paths: &[PathBuf],
    window: &window::Window,
    seen: &mut std::collections::BTreeSet<PathBuf>,
    out: &mut Vec<PathBuf>,
    summary: &mut Summary,
) {
    for path in paths {
        if path.is_dir() {
            let real = match std::fs::canonicalize(path) {
                Ok(real) => real,
                Err(e) => {
                    skip(&path.display(), &e, summary);
                    continue;
                }
            };
            if !seen.insert(real)
                || window.folder(&format!("{}/", path.display())) == window::Folder::Skip
            {
                continue;
            }
            let mut entries: Vec<PathBuf> = Vec::new();
            match std::fs::read_dir(path) {
                Ok(read) => {
                    for entry in read {
                        match entry {
                            Ok(e) => entries.push(e.path()),
                            Err(e) => {
                                let why = format!("an entry could not be read: {e}");
                                skip(&path.display(), &why, summary)
                            }
                        }
                    }
                }
                Err(e) => {
                    skip(&path.display(), &e, summary);
                    continue;
                }
            }
            entries.sort();
            walk(&entries, window, seen, out, summary);
        } else if path.is_file() {
            let name = path.to_string_lossy();
            // CloudTrail writes its digest files (no `Records`) into the same bucket.
            let digest = path
                .components()
                .any(|c| c.as_os_str() == "CloudTrail-Digest");
            if !digest && window.file(&name) {
                out.push(path.clone());
            }
        } else {
            let why = match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_symlink() => "a link to nothing".to_owned(),
                Ok(_) => "neither a file nor a directory (a FIFO, socket or device)".to_owned(),
                Err(e) => e.to_string(),
            };
            skip(&path.display(), &why, summary);
        }
    }
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
/// first-byte latency, few enough that their batches stay within the memory bound.
pub const S3_JOBS: usize = 8;

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
    let listed = files(inputs, &opts.window, &mut summary)?;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let remote = listed.iter().any(|f| !matches!(f.place, Place::Local(_)));
    let jobs = opts
        .jobs
        .unwrap_or(if remote { cores.max(S3_JOBS) } else { cores });
    let bar = progress_bar(&listed);
    let mut current = usize::MAX;
    let mut in_file = 0u64;
    read::each_file(&listed, jobs, opts.max_record_bytes, |i, file, piece| {
        if i != current {
            current = i;
            in_file = 0;
            summary.files += 1;
            // Shown only on a terminal: no file is asked its size for a hidden bar.
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
    let _ = out.flush();
    bar.finish_and_clear();
    Ok(summary)
}

/// Progress over the files' bytes (read as each file begins), with the rate and time
/// left, on stderr; hidden unless stderr is a terminal, so nothing a script reads changes.
fn progress_bar(files: &[Listed]) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let total = files.iter().map(Listed::size).sum();
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "keyguard replay {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn a_directory_symlink_cycle_ends_and_each_file_is_listed_once() {
        let root = std::env::temp_dir().join(format!("keyguard-cycle-{}", std::process::id()));
        let inner = root.join("AWSLogs").join("r");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::write(inner.join("a.json"), br#"{"Records": []}"#).unwrap();
        // r/loop -> root: walking it naively never ends.
        std::os::unix::fs::symlink(&root, inner.join("loop")).unwrap();
        let found = files(
            std::slice::from_ref(&root),
            &window::Window::default(),
            &mut Summary::default(),
        )
        .unwrap_or_else(|e| panic!("{}", e.0));
        std::fs::remove_dir_all(&root).unwrap();
        let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].ends_with("AWSLogs/r/a.json"));
    }
}
