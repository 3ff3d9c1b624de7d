//! The one email age-rotation sends a person: every key of theirs that reached a stage,
//! what keyguard did, and what to do. Text and HTML; everything from outside (user names,
//! key ids, configured messages) is escaped in the HTML.

use crate::key::UserName;
use crate::policy::age::Line;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const TODO: &str = "To rotate a key: create a new access key, move whatever uses the old key to the new one, then delete the old key. Keys are deactivated at 80 days and deleted at 90.";

/// (text, html) for `user`'s lines.
pub fn render(user: &UserName, lines: &[Line]) -> (String, String) {
    let mut text =
        format!("Hello {user},\n\nkeyguard checked the age of your AWS access keys.\n\n");
    let mut rows = String::new();
    for l in lines {
        text.push_str(&format!(
            "- {} ({} days old): {}.\n  {}\n",
            l.key_id, l.age_days, l.done, l.message
        ));
        rows.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&l.key_id),
            l.age_days,
            escape(&l.done),
            escape(&l.message)
        ));
    }
    text.push_str(&format!("\n{TODO}\n\n-- keyguard age-rotation\n"));
    let html = format!(
        "<html><body><p>Hello {},</p><p>keyguard checked the age of your AWS access keys.</p>\
         <table border=\"1\" cellpadding=\"4\"><tr><th>access key</th><th>age (days)</th><th>what happened</th><th>what to do</th></tr>{rows}</table>\
         <p>{}</p><p>-- keyguard age-rotation</p></body></html>",
        escape(user.as_str()),
        escape(TODO)
    );
    (text, html)
}
