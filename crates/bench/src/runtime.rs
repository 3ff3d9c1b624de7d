//! Enough of the Lambda Runtime API, on loopback, to run a function's real `bootstrap` (or
//! the boto3 baseline) the way Lambda does: the process is started with
//! `AWS_LAMBDA_RUNTIME_API`, long-polls `invocation/next`, and posts each result back.
//! The benchmark hands it one event at a time and times event in → result out, so both
//! sides are measured through the same door, process and HTTP included.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PREFIX: &str = "/2018-06-01/runtime";

/// What the process posted for one invocation.
#[derive(Debug)]
pub struct Outcome {
    /// `invocation/{id}/error` or `init/error` rather than `invocation/{id}/response`.
    pub error: bool,
    pub body: Value,
    pub at: Instant,
}

pub struct Runtime {
    addr: String,
    events: Sender<(String, Vec<u8>)>,
    results: Receiver<Outcome>,
    next_id: std::cell::Cell<u64>,
}

impl Runtime {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the runtime API");
        let addr = listener
            .local_addr()
            .expect("runtime API address")
            .to_string();
        let (events, queue) = channel();
        let (report, results) = channel();
        let queue = Arc::new(Mutex::new(queue));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (queue, report) = (queue.clone(), report.clone());
                std::thread::spawn(move || serve(stream, &queue, &report));
            }
        });
        Self {
            addr,
            events,
            results,
            next_id: std::cell::Cell::new(0),
        }
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` for the process under test.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Queues an event for the next `invocation/next`.
    pub fn queue(&self, event: &Value) {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        let body = serde_json::to_vec(event).expect("events serialize");
        self.events
            .send((format!("bench-{id:08}"), body))
            .expect("the runtime API is up");
    }

    /// The next result the process posts, or `None` after `timeout`.
    pub fn result(&self, timeout: Duration) -> Option<Outcome> {
        self.results.recv_timeout(timeout).ok()
    }

    /// One warm invocation: (event in → result out, the result).
    pub fn invoke(&self, event: &Value) -> (Duration, Outcome) {
        let started = Instant::now();
        self.queue(event);
        let outcome = self
            .result(Duration::from_secs(60))
            .expect("the function answered within 60 s");
        (outcome.at.duration_since(started), outcome)
    }
}

/// One HTTP/1.1 connection, kept alive as the runtime clients keep it.
fn serve(stream: TcpStream, queue: &Mutex<Receiver<(String, Vec<u8>)>>, report: &Sender<Outcome>) {
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut writer = writer;
    let mut reader = BufReader::new(stream);
    while let Some((method, path, body)) = read_request(&mut reader) {
        let reply = if method == "GET" && path == format!("{PREFIX}/invocation/next") {
            // Lambda holds the poll until there is an event; so do we.
            let next = queue.lock().ok().and_then(|q| q.recv().ok());
            let Some((id, event)) = next else {
                return;
            };
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() + 900_000)
                .unwrap_or_default();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {id}\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n\
                 Content-Length: {}\r\n\r\n",
                event.len()
            );
            [head.into_bytes(), event].concat()
        } else if method == "POST" && path.starts_with(PREFIX) {
            let at = Instant::now();
            let error = path.ends_with("/error");
            let body = serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
            let _ = report.send(Outcome { error, body, at });
            let ack = br#"{"status":"OK"}"#;
            let head = format!(
                "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                ack.len()
            );
            [head.as_bytes(), ack].concat()
        } else {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()
        };
        if writer
            .write_all(&reply)
            .and_then(|()| writer.flush())
            .is_err()
        {
            return;
        }
    }
}

/// (method, path, body) of the next request, or `None` when the client has gone.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "content-length" {
            length = value.parse().ok()?;
        } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2]; // the chunk and its CRLF
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some((method, path, body))
}
