//! CloudTrail log files as CloudTrail delivers them to S3, `{"Records": [...]}`, read one
//! record at a time. Memory stays flat however large the file: the file is walked by a
//! scanner that keeps no structure but a nesting count, each record's bytes are held up
//! to a cap and handed on to be parsed on their own (by [`super::log_record`], on
//! whichever thread the caller likes), and a record over the cap is passed on as
//! [`Item::Unreadable`] with its index and why, and the next one is read. Only a file whose own shape is broken
//! (truncated, not `{"Records": [...]}`, trailing bytes) stops, with where.

use std::io::{ErrorKind, Read};

/// The bytes one record may hold by default: larger than any CloudTrail record keyguard
/// has met. `keyguard replay --max-record-bytes` changes it.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

/// One record of a log file, as read: its bytes, not yet parsed (they may not be JSON).
#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    Record(&'a [u8]),
    /// The record at this index (from 0) could not be read, and why; the file goes on.
    Unreadable {
        index: u64,
        why: String,
    },
}

/// A log file whose own shape is broken: where, and what was wrong. The records before
/// it have been passed on.
#[derive(Debug, thiserror::Error)]
#[error("at byte {offset}: {message}")]
pub struct LogFileError {
    pub offset: u64,
    pub message: String,
}

/// Calls `each` for every record of the log file `reader` holds, in order, holding at
/// most `max_record_bytes` of any one record.
pub fn each_record<R: Read>(
    reader: R,
    max_record_bytes: usize,
    mut each: impl FnMut(Item<'_>),
) -> Result<(), LogFileError> {
    let mut scan = Scan::new(reader);
    scan.file(max_record_bytes, &mut each)
}

const BUFFER: usize = 64 * 1024;

struct Scan<R> {
    reader: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// Bytes consumed before `buf`'s start.
    base: u64,
}

/// Where a value's bytes go: kept up to `max`, counted past it.
struct Capture {
    bytes: Vec<u8>,
    max: usize,
    over: bool,
}

impl Capture {
    fn new(max: usize) -> Self {
        Self {
            bytes: Vec::new(),
            max,
            over: false,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        if self.over {
            return;
        }
        if self.bytes.len() + chunk.len() > self.max {
            self.over = true;
            self.bytes.clear();
        } else {
            self.bytes.extend_from_slice(chunk);
        }
    }

    /// Empty again, keeping its allocation (never more than `max`): one buffer serves
    /// every record of a file instead of growing a new one for each.
    fn reset(&mut self) {
        self.bytes.clear();
        self.over = false;
    }
}

impl<R: Read> Scan<R> {
    fn new(reader: R) -> Self {
        Self {
            reader,
            buf: vec![0; BUFFER].into_boxed_slice(),
            pos: 0,
            len: 0,
            base: 0,
        }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn fail<T>(&self, message: impl Into<String>) -> Result<T, LogFileError> {
        Err(LogFileError {
            offset: self.offset(),
            message: message.into(),
        })
    }

    /// The unread bytes, refilled when empty; empty at the end of the input.
    fn available(&mut self) -> Result<&[u8], LogFileError> {
        if self.pos == self.len {
            self.base += self.len as u64;
            self.pos = 0;
            self.len = 0;
            loop {
                match self.reader.read(&mut self.buf) {
                    Ok(n) => {
                        self.len = n;
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return self.fail(format!("reading: {e}")),
                }
            }
        }
        Ok(&self.buf[self.pos..self.len])
    }

    /// The next byte that is not white space, not consumed; `None` at the end.
    fn peek_token(&mut self) -> Result<Option<u8>, LogFileError> {
        loop {
            let bytes = self.available()?;
            if bytes.is_empty() {
                return Ok(None);
            }
            match bytes.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    let b = bytes[i];
                    self.pos += i;
                    return Ok(Some(b));
                }
                None => self.pos = self.len,
            }
        }
    }

    fn consume(&mut self, want: u8, what: &str) -> Result<(), LogFileError> {
        match self.peek_token()? {
            Some(b) if b == want => {
                self.pos += 1;
                Ok(())
            }
            Some(b) => self.fail(format!("expected {what}, found {:?}", char::from(b))),
            None => self.fail(format!("expected {what}, found the end of the file")),
        }
    }

    /// The rest of a string whose opening quote was consumed, closing quote included.
    fn string_rest(&mut self, out: &mut Capture) -> Result<(), LogFileError> {
        let mut escaped = false;
        loop {
            let bytes = self.available()?;
            if bytes.is_empty() {
                return self.fail("the file ends inside a string");
            }
            let mut end = None;
            for (i, &b) in bytes.iter().enumerate() {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    end = Some(i + 1);
                    break;
                }
            }
            let take = end.unwrap_or(bytes.len());
            out.push(&bytes[..take]);
            self.pos += take;
            if end.is_some() {
                return Ok(());
            }
        }
    }

    /// One JSON value's bytes, however deep: objects and arrays are followed by a count,
    /// not by recursion, and checked by the parser afterwards.
    fn value(&mut self, out: &mut Capture) -> Result<(), LogFileError> {
        let Some(first) = self.peek_token()? else {
            return self.fail("expected a value, found the end of the file");
        };
        match first {
            b'"' => {
                self.pos += 1;
                out.push(b"\"");
                self.string_rest(out)
            }
            b'{' | b'[' => self.nested(out),
            b'}' | b']' | b',' | b':' => {
                self.fail(format!("expected a value, found {:?}", char::from(first)))
            }
            _ => loop {
                let bytes = self.available()?;
                if bytes.is_empty() {
                    return Ok(());
                }
                let end = bytes
                    .iter()
                    .position(|b| matches!(b, b',' | b']' | b'}') || b.is_ascii_whitespace());
                let take = end.unwrap_or(bytes.len());
                out.push(&bytes[..take]);
                self.pos += take;
                if end.is_some() {
                    return Ok(());
                }
            },
        }
    }

    /// An object or array, strings inside it included, in one pass per buffer: the
    /// bytes of a string are skipped to its next quote or backslash at memchr's speed,
    /// and each buffer's part of the value is kept in one copy.
    fn nested(&mut self, out: &mut Capture) -> Result<(), LogFileError> {
        let mut depth: u64 = 0;
        let mut string = false;
        // A backslash ended the last buffer: the next byte is escaped.
        let mut escaped = false;
        loop {
            let bytes = self.available()?;
            if bytes.is_empty() {
                return self.fail(if string {
                    "the file ends inside a string"
                } else {
                    "the file ends inside a record"
                });
            }
            let mut i = 0;
            let mut closed = false;
            if escaped {
                escaped = false;
                i = 1;
            }
            while i < bytes.len() {
                if string {
                    match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                        None => i = bytes.len(),
                        Some(at) if bytes[i + at] == b'"' => {
                            string = false;
                            i += at + 1;
                        }
                        Some(at) => {
                            i += at + 2;
                            escaped = i > bytes.len();
                        }
                    }
                    continue;
                }
                match bytes[i] {
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            i += 1;
                            closed = true;
                            break;
                        }
                    }
                    b'"' => string = true,
                    _ => {}
                }
                i += 1;
            }
            let consumed = i.min(bytes.len());
            out.push(&bytes[..consumed]);
            self.pos += consumed;
            if closed {
                return Ok(());
            }
        }
    }

    /// `{"Records": [...], ...}` and nothing after it.
    fn file(
        &mut self,
        max_record_bytes: usize,
        each: &mut impl FnMut(Item<'_>),
    ) -> Result<(), LogFileError> {
        self.consume(b'{', r#"a CloudTrail log file, {"Records": [...]}"#)?;
        let mut seen = false;
        if self.peek_token()? == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                self.consume(b'"', "a key")?;
                let mut key = Capture::new(16);
                self.string_rest(&mut key)?;
                self.consume(b':', "':'")?;
                if !key.over && key.bytes == b"Records\"" {
                    if seen {
                        return self.fail("a second \"Records\"");
                    }
                    seen = true;
                    self.records(max_record_bytes, each)?;
                } else {
                    self.value(&mut Capture::new(0))?;
                }
                match self.peek_token()? {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return self.fail("expected ',' or '}' after a value"),
                }
            }
        }
        if self.peek_token()?.is_some() {
            return self.fail("more after the log file's object");
        }
        if !seen {
            // Any other object (a single event, an export of another kind) is no log file.
            return self.fail("no \"Records\": not a CloudTrail log file");
        }
        Ok(())
    }

    fn records(
        &mut self,
        max_record_bytes: usize,
        each: &mut impl FnMut(Item<'_>),
    ) -> Result<(), LogFileError> {
        self.consume(b'[', "the array of records")?;
        if self.peek_token()? == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        let mut index = 0u64;
        let mut record = Capture::new(max_record_bytes);
        loop {
            record.reset();
            self.value(&mut record)?;
            each(if record.over {
                Item::Unreadable {
                    index,
                    why: format!("larger than {max_record_bytes} bytes"),
                }
            } else {
                Item::Record(&record.bytes)
            });
            index += 1;
            match self.peek_token()? {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return self.fail("expected ',' or ']' after a record"),
            }
        }
    }
}

#[cfg(test)]
mod tests;
