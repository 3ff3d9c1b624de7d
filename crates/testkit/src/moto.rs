//! One moto launcher per test process.
//!
//! The launcher is started on first use, on a port the OS picks, and stops by itself when
//! this process exits (its stdin is a pipe held here; it exits on EOF), so a crashed test
//! never leaves a server behind. Tests share it and keep apart by unique names.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

pub struct Moto {
    pub endpoint: String,
    _child: Child,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

/// The Python that has moto: `$KEYGUARD_PYTHON`, else the repo's `.venv`.
pub fn python() -> PathBuf {
    std::env::var_os("KEYGUARD_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::workspace_root().join(".venv/bin/python"))
}

/// The shared launcher, started on first call. Panics with instructions when the venv
/// is missing: `make test` creates it.
pub fn shared() -> &'static Moto {
    MOTO.get_or_init(start)
}

fn start() -> Moto {
    // Every test that reaches moto has its log lines gathered for the secrets sweep.
    super::logs::capture();
    let python = python();
    if !python.exists() {
        panic!(
            "{} not found: run `make test` (it creates .venv with the pinned moto) or set KEYGUARD_PYTHON",
            python.display()
        );
    }
    let launcher = super::workspace_root().join("tools/moto_launcher.py");
    // Every request keyguard makes here, for `check-requests` (least privilege).
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "test".into());
    let request_log =
        super::logs::dir().join(format!("requests-{exe}-{}.jsonl", std::process::id()));
    let mut child = Command::new(&python)
        .arg(&launcher)
        .args(["--port", "0", "--exit-on-stdin-eof", "--request-log"])
        .arg(&request_log)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", launcher.display()));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("launcher prints its address");
    let endpoint = line
        .strip_prefix("KEYGUARD_MOTO_READY ")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| panic!("launcher did not start: {line:?}"));
    // Any SDK client built after this reaches moto; nothing here can reach real AWS.
    for (k, v) in [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        // Set once, before any client exists, from the one thread that won the OnceLock.
        std::env::set_var(k, v);
    }
    Moto {
        endpoint,
        _child: child,
    }
}

impl Moto {
    /// Sets an access key's `CreateDate` through the launcher's test-only route.
    pub fn backdate_key(&self, user: &str, key_id: &str, create_date_rfc3339: &str) {
        self.backdate_key_in("123456789012", user, key_id, create_date_rfc3339);
    }

    /// The same in another account of moto's (an organisation's member account).
    pub fn backdate_key_in(
        &self,
        account: &str,
        user: &str,
        key_id: &str,
        create_date_rfc3339: &str,
    ) {
        let body = serde_json::json!({"account": account, "user": user, "key_id": key_id,
                                      "create_date": create_date_rfc3339});
        let (status, _) = request(
            &self.endpoint,
            "POST",
            "/_keyguard/iam/backdate-key",
            &body.to_string(),
        );
        assert_eq!(status, 200, "backdate {user}/{key_id}");
    }

    /// moto's own record of its state (`GET /moto-api/data.json`): sent SNS messages
    /// and SES mail are read back from here.
    pub fn data(&self) -> serde_json::Value {
        let (status, body) = request(&self.endpoint, "GET", "/moto-api/data.json", "");
        assert_eq!(status, 200, "GET /moto-api/data.json");
        serde_json::from_str(&body).expect("moto answers JSON")
    }

    /// Puts SES in `region` in the sandbox, or takes it out: SES v2 `SendEmail` there
    /// refuses any recipient that is not a verified identity (`MessageRejected`), as AWS
    /// does for an account without production access. moto alone checks the sender only.
    pub fn ses_sandbox(&self, region: &str, on: bool) {
        let body = serde_json::json!({"region": region, "on": on});
        let (status, reply) = request(
            &self.endpoint,
            "POST",
            "/_keyguard/ses/sandbox",
            &body.to_string(),
        );
        assert_eq!(status, 200, "ses sandbox: {reply}");
    }

    /// The messages SNS published to `topic`, each as moto records it (JSON text).
    pub fn published(&self, topic: &str) -> Vec<String> {
        let data = self.data();
        let mut messages = Vec::new();
        for t in data["sns"]["Topic"].as_array().into_iter().flatten() {
            if t["arn"] == topic {
                for n in t["sent_notifications"].as_array().into_iter().flatten() {
                    messages.push(n.to_string());
                }
            }
        }
        messages
    }

    /// AWS requests moto served since the last [`Moto::reset_requests`].
    pub fn requests(&self) -> u64 {
        let (_, body) = request(&self.endpoint, "GET", "/_keyguard/requests", "");
        serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["total"].as_u64())
            .unwrap_or(0)
    }

    /// The same requests by `service:Action` (`iam:UpdateAccessKey`, `dynamodb:PutItem`).
    pub fn requests_by_action(&self) -> std::collections::BTreeMap<String, u64> {
        let (_, body) = request(&self.endpoint, "GET", "/_keyguard/requests", "");
        serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| serde_json::from_value(v["by_action"].clone()).ok())
            .unwrap_or_default()
    }

    pub fn reset_requests(&self) {
        request(&self.endpoint, "POST", "/_keyguard/requests/reset", "{}");
    }

    /// Empties moto (every service, every account) and the stand-ins.
    pub fn reset(&self) {
        let (status, _) = request(&self.endpoint, "POST", "/moto-api/reset", "");
        assert_eq!(status, 200, "POST /moto-api/reset");
    }

    /// Puts CloudTrail records into the event history the `LookupEvents` stand-in serves
    /// for `region`.
    pub fn put_trail_events(&self, region: &str, events: &[serde_json::Value]) {
        self.trail_region(serde_json::json!({"region": region, "events": events}));
    }

    /// Makes `region` one the account has not enabled: the CloudTrail stand-in refuses
    /// every `LookupEvents` there, as AWS does.
    pub fn disable_trail_region(&self, region: &str) {
        self.trail_region(serde_json::json!({"region": region, "events": [], "disabled": true}));
    }

    /// Makes every `LookupEvents` in `region` fail as a service fault (`on`), or stop.
    pub fn fail_trail_region(&self, region: &str, on: bool) {
        self.trail_region(serde_json::json!({"region": region, "events": [], "failing": on}));
    }

    /// The stand-in's one route for a region's event history and how it answers.
    fn trail_region(&self, body: serde_json::Value) {
        let path = "/_keyguard/cloudtrail/events";
        let (status, reply) = request(&self.endpoint, "POST", path, &body.to_string());
        assert_eq!(status, 200, "POST {path}: {reply}");
    }

    /// Every `LookupEvents` request the stand-in served or throttled, oldest first.
    pub fn trail_lookups(&self) -> Vec<serde_json::Value> {
        let (status, body) = request(&self.endpoint, "GET", "/_keyguard/cloudtrail/lookups", "");
        assert_eq!(status, 200, "GET /_keyguard/cloudtrail/lookups: {body}");
        let reply: serde_json::Value =
            serde_json::from_str(&body).expect("the stand-in answers JSON");
        reply["lookups"].as_array().cloned().unwrap_or_default()
    }

    /// What the stand-ins recorded: automation executions, and incidents with the
    /// `StartIncident` request that opened each.
    pub fn standins(&self) -> serde_json::Value {
        let (status, body) = request(&self.endpoint, "GET", "/_keyguard/standins", "");
        assert_eq!(status, 200, "GET /_keyguard/standins: {body}");
        serde_json::from_str(&body).expect("stand-ins answer JSON")
    }
}

/// A minimal HTTP/1.1 request, so the harness needs no HTTP client crate. Returns the
/// status and the body.
fn request(endpoint: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to launcher");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write request");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read response");
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
