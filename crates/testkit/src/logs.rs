//! Every tracing line a test process writes, kept in memory as JSON lines (the format the
//! Lambdas log in), so a test can search them for what must never be logged; and appended
//! to `target/test-logs/` (or `$KEYGUARD_TEST_LOGS`), where `sweep-logs` searches what
//! every test process logged once `make test` has run them all.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone, Default)]
pub struct Logs {
    kept: Arc<Mutex<Vec<u8>>>,
    file: Option<Arc<Mutex<std::fs::File>>>,
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        if let Some(file) = &self.file {
            file.lock()
                .unwrap_or_else(|p| p.into_inner())
                .write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.kept.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// Where every test process's log lines are gathered.
pub fn dir() -> PathBuf {
    std::env::var_os("KEYGUARD_TEST_LOGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::workspace_root().join("target/test-logs"))
}

/// The process's capture, installed as the global subscriber on first call (the moto
/// harness calls it, so every test that reaches moto is captured).
pub fn capture() -> &'static Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let name = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "test".into());
        let file = std::fs::create_dir_all(dir())
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir().join(format!("{name}-{}.jsonl", std::process::id())))
            })
            .ok()
            .map(|f| Arc::new(Mutex::new(f)));
        let logs = Logs {
            file,
            ..Logs::default()
        };
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .init();
        logs
    })
}

/// What in `line` looks like a secret access key or a webhook URL, if anything.
///
/// A secret access key is 40 characters of base64 (`A-Z a-z 0-9 / +`) standing alone;
/// requiring upper case, lower case and a digit keeps out hex digests (SHA-1 is 40
/// lower-case hex), and key ids are 20 characters. Webhook URLs are recognised by their
/// services' paths and by the token paths the tests and the demo use.
pub fn suspicious(line: &str) -> Option<String> {
    const WEBHOOKS: [&str; 5] = [
        "/api/webhooks/",
        "hooks.slack.com/",
        "/_keyguard/webhooks/",
        "/discord/",
        "/slack/",
    ];
    if let Some(w) = WEBHOOKS.iter().find(|w| line.contains(*w)) {
        return Some(format!("a webhook URL ({w})"));
    }
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || c == '/' || c == '+';
    line.split(|c: char| !is_b64(c))
        .find(|w| {
            w.len() == 40
                && w.chars().any(|c| c.is_ascii_uppercase())
                && w.chars().any(|c| c.is_ascii_lowercase())
                && w.chars().any(|c| c.is_ascii_digit())
        })
        .map(|w| format!("a secret access key ({}…)", &w[..4]))
}

#[cfg(test)]
mod tests {
    use super::suspicious;

    #[test]
    fn secrets_and_webhook_urls_are_found_and_ids_are_not() {
        // Webhook shapes on placeholder hosts, the Slack one put together at run time:
        // no webhook URL, real or real-looking, is written in the source.
        let slack = format!("https://hooks.{}/services/T0/B0/placeholder", "slack.com");
        let cases: [(&str, bool); 9] = [
            (
                r#"{"secret":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}"#,
                true,
            ),
            ("token=abcdefghijABCDEFGHIJ0123456789abcdefghij end", true),
            ("https://chat.example.com/api/webhooks/0/placeholder", true),
            (&slack, true),
            (r#"{"key_id":"AKIAIOSFODNN7EXAMPLE","user":"alice"}"#, false),
            ("commit 3f786850e387550fdab836ed7e6dc881de23001b", false),
            ("request 6f1c2d3e-0000-4000-8000-000000000002", false),
            ("arn:aws:iam::123456789012:user/faults-20941-0-0019", false),
            (
                "a 41-char run: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYX",
                false,
            ),
        ];
        for (line, want) in cases {
            assert_eq!(suspicious(line).is_some(), want, "{line}");
        }
    }
}
