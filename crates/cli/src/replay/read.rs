//! Reading many log files on every core while the rules still see one stream in file
//! order. Inflating and decoding are nearly all of a replay's work and each file's are
//! independent, so workers take files in order and decode them; the caller's thread
//! receives each file's records in order and runs the rules, whose correlations need
//! the order CloudTrail wrote in.
//!
//! Memory is bounded by the workers, not by the input: each hands over batches of at
//! most [`BATCH_RECORDS`] records or [`BATCH_BYTES`] of record bytes (plus one record
//! of at most the record cap) through a channel that holds [`BATCHES_QUEUED`], so a
//! worker ahead of the reader waits instead of piling up.

use keyguard_core::events::{each_record, log_record, CloudTrailRecord, LogFileError, LogItem};
use keyguard_core::policy::detector::reads_parameters;
use std::io::{BufReader, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;

const BATCH_RECORDS: usize = 512;
const BATCH_BYTES: usize = 1 << 20;
const BATCHES_QUEUED: usize = 2;

/// One record of a file: decoded, or why it could not be.
pub type Read1 = Result<CloudTrailRecord, String>;

/// What a file gives, in its order.
pub enum Piece {
    /// The next records of the file.
    Records(Vec<Read1>),
    /// The file could not be opened.
    Unopened(std::io::Error),
    /// The file's own shape broke here; the records before it came first.
    Broken(LogFileError),
}

/// A log file wherever it is kept: its name says whether it is gzip.
pub trait LogFile: Sync {
    fn name(&self) -> &str;
    /// Its bytes as stored.
    fn open(&self) -> std::io::Result<Box<dyn Read + '_>>;
}

/// The file's bytes, inflated when it is gzip: every member of it, as `zcat` reads them.
fn open(file: &impl LogFile) -> std::io::Result<Box<dyn Read + '_>> {
    let raw = file.open()?;
    Ok(if file.name().ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 17,
            raw,
        )))
    } else {
        raw
    })
}

/// The most workers: more than this only adds threads waiting on the same cores.
const MAX_JOBS: usize = 64;

/// Reads one file, handing its records over in batches, at least one piece per file (an
/// empty batch for a file of no records), so the reader counts every file. A reader that
/// went away (the replay ended) stops it.
fn read_file(file: &impl LogFile, max_record_bytes: usize, out: &SyncSender<Piece>) {
    let reader = match open(file) {
        Ok(reader) => reader,
        Err(e) => {
            let _ = out.send(Piece::Unopened(e));
            return;
        }
    };
    let mut batch = Vec::with_capacity(BATCH_RECORDS);
    let mut bytes = 0;
    let mut gone = false;
    let mut sent = false;
    let result = each_record(reader, max_record_bytes, |item| {
        if gone {
            return;
        }
        batch.push(match item {
            LogItem::Record(raw) => {
                bytes += raw.len();
                log_record(raw, reads_parameters).map_err(|e| e.to_string())
            }
            LogItem::Unreadable { why, .. } => Err(why),
        });
        if batch.len() >= BATCH_RECORDS || bytes >= BATCH_BYTES {
            bytes = 0;
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_RECORDS));
            gone = out.send(Piece::Records(full)).is_err();
            sent = true;
        }
    });
    if gone {
        return;
    }
    if let Err(e) = result {
        if !batch.is_empty() {
            let _ = out.send(Piece::Records(batch));
        }
        let _ = out.send(Piece::Broken(e));
    } else if !batch.is_empty() || !sent {
        let _ = out.send(Piece::Records(batch));
    }
}

/// [`read_file`], and a worker that panicked says so as the file's last piece instead
/// of ending the file as though it were whole.
fn read_file_or_say(file: &impl LogFile, max_record_bytes: usize, out: &SyncSender<Piece>) {
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_file(file, max_record_bytes, out);
    }));
    if read.is_err() {
        let _ = out.send(Piece::Broken(LogFileError {
            offset: 0,
            message: "the reader of this file stopped unexpectedly; the rest of it was not read"
                .into(),
        }));
    }
}

/// Calls `each(index, file, piece)` for every file's pieces, files in the order given,
/// each file's pieces in its order, decoded by `jobs` workers (at least one).
pub fn each_file<F: LogFile>(
    files: &[F],
    jobs: usize,
    max_record_bytes: usize,
    mut each: impl FnMut(usize, &F, Piece),
) {
    let jobs = jobs.clamp(1, MAX_JOBS).min(files.len().max(1));
    // The dispatcher hands file i to the next free worker only after it has queued file
    // i's receiver for the reader; workers take files in order, so the file the reader
    // waits on is always being read or already read, and nothing can wait on itself.
    // At most `jobs` files are under way or waiting for the reader: each worker a file of
    // its own, and none far ahead, since every file ahead holds its decoded batches
    // (twice this took 98 MiB through S3's four readers).
    let (order_tx, order_rx) = sync_channel::<Receiver<Piece>>(jobs);
    let (job_tx, job_rx) = sync_channel::<(usize, SyncSender<Piece>)>(0);
    let job_rx = Mutex::new(job_rx);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let job_rx = &job_rx;
            scope.spawn(move || loop {
                let job = match job_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok((i, out)) = job else { return };
                read_file_or_say(&files[i], max_record_bytes, &out);
            });
        }
        scope.spawn(move || {
            for i in 0..files.len() {
                let (tx, rx) = sync_channel(BATCHES_QUEUED);
                if order_tx.send(rx).is_err() || job_tx.send((i, tx)).is_err() {
                    return;
                }
            }
        });
        // Owned here: if `each` panics, unwinding drops every queued receiver, so each
        // worker's and the dispatcher's next send fails and they end, and the scope
        // can end instead of waiting on them for ever.
        for (i, rx) in order_rx.into_iter().enumerate() {
            for piece in rx {
                each(i, &files[i], piece);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    struct Local(PathBuf, String);

    impl LogFile for Local {
        fn name(&self) -> &str {
            &self.1
        }
        fn open(&self) -> std::io::Result<Box<dyn Read + '_>> {
            Ok(Box::new(std::fs::File::open(&self.0)?))
        }
    }

    /// Files in a fresh folder: `{"Records": []}` for the empty ones, else one record.
    fn files(n: usize, empty_every: usize) -> (PathBuf, Vec<Local>) {
        let dir = std::env::temp_dir().join(format!(
            "keyguard-read-{}-{n}-{empty_every}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let paths = (0..n)
            .map(|i| {
                let path = dir.join(format!("{i:04}.json"));
                let records = if i % empty_every == 0 {
                    String::new()
                } else {
                    format!(r#"{{"eventName": "E{i}", "eventSource": "s3.amazonaws.com"}}"#)
                };
                std::fs::write(&path, format!(r#"{{"Records": [{records}]}}"#)).unwrap();
                let name = path.display().to_string();
                Local(path, name)
            })
            .collect();
        (dir, paths)
    }

    #[test]
    fn every_file_gives_a_piece_even_with_no_records_and_in_order() {
        let (dir, paths) = files(40, 3);
        let mut seen = Vec::new();
        let mut names = Vec::new();
        each_file(&paths, 4, 1 << 20, |i, _, piece| {
            if seen.last() != Some(&i) {
                seen.push(i);
            }
            if let Piece::Records(records) = piece {
                names.extend(records.into_iter().map(|r| r.unwrap().event_name));
            }
        });
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(seen, (0..40).collect::<Vec<_>>());
        let expected: Vec<String> = (0..40)
            .filter(|i| i % 3 != 0)
            .map(|i| format!("E{i}"))
            .collect();
        assert_eq!(names, expected);
    }

    /// The thread running the rules panics part way (a closed stderr did, before names
    /// were written without `eprintln!`): the workers and the dispatcher end, and the
    /// panic reaches the caller instead of the replay waiting for ever.
    #[test]
    fn a_panic_in_the_reader_ends_the_replay_instead_of_hanging_it() {
        let (dir, paths) = files(200, 1000);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                each_file(&paths, 4, 1 << 20, |i, _, _| {
                    assert!(i < 3, "the reader stops at file 3");
                });
            }));
            let _ = done_tx.send(outcome.is_err());
        });
        let panicked = done_rx.recv_timeout(std::time::Duration::from_secs(60));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(panicked, Ok(true), "the replay ended, with the panic");
    }
}
