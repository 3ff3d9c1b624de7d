//! A fault-injecting HTTP proxy between the SDK clients and moto.
//!
//! For a given share of requests it answers in the service's own protocol with a
//! throttling error or an internal error, or drops the connection without answering; the
//! rest go to moto unchanged. Every fault is injected *before* the request reaches moto,
//! so a fault never hides an action moto took: what the SDK retries, moto sees once.
//! The other half of the problem, a response lost after the service acted, is asked
//! for by name: [`FaultProxy::lose_answers`] lets moto act and answers with an error
//! (docs/design.md says how keyguard's steps are made safe to repeat for it, and
//! docs/age-rotation.md what a deactivation that may have landed counts for).
//!
//! Choices come from a seeded counter, so a run's mix of faults is reproducible in
//! kind and number, if not in which request gets which (requests race).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    ServerError,
    Drop,
}

const FAULTS: [Fault; 3] = [Fault::Throttle, Fault::ServerError, Fault::Drop];

/// What the proxy did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub forwarded: u64,
    pub throttled: u64,
    pub server_errors: u64,
    pub dropped: u64,
}

impl Counts {
    pub fn faults(&self) -> u64 {
        self.throttled + self.server_errors + self.dropped
    }
}

struct Shared {
    upstream: String,
    /// The share of requests to fail, in millionths.
    share: AtomicU64,
    seed: u64,
    next: AtomicU64,
    counts: [AtomicU64; 4],
    /// Requests whose body holds this always get an internal error: one user's calls
    /// failing while the rest of the fleet answers.
    always_fail: std::sync::Mutex<Option<Vec<u8>>>,
    /// The round trip added before each forwarded request, when AWS's is modelled.
    latency: std::sync::Mutex<Option<Arc<crate::latency::Latency>>>,
    /// When the proxy last handed back moto's answer to each action (`UpdateAccessKey`):
    /// the moment the caller learns it happened.
    answered: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// When set, the request lines already failed once: each distinct request fails the
    /// first time it is seen and goes through on its retry, so every call meets a fault
    /// and none is failed for good by the luck of the draw.
    failed_once: std::sync::Mutex<Option<std::collections::HashSet<String>>>,
    /// The request lines moto served (`GET /bucket/key HTTP/1.1`), in order.
    served: std::sync::Mutex<Vec<String>>,
    /// When set, the request lines whose answer was already cut: each distinct request
    /// with a body to answer gets half of it and a closed connection the first time.
    cut_once: std::sync::Mutex<Option<(String, std::collections::HashSet<String>)>>,
    /// Requests whose body holds this reach moto, which acts, and their caller gets an
    /// internal error instead of moto's answer: a response lost after the service acted.
    lose_answer: std::sync::Mutex<Option<Vec<u8>>>,
}

pub struct FaultProxy {
    pub port: u16,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Proxies to `upstream` (`http://host:port`), failing `share` (0.0–1.0) of requests.
    pub fn start(upstream: &str, share: f64, seed: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let shared = Arc::new(Shared {
            upstream: upstream
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned(),
            share: AtomicU64::new(millionths(share)),
            seed,
            next: AtomicU64::new(0),
            counts: Default::default(),
            always_fail: Default::default(),
            latency: Default::default(),
            answered: Default::default(),
            failed_once: Default::default(),
            served: Default::default(),
            cut_once: Default::default(),
            lose_answer: Default::default(),
        });
        let state = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = state.clone();
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        Self { port, shared }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_share(&self, share: f64) {
        self.shared.share.store(millionths(share), Ordering::SeqCst);
    }

    /// Every request whose body contains `needle` (past the share) gets an internal
    /// error, whatever the share: the SDK's retries meet it every time.
    pub fn always_fail(&self, needle: &str) {
        if let Ok(mut slot) = self.shared.always_fail.lock() {
            *slot = Some(needle.as_bytes().to_vec());
        }
    }

    /// Every request whose body contains `needle` goes to moto, which acts on it, and
    /// its caller is answered with an internal error: the answer lost after the service
    /// acted, on every attempt the SDK makes. (`None`: no longer.)
    pub fn lose_answers(&self, needle: Option<&str>) {
        if let Ok(mut slot) = self.shared.lose_answer.lock() {
            *slot = needle.map(|n| n.as_bytes().to_vec());
        }
    }

    /// Adds the model's round trip to every forwarded request (`None`: none).
    pub fn set_latency(&self, latency: Option<crate::latency::Latency>) {
        if let Ok(mut slot) = self.shared.latency.lock() {
            *slot = latency.map(Arc::new);
        }
    }

    /// When moto's last answer to `action` (`UpdateAccessKey`, `PutItem`) was handed
    /// back, since [`FaultProxy::forget_answers`].
    pub fn answered(&self, action: &str) -> Option<std::time::Instant> {
        self.shared.answered.lock().ok()?.get(action).copied()
    }

    pub fn forget_answers(&self) {
        if let Ok(mut answered) = self.shared.answered.lock() {
            answered.clear();
        }
    }

    /// From now on, every distinct request (by its request line) fails once, then passes.
    pub fn fail_each_once(&self) {
        if let Ok(mut slot) = self.shared.failed_once.lock() {
            *slot = Some(Default::default());
        }
    }

    /// From now on, every distinct request whose request line holds `needle`
    /// (`x-id=GetObject`) has its answer cut off half way through its body the first
    /// time (the headers promise all of it): a connection reset mid-download.
    pub fn cut_each_body_once(&self, needle: &str) {
        if let Ok(mut slot) = self.shared.cut_once.lock() {
            *slot = Some((needle.to_owned(), Default::default()));
        }
    }

    /// The request lines moto served, in the order it served them.
    pub fn served(&self) -> Vec<String> {
        self.shared
            .served
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    pub fn counts(&self) -> Counts {
        let c = |i: usize| self.shared.counts[i].load(Ordering::SeqCst);
        Counts {
            forwarded: c(0),
            throttled: c(1),
            server_errors: c(2),
            dropped: c(3),
        }
    }
}

fn millionths(share: f64) -> u64 {
    (share.clamp(0.0, 1.0) * 1e6) as u64
}

/// splitmix64: a good spread from a plain counter.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether the request's body holds the needle in `slot`.
fn holds(slot: &std::sync::Mutex<Option<Vec<u8>>>, request: &Request) -> bool {
    slot.lock().ok().is_some_and(|needle| {
        needle
            .as_deref()
            .is_some_and(|n| !n.is_empty() && request.body.windows(n.len()).any(|w| w == n))
    })
}

impl Shared {
    fn loses_answer(&self, request: &Request) -> bool {
        holds(&self.lose_answer, request)
    }

    fn pick(&self, request: &Request) -> Option<Fault> {
        let targeted = holds(&self.always_fail, request);
        if targeted {
            self.counts[2].fetch_add(1, Ordering::SeqCst);
            return Some(Fault::ServerError);
        }
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let r = mix(self.seed ^ mix(n));
        let first_time = self
            .failed_once
            .lock()
            .ok()
            .and_then(|mut seen| seen.as_mut().map(|s| s.insert(request.line.clone())))
            .unwrap_or(false);
        let fault = first_time || (r % 1_000_000) < self.share.load(Ordering::SeqCst);
        let chosen = fault.then(|| FAULTS[((r >> 32) % 3) as usize]);
        let slot = match chosen {
            None => 0,
            Some(Fault::Throttle) => 1,
            Some(Fault::ServerError) => 2,
            Some(Fault::Drop) => 3,
        };
        self.counts[slot].fetch_add(1, Ordering::SeqCst);
        chosen
    }
}

impl Shared {
    /// Where to cut `reply` (its head and half its body), when cutting and this request
    /// was not cut before.
    fn cut(&self, request: &Request, reply: &[u8]) -> Option<usize> {
        let head = reply.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let body = reply.len() - head;
        if body < 2 {
            return None;
        }
        let first = self.cut_once.lock().ok()?.as_mut().map(|(needle, seen)| {
            request.line.contains(needle.as_str()) && seen.insert(request.line.clone())
        })?;
        first.then_some(head + body / 2)
    }
}

struct Request {
    line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// The API action: `X-Amz-Target`'s (JSON protocols) or the form's `Action=` (query).
    fn action(&self) -> Option<String> {
        if let Some(target) = self.header("x-amz-target") {
            return target.rsplit('.').next().map(str::to_owned);
        }
        let body = std::str::from_utf8(&self.body).ok()?;
        body.split('&')
            .find_map(|pair| pair.strip_prefix("Action="))
            .map(str::to_owned)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn serve(client: TcpStream, shared: &Shared) {
    let Ok(read_half) = client.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = client;
    // Keep-alive: the SDK's pool reuses connections, so serve requests until it closes.
    while let Some(request) = read_request(&mut reader) {
        let reply = match shared.pick(&request) {
            Some(Fault::Drop) => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Some(fault) => fault_reply(fault, &request),
            None => {
                let latency = shared.latency.lock().ok().and_then(|l| l.clone());
                if let Some(model) = latency {
                    let service = request
                        .header("authorization")
                        .and_then(crate::latency::signed_service)
                        .unwrap_or("");
                    std::thread::sleep(model.draw(service));
                }
                if let Ok(mut served) = shared.served.lock() {
                    served.push(request.line.clone());
                }
                match forward(&shared.upstream, &request) {
                    Some(_) if shared.loses_answer(&request) => {
                        fault_reply(Fault::ServerError, &request)
                    }
                    Some(reply) => reply,
                    None => return,
                }
            }
        };
        if let Some(cut) = shared.cut(&request, &reply) {
            let _ = writer.write_all(&reply[..cut]);
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
        if writer.write_all(&reply).is_err() {
            return;
        }
        if let (Some(action), Ok(mut answered)) = (request.action(), shared.answered.lock()) {
            answered.insert(action, std::time::Instant::now());
        }
    }
}

fn read_head(reader: &mut impl BufRead) -> Option<(String, Vec<(String, String)>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        if h.trim().is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    Some((line.trim_end().to_owned(), headers))
}

fn read_body(reader: &mut impl BufRead, headers: &[(String, String)]) -> Option<Vec<u8>> {
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        return read_chunked(reader);
    }
    let length = find("content-length").map_or(Some(0), |v| v.parse::<usize>().ok())?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

fn read_chunked(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let (line, headers) = read_head(reader)?;
    let body = read_body(reader, &headers)?;
    Some(Request {
        line,
        headers,
        body,
    })
}

/// One request to moto on its own connection, and its response re-framed with a
/// Content-Length so the client's connection can be kept.
fn forward(upstream: &str, request: &Request) -> Option<Vec<u8>> {
    let mut conn = TcpStream::connect(upstream).ok()?;
    let mut out = format!("{}\r\n", request.line);
    for (k, v) in &request.headers {
        if !k.eq_ignore_ascii_case("connection") {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    out.push_str("connection: close\r\n\r\n");
    conn.write_all(out.as_bytes()).ok()?;
    conn.write_all(&request.body).ok()?;
    let mut reader = BufReader::new(conn);
    let (status, headers) = read_head(&mut reader)?;
    let body = if headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    }) {
        read_chunked(&mut reader)?
    } else {
        let mut body = Vec::new();
        reader.read_to_end(&mut body).ok()?;
        body
    };
    let kept: Vec<(String, String)> = headers
        .into_iter()
        .filter(|(k, _)| {
            !["connection", "content-length", "transfer-encoding"]
                .iter()
                .any(|h| k.eq_ignore_ascii_case(h))
        })
        .collect();
    Some(frame(&status, &kept, &body))
}

fn frame(status: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{status}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// The error as the service would send it: the SDK reads throttling from the code, in
/// the shape its protocol uses (query XML, JSON 1.0/1.1 `__type`, REST-JSON header).
fn fault_reply(fault: Fault, request: &Request) -> Vec<u8> {
    let throttle = fault == Fault::Throttle;
    let header = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let request_id = header("x-amzn-requestid", "keyguard-fault-proxy");
    if let Some(target) = request.header("x-amz-target") {
        let (version, code) = match (target.starts_with("DynamoDB_"), throttle) {
            (true, true) => (
                "1.0",
                "com.amazonaws.dynamodb.v20120810#ThrottlingException",
            ),
            (true, false) => (
                "1.0",
                "com.amazonaws.dynamodb.v20120810#InternalServerError",
            ),
            (false, true) => ("1.1", "ThrottlingException"),
            (false, false) => ("1.1", "InternalFailure"),
        };
        let body =
            serde_json::json!({"__type": code, "message": "injected by keyguard's fault proxy"});
        let status = if throttle {
            "400 Bad Request"
        } else {
            "500 Internal Server Error"
        };
        return frame(
            &format!("HTTP/1.1 {status}"),
            &[
                header("content-type", &format!("application/x-amz-json-{version}")),
                request_id,
            ],
            body.to_string().as_bytes(),
        );
    }
    let s3 = request
        .header("authorization")
        .and_then(crate::latency::signed_service)
        == Some("s3");
    if s3 {
        // REST-XML, as S3 answers: SlowDown for throttling.
        let (status, code) = if throttle {
            ("503 Slow Down", "SlowDown")
        } else {
            ("500 Internal Server Error", "InternalError")
        };
        let body = format!(
            "<Error><Code>{code}</Code><Message>injected by keyguard's fault proxy</Message>\
             <RequestId>keyguard-fault-proxy</RequestId></Error>"
        );
        // A HEAD's answer has no body; one sent anyway would be read as the next answer.
        let body = if request.line.starts_with("HEAD ") {
            ""
        } else {
            body.as_str()
        };
        return frame(
            &format!("HTTP/1.1 {status}"),
            &[header("content-type", "application/xml"), request_id],
            body.as_bytes(),
        );
    }
    let form = request
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form {
        let (status, kind, code) = if throttle {
            ("400 Bad Request", "Sender", "Throttling")
        } else {
            ("500 Internal Server Error", "Receiver", "InternalFailure")
        };
        let body = format!(
            "<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code>\
             <Message>injected by keyguard's fault proxy</Message></Error>\
             <RequestId>keyguard-fault-proxy</RequestId></ErrorResponse>"
        );
        return frame(
            &format!("HTTP/1.1 {status}"),
            &[header("content-type", "text/xml"), request_id],
            body.as_bytes(),
        );
    }
    let (status, code) = if throttle {
        ("429 Too Many Requests", "TooManyRequestsException")
    } else {
        ("500 Internal Server Error", "InternalFailure")
    };
    frame(
        &format!("HTTP/1.1 {status}"),
        &[
            header("content-type", "application/json"),
            header("x-amzn-errortype", code),
            request_id,
        ],
        br#"{"message":"injected by keyguard's fault proxy"}"#,
    )
}
