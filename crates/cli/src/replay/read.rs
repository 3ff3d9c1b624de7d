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
use std::path::{Path, PathBuf};
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

/// The file's bytes, inflated when it is gzip: every member of it, as `zcat` reads them.
fn open(path: &Path) -> std::io::Result<Box<dyn Read>> {
    let file = std::fs::File::open(path)?;
    Ok(if path.to_string_lossy().ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 17,
            file,
        )))
    } else {
        Box::new(file)
    })
}

/// Reads one file, handing its records over in batches. A reader that went away
/// (the replay ended) stops it.
fn read_file(path: &Path, max_record_bytes: usize, out: &SyncSender<Piece>) {
    let reader = match open(path) {
        Ok(reader) => reader,
        Err(e) => {
            let _ = out.send(Piece::Unopened(e));
            return;
        }
    };
    let mut batch = Vec::with_capacity(BATCH_RECORDS);
    let mut bytes = 0;
    let mut gone = false;
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
        }
    });
    if !batch.is_empty() && !gone {
        gone = out.send(Piece::Records(batch)).is_err();
    }
    if let (Err(e), false) = (result, gone) {
        let _ = out.send(Piece::Broken(e));
    }
}

/// Calls `each(index, path, piece)` for every file's pieces, files in the order given,
/// each file's pieces in its order, decoded by `jobs` workers (at least one).
pub fn each_file(
    files: &[PathBuf],
    jobs: usize,
    max_record_bytes: usize,
    mut each: impl FnMut(usize, &Path, Piece),
) {
    let jobs = jobs.max(1);
    // The dispatcher hands file i to the next free worker only after it has queued file
    // i's receiver for the reader; workers take files in order, so the file the reader
    // waits on is always being read or already read, and nothing can wait on itself.
    let (order_tx, order_rx) = sync_channel::<Receiver<Piece>>(jobs * 2);
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
                read_file(&files[i], max_record_bytes, &out);
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
        for (i, rx) in order_rx.iter().enumerate() {
            for piece in rx.iter() {
                each(i, &files[i], piece);
            }
        }
    });
}
