//! The shared corpus of published sample events.

use std::path::{Path, PathBuf};

/// One row of `SOURCES.md`.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Relative to the corpus folder, e.g. `cloudtrail/panther-iam_user_key_created-2.json`.
    pub file: String,
    pub path: PathBuf,
    /// The rule / test name column.
    pub test_name: String,
    /// `alert`, `no alert` or `n.a.`.
    pub expected: String,
}

/// The corpus folder, or `None` with a note on stderr when it is absent outside CI.
/// Under `CI=true` its absence fails the calling test.
pub fn dir() -> Option<PathBuf> {
    let dir = std::env::var_os("KEYGUARD_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::workspace_root().join("../shared/corpus"));
    if dir.join("SOURCES.md").is_file() {
        return Some(dir);
    }
    if super::in_ci() {
        panic!(
            "the shared corpus is missing at {} (CI=true: this is a failure; set KEYGUARD_CORPUS)",
            dir.display()
        );
    }
    eprintln!(
        "SKIP: shared corpus not found at {}; set KEYGUARD_CORPUS to run this test",
        dir.display()
    );
    None
}

/// Every row of `SOURCES.md`'s table.
pub fn samples(dir: &Path) -> Vec<Sample> {
    let text = std::fs::read_to_string(dir.join("SOURCES.md")).expect("SOURCES.md is readable");
    text.lines()
        .filter(|l| l.starts_with("| ") && l.contains(".json"))
        .filter_map(|line| {
            let cols: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let file = cols.first()?.to_string();
            Some(Sample {
                path: dir.join(&file),
                file,
                test_name: cols.get(3)?.to_string(),
                expected: cols.get(4)?.to_string(),
            })
        })
        .collect()
}

/// Every `.json` file under the corpus folder, relative to it.
pub fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(subdirs) = std::fs::read_dir(dir) else {
        return out;
    };
    for sub in subdirs.flatten() {
        let Ok(entries) = std::fs::read_dir(sub.path()) else {
            continue;
        };
        for f in entries.flatten() {
            let p = f.path();
            if p.extension().is_some_and(|e| e == "json") {
                if let Ok(rel) = p.strip_prefix(dir) {
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
    }
    out.sort();
    out
}

/// Every JSON event under `events/` and in the corpus, where it is present (facts files
/// are not events): (path, the event).
pub fn events() -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = vec![crate::workspace_root().join("events")];
    dirs.extend(dir());
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a samples folder") {
            let path = entry.expect("read a samples folder").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") && !path.ends_with("facts.json")
            {
                let bytes = std::fs::read(&path).expect("read a sample");
                let v = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                out.push((path.display().to_string(), v));
            }
        }
    }
    out
}
