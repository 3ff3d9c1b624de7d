//! `keyguard replay PATH...`: createkey-detector's rules over CloudTrail log files as
//! CloudTrail delivers them to S3 (`{"Records": [...]}`, `.json` or `.json.gz`,
//! directories walked recursively). Records are read one at a time, so memory stays flat
//! however large a file is. One JSON line per finding on stdout; progress (when stderr
//! is a terminal) and a summary on stderr. This is how a team hunts its history on the
//! day it installs keyguard. The rules that compare a call with earlier ones (a new key
//! used elsewhere, a key for a user its caller just made, a key's launches counted
//! together) remember what the replay has read so far, in file order, as the detector
//! remembers in its ledger.

use crate::InputError;
use keyguard_core::policy::detector::{evaluate_with, memory, DetectorConfig};
use keyguard_core::Trigger;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Default)]
pub struct Summary {
    pub files: u64,
    pub records: u64,
    /// Records that are not CloudTrail records keyguard can read.
    pub unreadable: u64,
    pub by_rule: BTreeMap<&'static str, u64>,
}

/// Every file under the paths, directories walked in name order.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    let mut out = Vec::new();
    walk(paths, &mut std::collections::BTreeSet::new(), &mut out)?;
    Ok(out)
}

/// Walks each directory once: a symlink back to a directory already walked (a cycle,
/// or a second way to the same logs) is not followed again, so the walk always ends
/// and no file is replayed twice.
fn walk(
    paths: &[PathBuf],
    seen: &mut std::collections::BTreeSet<PathBuf>,
    out: &mut Vec<PathBuf>,
) -> Result<(), InputError> {
    for path in paths {
        if path.is_dir() {
            let real = std::fs::canonicalize(path)
                .map_err(|e| InputError(format!("{}: {e}", path.display())))?;
            if !seen.insert(real) {
                continue;
            }
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| InputError(format!("{}: {e}", path.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            walk(&entries, seen, out)?;
        } else if path.is_file() {
            let name = path.to_string_lossy();
            // CloudTrail writes its digest files (no `Records`) into the same bucket.
            let digest = path
                .components()
                .any(|c| c.as_os_str() == "CloudTrail-Digest");
            if !digest && (name.ends_with(".json") || name.ends_with(".json.gz")) {
                out.push(path.clone());
            }
        } else {
            return Err(InputError(format!(
                "{}: no such file or directory",
                path.display()
            )));
        }
    }
    Ok(())
}

fn open(path: &Path) -> Result<Box<dyn Read>, InputError> {
    let file =
        std::fs::File::open(path).map_err(|e| InputError(format!("{}: {e}", path.display())))?;
    Ok(if path.to_string_lossy().ends_with(".gz") {
        Box::new(BufReader::new(flate2::read::GzDecoder::new(
            BufReader::new(file),
        )))
    } else {
        Box::new(BufReader::new(file))
    })
}

pub fn replay(paths: &[PathBuf], cfg: &DetectorConfig) -> Result<Summary, InputError> {
    let progress = std::io::stderr().is_terminal();
    let mut summary = Summary::default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut closed = false;
    let mut held = memory::InProcess::default();
    for path in files(paths)? {
        summary.files += 1;
        let name = path.display().to_string();
        let mut each = |record: Value| {
            summary.records += 1;
            if progress && summary.records % 50_000 == 0 {
                eprint!(
                    "\rkeyguard replay: {} files, {} records",
                    summary.files, summary.records
                );
            }
            let Ok(Trigger::CloudTrail { record, envelope }) = keyguard_core::parse_value(&record)
            else {
                summary.unreadable += 1;
                return;
            };
            let recall = memory::ask(&record, envelope.as_ref())
                .map(|ask| held.recall(&ask, cfg.correlation_minutes))
                .unwrap_or_default();
            for (account, memo) in memory::memos(&record, envelope.as_ref(), &cfg.trusted_creators)
            {
                held.remember(&account, &memo);
            }
            for alert in evaluate_with(&record, cfg, &recall) {
                *summary.by_rule.entry(alert.rule).or_default() += 1;
                let line = json!({
                    "file": name,
                    "event_id": record.event_id,
                    "event_time": record.event_time,
                    "event_name": record.event_name,
                    "rule": alert.rule,
                    "severity": alert.severity,
                    "summary": alert.summary,
                    "contain_key_id": alert.contain.as_ref().map(|(k, _)| k.to_string()),
                    "source_ip": record.source_ip_address,
                });
                // A closed stdout (`| head`) ends the output, not the program.
                if !closed && writeln!(out, "{line}").is_err() {
                    closed = true;
                }
            }
        };
        keyguard_core::events::each_record(open(&path)?, &mut each)
            .map_err(|e| InputError(format!("{name}: {e}")))?;
    }
    let _ = out.flush();
    if progress {
        eprintln!();
    }
    Ok(summary)
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
        let found = files(std::slice::from_ref(&root)).unwrap_or_else(|e| panic!("{}", e.0));
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].ends_with("AWSLogs/r/a.json"));
    }
}
