//! A notice as a Discord embed or a Slack Block Kit message.
//!
//! Everything in a notice may come from an attacker: a failed `CreateAccessKey` records
//! whatever user name the caller sent. So nothing a notice holds may ping, link or format:
//! Discord gets `allowed_mentions` empty (no `@everyone`, no user or role ping whatever
//! the text says) and markdown escaped; Slack gets `plain_text` objects, which it never
//! parses, and its one mrkdwn field (the notification text) with `&`, `<`, `>` escaped,
//! which is what keeps `<!channel>` from being a mention. Lengths are cut to each
//! service's limits, since an over-long field makes the whole post fail.

use keyguard_core::notice::cut;
use keyguard_core::{Notice, Severity};
use serde_json::{json, Value};

const FOOTER: &str = "keyguard createkey-detector";

fn label(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "INFO",
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

fn colour(severity: Severity) -> u32 {
    match severity {
        Severity::Info => 0x3498DB,
        Severity::Low => 0xF1C40F,
        Severity::Medium => 0xE67E22,
        Severity::High => 0xE74C3C,
        Severity::Critical => 0x992D22,
    }
}

/// Control characters would let a value fake extra lines.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Backslash before every character Discord markdown gives a meaning to, including the
/// `@` and `<` of mentions, the brackets of masked links and the `:` that would make a URL
/// clickable. (`-` only starts a list at the start of a line, and lines are joined.)
fn discord_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in one_line(text).chars() {
        if "\\*_~`|>#[]()@<:".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn slack_escape(text: &str) -> String {
    one_line(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The facts shown beside the subject, in a stable order.
fn facts(notice: &Notice) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(user) = &notice.user {
        out.push(("user".to_owned(), user.as_str().to_owned()));
    }
    if let Some(key) = &notice.key_id {
        out.push(("access key".to_owned(), key.as_str().to_owned()));
    }
    out.extend(notice.facts.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// Discord's execute-webhook body. Limits: title 256, description 4,096, 25 fields of
/// name 256 and value 1,024.
pub fn discord(notice: &Notice) -> Value {
    let fields: Vec<Value> = facts(notice)
        .into_iter()
        .take(25)
        .map(|(name, value)| {
            json!({
                "name": cut(&discord_escape(&name), 256),
                "value": cut(&discord_escape(&value), 1024),
                "inline": value.chars().count() <= 40,
            })
        })
        .collect();
    json!({
        "username": "keyguard",
        "allowed_mentions": { "parse": [] },
        "embeds": [{
            "title": cut(&format!("[{}] {}", label(notice.severity), discord_escape(&rule(notice))), 256),
            "description": cut(&discord_escape(&notice.subject), 4096),
            "color": colour(notice.severity),
            "fields": fields,
            "footer": { "text": FOOTER },
        }],
    })
}

/// Slack's incoming-webhook body. Limits: header 150, section text 3,000, 10 fields of
/// 2,000; the top-level `text` is what notifications show.
pub fn slack(notice: &Notice) -> Value {
    let plain = |text: String| json!({ "type": "plain_text", "text": text, "emoji": false });
    let fields: Vec<Value> = facts(notice)
        .into_iter()
        .take(10)
        .map(|(name, value)| plain(cut(&one_line(&format!("{name}: {value}")), 2000)))
        .collect();
    let header = format!("[{}] {}", label(notice.severity), rule(notice));
    let mut blocks = vec![
        json!({ "type": "header", "text": plain(cut(&one_line(&header), 150)) }),
        json!({ "type": "section", "text": plain(cut(&one_line(&notice.subject), 3000)) }),
    ];
    if !fields.is_empty() {
        blocks.push(json!({ "type": "section", "fields": fields }));
    }
    blocks.push(json!({ "type": "context", "elements": [plain(FOOTER.to_owned())] }));
    json!({
        "text": cut(&slack_escape(&format!("[{}] {}", label(notice.severity), notice.subject)), 3000),
        "blocks": blocks,
    })
}

/// The rule id when the notice carries one, else its subject.
fn rule(notice: &Notice) -> String {
    notice
        .facts
        .get("rule")
        .cloned()
        .unwrap_or_else(|| notice.subject.clone())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use keyguard_core::{AccessKeyId, UserName};

    fn hostile() -> Notice {
        Notice::new(
            Severity::Critical,
            "@everyone <@&123> <!channel> [click](https://evil.example) **bold**\nsecond line",
        )
        .user(UserName::parse("bob").ok())
        .key(AccessKeyId::parse("AKIANEWBACKDOORKEY01").ok())
        .fact("rule", "backdoor-key")
        .fact("source_ip", "203.0.113.9 `code` _x_")
    }

    fn all_strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| all_strings(x, out)),
            Value::Object(o) => o.values().for_each(|x| all_strings(x, out)),
            _ => {}
        }
    }

    #[test]
    fn discord_never_pings_links_or_formats() {
        let body = discord(&hostile());
        assert_eq!(body["allowed_mentions"], json!({"parse": []}));
        let embed = &body["embeds"][0];
        assert_eq!(embed["color"], json!(0x992D22));
        assert_eq!(embed["title"], json!("[CRITICAL] backdoor-key"));
        let d = embed["description"].as_str().unwrap();
        assert!(
            d.starts_with("\\@everyone \\<\\@&123\\> \\<!channel\\> \\[click\\]\\(https\\:"),
            "{d}"
        );
        assert!(d.contains("\\*\\*bold\\*\\*"), "{d}");
        assert!(!d.contains('\n'), "control characters cannot fake lines");
        let mut strings = Vec::new();
        all_strings(&body, &mut strings);
        for s in &strings {
            for unescaped in ["@everyone", "](", "**"] {
                let at = s.find(unescaped);
                assert!(
                    at.is_none_or(|i| i > 0 && s.as_bytes()[i - 1] == b'\\'),
                    "{unescaped} unescaped in {s:?}"
                );
            }
        }
        let fields = embed["fields"].as_array().unwrap();
        let names: Vec<&str> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["user", "access key", "rule", "source\\_ip"]);
        assert_eq!(fields[1]["value"], json!("AKIANEWBACKDOORKEY01"));
    }

    #[test]
    fn slack_text_is_plain_and_its_mrkdwn_is_escaped() {
        let body = slack(&hostile());
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("&lt;!channel&gt;"), "{text}");
        assert!(!text.contains('<') && !text.contains('>'));
        let blocks = body["blocks"].as_array().unwrap();
        let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["header", "section", "section", "context"]);
        let mut types = Vec::new();
        for b in blocks {
            for t in [&b["text"], &b["fields"], &b["elements"]] {
                match t {
                    Value::Array(a) => types.extend(a.iter().map(|x| x["type"].clone())),
                    Value::Null => {}
                    x => types.push(x["type"].clone()),
                }
            }
        }
        assert!(types.iter().all(|t| t == "plain_text"), "{types:?}");
        assert_eq!(blocks[0]["text"]["text"], json!("[CRITICAL] backdoor-key"));
        assert_eq!(blocks[2]["fields"][0]["text"], json!("user: bob"));
    }

    #[test]
    fn long_values_are_cut_to_each_limit_on_a_character_boundary() {
        let long = "é".repeat(5000);
        // Notice::new and fact already bound their text; the renderer's own cut is the
        // second line of defence, so it is tested on a notice built around them.
        let mut n = Notice::new(Severity::Low, "x");
        n.subject = long.clone();
        n.facts.insert("why".into(), long.clone());
        let d = discord(&n);
        assert_eq!(
            d["embeds"][0]["description"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            4096
        );
        assert_eq!(
            d["embeds"][0]["fields"][0]["value"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            1024
        );
        assert!(d["embeds"][0]["title"].as_str().unwrap().chars().count() <= 256);
        let s = slack(&n);
        assert_eq!(
            s["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            150
        );
        assert_eq!(
            s["blocks"][1]["text"]["text"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            3000
        );
        assert_eq!(
            s["blocks"][2]["fields"][0]["text"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            2000
        );
        assert_eq!(s["text"].as_str().unwrap().chars().count(), 3000);
    }
}
