//! `keyguard audit --key KEY | --user NAME | --event ID | --since TIME`: keyguard's
//! timeline from the ledger, oldest first (a `Query` on one of its indexes, never a
//! `Scan`). A table on a terminal, one JSON object per line when piped.

use crate::ledger::{open, runtime};
pub use crate::output::Format;
use crate::InputError;
use keyguard_aws::history::Find;
use keyguard_core::history::{Record, UNDO};

pub fn audit(find: Find, format: Option<Format>) -> Result<bool, InputError> {
    let records = runtime()?.block_on(async {
        let opened = open().await?;
        opened
            .ledger
            .history(&find, chrono::Utc::now())
            .await
            .map_err(|e| InputError(format!("reading the ledger: {e}")))
    })?;
    let table = Format::chosen(format) == Format::Table;
    if table {
        print_table(&records);
    } else {
        for r in &records {
            crate::emit(&serde_json::to_value(r).unwrap_or_default());
        }
    }
    if records.is_empty() {
        eprintln!("keyguard: the ledger has no step for {find:?}");
    }
    Ok(!records.is_empty())
}

/// The columns a responder reads first; `reason` last, since it is the longest.
fn print_table(records: &[Record]) {
    crate::emit(&format!(
        "{:<20}  {:<20}  {:<16}  {:<10}  {:<24}  {:<28}  reason",
        "time", "function", "action", "outcome", "event", "source / by"
    ));
    // Event ids, sources and reasons come from events and callers: cleaned as notices
    // are, so no control character reaches the terminal.
    let text = |t: &str| keyguard_core::notice::clean(t, 2_000);
    for r in records {
        let who = text(r.classifier_source.as_deref().unwrap_or("-"));
        let who = if r.function == UNDO {
            format!("by {who}")
        } else {
            who
        };
        crate::emit(&format!(
            "{:<20}  {:<20}  {:<16}  {:<10}  {:<24}  {:<28}  {}",
            r.at.format("%Y-%m-%dT%H:%M:%SZ"),
            r.function,
            r.action,
            r.status,
            text(r.event_id.as_deref().unwrap_or("-")),
            who,
            text(&r.reason)
        ));
    }
}
