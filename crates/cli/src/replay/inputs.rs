//! What a replay reads, in the order CloudTrail wrote it: files and folders on this
//! machine, and trails' buckets in S3 (`s3://BUCKET/PREFIX`). They come as batches: first
//! the local files (and whatever a bucket holds outside a dated folder), then one batch
//! per day of S3, listed only when its turn comes, so a year of an organisation's trail
//! is never held as one list.

use super::read::LogFile;
use super::window::{self, written_at, Window};
use super::{skip, Summary};
use crate::InputError;
use std::path::PathBuf;

/// A log file to replay: on this machine or in S3.
pub struct Listed {
    /// As the user would name it: the path, or `s3://BUCKET/KEY`.
    pub name: String,
    place: Place,
}

enum Place {
    Local(PathBuf),
    #[cfg(feature = "s3")]
    S3 {
        bucket: std::sync::Arc<super::s3::Bucket>,
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
            Place::S3 { bucket, key, size } => bucket.open(key, *size),
        }
    }
}

impl Listed {
    #[cfg(feature = "s3")]
    fn in_s3(bucket: &std::sync::Arc<super::s3::Bucket>, object: super::s3::Object) -> Self {
        Self {
            name: format!("s3://{}/{}", bucket.name(), object.key),
            place: Place::S3 {
                bucket: bucket.clone(),
                key: object.key,
                size: object.size,
            },
        }
    }

    /// Its stored size, for the progress bar (asked only when the bar is shown).
    pub fn size(&self) -> u64 {
        match &self.place {
            Place::Local(path) => std::fs::metadata(path).map_or(0, |m| m.len()),
            #[cfg(feature = "s3")]
            Place::S3 { size, .. } => *size,
        }
    }
}

/// Files replayed together.
pub enum Batch {
    /// Listed already.
    Ready(Vec<Listed>),
    /// One day's folders of CloudTrail's layout in S3 (every account and Region the
    /// window lets through), listed when the batch is read.
    #[cfg(feature = "s3")]
    Day(Vec<(std::sync::Arc<super::s3::Bucket>, String)>),
}

impl Batch {
    pub fn is_remote(&self) -> bool {
        match self {
            Batch::Ready(files) => files.iter().any(|f| !matches!(f.place, Place::Local(_))),
            #[cfg(feature = "s3")]
            Batch::Day(_) => true,
        }
    }

    /// Its files, in the order CloudTrail wrote them (the `YYYYMMDDTHHMMZ` in a log
    /// file's name; other files first, by name): CloudTrail's layout by name replays one
    /// Region after another, and IAM's calls are all in us-east-1, so a key made there
    /// and used in eu-west-1 would otherwise be read after its use.
    pub fn files(self, window: &Window, summary: &mut Summary) -> Vec<Listed> {
        let mut files = match self {
            Batch::Ready(files) => files,
            #[cfg(feature = "s3")]
            Batch::Day(folders) => super::s3::day(&folders, window, &mut |what, why| {
                skip(&what, &why, summary)
            })
            .into_iter()
            .map(|(bucket, o)| Listed::in_s3(&bucket, o))
            .collect(),
        };
        #[cfg(not(feature = "s3"))]
        let _ = (window, summary);
        files.sort_by_cached_key(|f| (written_at(&f.name), f.name.clone()));
        files
    }
}

/// The batches the inputs hold. A local path the user named that does not exist, or a
/// bucket that cannot be reached or holds nothing under the prefix, is an error (a typo
/// should not pass as an empty hunt); anything met on the way that cannot be read (a
/// dangling link, a FIFO, a folder without permission or that fails to list) is named
/// and skipped.
pub fn batches(
    inputs: &[PathBuf],
    window: &Window,
    summary: &mut Summary,
) -> Result<Vec<Batch>, InputError> {
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
    let ready: Vec<Listed> = paths
        .into_iter()
        .map(|path| Listed {
            name: path.display().to_string(),
            place: Place::Local(path),
        })
        .collect();
    let mut out = vec![Batch::Ready(ready)];
    if !remote.is_empty() {
        in_s3(&remote, window, summary, &mut out)?;
    }
    Ok(out)
}

/// Each bucket surveyed down to its day folders; what lies outside one joins the first
/// batch, and each day (across buckets, accounts and Regions) becomes a batch.
#[cfg(feature = "s3")]
fn in_s3(
    urls: &[String],
    window: &Window,
    summary: &mut Summary,
    out: &mut Vec<Batch>,
) -> Result<(), InputError> {
    use super::s3;
    let client = s3::S3::new().map_err(InputError)?;
    let mut days: std::collections::BTreeMap<String, Vec<_>> = Default::default();
    for raw in urls {
        let url = s3::parse_url(raw)
            .unwrap_or_else(|| Err(format!("{raw}: not an s3:// address")))
            .map_err(InputError)?;
        let bucket = std::sync::Arc::new(client.bucket(&url.bucket).map_err(InputError)?);
        let survey = bucket
            .survey(&url.prefix, window, &mut |what, why| {
                skip(&what, &why, summary)
            })
            .map_err(InputError)?;
        if let Some(Batch::Ready(first)) = out.first_mut() {
            first.extend(
                survey
                    .undated
                    .into_iter()
                    .map(|o| Listed::in_s3(&bucket, o)),
            );
        }
        for (day, folders) in survey.days {
            days.entry(day)
                .or_default()
                .extend(folders.into_iter().map(|f| (bucket.clone(), f)));
        }
    }
    out.extend(days.into_values().map(Batch::Day));
    Ok(())
}

#[cfg(not(feature = "s3"))]
fn in_s3(
    urls: &[String],
    _: &Window,
    _: &mut Summary,
    _: &mut Vec<Batch>,
) -> Result<(), InputError> {
    Err(InputError(format!(
        "{}: this keyguard was built without S3 (the `s3` feature)",
        urls.join(", ")
    )))
}

/// Walks each directory once: a symlink back to a directory already walked (a cycle,
/// or a second way to the same logs) is not followed again, so the walk always ends
/// and no file is replayed twice.
fn walk(
    paths: &[PathBuf],
    window: &Window,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn a_directory_symlink_cycle_ends_and_each_file_is_listed_once() {
        let root = std::env::temp_dir().join(format!("keyguard-cycle-{}", std::process::id()));
        // Outside CloudTrail's layout, so the window enters every folder and only the
        // walk's own memory of where it has been can end it.
        let inner = root.join("logs").join("r");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::write(inner.join("a.json"), br#"{"Records": []}"#).unwrap();
        // r/loop -> root: walking it naively never ends.
        std::os::unix::fs::symlink(&root, inner.join("loop")).unwrap();
        let found = batches(
            std::slice::from_ref(&root),
            &Window::default(),
            &mut Summary::default(),
        )
        .unwrap_or_else(|e| panic!("{}", e.0));
        std::fs::remove_dir_all(&root).unwrap();
        let [Batch::Ready(files)] = found.as_slice() else {
            panic!("one batch of local files");
        };
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].ends_with("logs/r/a.json"));
    }
}
