//! `keyguard undo --event ID | --key KEY --reason TEXT [--dry-run]`: reverses what
//! keyguard's containment did for that event or key (`keyguard_core::policy::undo`
//! decides), with the caller's own credentials. Each reversal is a ledger row under
//! `keyguard-undo` with the caller's identity and the reason, then a notice.

use crate::ledger::{open, runtime};
use crate::InputError;
use keyguard_aws::history::Find;
use keyguard_aws::iam::Iam;
use keyguard_aws::{AwsEffects, SnsNotifier};
use keyguard_core::history::Record;
use keyguard_core::policy::undo::{self, Asked, Current, Read};
use keyguard_core::{ErrorKind, Principal};
use serde_json::json;

/// What IAM says now about each thing a reversal would change.
async fn current(iam: &Iam, reads: &[Read]) -> Result<Current, InputError> {
    let mut now = Current::default();
    for read in reads {
        match read {
            Read::Key { user, key_id } => {
                let status = match iam.key_status(user, key_id).await {
                    Ok(s) => Some(keyguard_core::policy::containment::KeyStatus::from_iam(&s)),
                    Err(e) if e.kind == ErrorKind::NotFound => None,
                    Err(e) => return Err(InputError(format!("reading key {key_id}: {e}"))),
                };
                now.keys.insert(key_id.to_string(), status);
            }
            Read::Policy { user, policy_name } => {
                let document = iam
                    .inline_policy(&Principal::User(user.clone()), policy_name)
                    .await
                    .map_err(|e| InputError(format!("reading {user}'s policy: {e}")))?;
                now.policies
                    .insert(user.as_str().to_ascii_lowercase(), document);
            }
        }
    }
    Ok(now)
}

/// Whether everything asked was reversed (or had been before).
pub fn undo(find: Find, reason: &str, dry_run: bool) -> Result<bool, InputError> {
    if reason.trim().is_empty() {
        return Err(InputError("--reason must say why".into()));
    }
    // Read before anything is undone: a bad value must stop the undo, not follow it.
    let security_hub = keyguard_core::security_hub::enabled(&keyguard_core::config::process_env)
        .map_err(|e| InputError(e.to_string()))?;
    runtime()?.block_on(async {
        let opened = open().await?;
        let now = chrono::Utc::now();
        let read = |e: keyguard_core::EffectError| InputError(format!("reading the ledger: {e}"));
        let asked_rows = opened.ledger.history(&find, now).await.map_err(read)?;
        if asked_rows.is_empty() {
            return Err(InputError(format!(
                "the ledger has no step for {find:?}: nothing keyguard did to undo"
            )));
        }
        let asked = match &find {
            Find::Key(k) => Asked::Key(k.clone()),
            Find::Event(e) => Asked::Event(e.clone()),
            Find::User(_) | Find::Since(_) => {
                return Err(InputError("undo takes --key or --event".into()))
            }
        };
        // Everything else the ledger holds about the same keys and users: what still
        // stands on a containment decides whether it may be undone.
        let mut related: Vec<Find> = Vec::new();
        for r in &asked_rows {
            if let Some(k) = &r.key_id {
                related.push(Find::Key(k.clone()));
            }
            if let Some(u) = &r.user {
                related.push(Find::User(u.to_ascii_lowercase()));
            }
        }
        related.sort_by_key(|f| format!("{f:?}"));
        related.dedup();
        // What was asked is read already.
        related.retain(|f| f != &find);
        // The findings keyguard reported for what is undone (SECURITY_HUB=true).
        let mut reported: Vec<(String, String)> = asked_rows
            .iter()
            .filter(|r| keyguard_core::security_hub::REPORTING.contains(&r.function.as_str()))
            .filter_map(|r| Some((r.function.clone(), r.event_id.clone()?)))
            .collect();
        reported.sort();
        reported.dedup();
        let mut records: Vec<Record> = asked_rows;
        for f in &related {
            records.extend(opened.ledger.history(f, now).await.map_err(read)?);
        }
        records.sort_by(|a, b| a.idempotency_key.cmp(&b.idempotency_key));
        records.dedup_by(|a, b| a.idempotency_key == b.idempotency_key);
        let caller = keyguard_aws::identity::caller_arn(&opened.sdk)
            .await
            .map_err(|e| InputError(format!("who is asking (sts:GetCallerIdentity): {e}")))?;
        let iam = Iam::new(&opened.sdk);
        let current = current(&iam, &undo::reads(&asked, &records)).await?;
        let decided = undo::decide(&asked, &records, &current, reason, &caller);
        let effects =
            AwsEffects::iam_only(iam, SnsNotifier::configured(&opened.sdk, &opened.common));
        let dry_run = dry_run || opened.common.dry_run;
        let mut all_done = decided.refused.is_empty();
        for step in &decided.already {
            crate::emit(&json!({"already_undone": step}));
        }
        for refusal in &decided.refused {
            crate::emit(&json!({"refused": refusal}));
        }
        for plan in decided.plans {
            let report = keyguard_core::execute(plan, &effects, &opened.ledger, dry_run, now).await;
            all_done &= report.steps.iter().all(|s| {
                matches!(
                    s.outcome,
                    keyguard_core::Outcome::Applied { .. }
                        | keyguard_core::Outcome::Duplicate
                        | keyguard_core::Outcome::Planned
                )
            });
            crate::emit(&serde_json::to_value(&report).unwrap_or_default());
        }
        if all_done && !dry_run && security_hub {
            all_done &= suppress_findings(&opened, &reported, &caller, reason).await?;
        }
        Ok(all_done)
    })
}

/// With `SECURITY_HUB=true`, each finding keyguard made for an undone event is set
/// `SUPPRESSED` with a note of who undid it and why: a false positive is closed where the
/// team looks. A finding that is not there (Security Hub was off then) is said, not an
/// error; a refusal is, so the undo exits 1 and can be run again.
async fn suppress_findings(
    opened: &crate::ledger::Opened,
    reported: &[(String, String)],
    caller: &str,
    reason: &str,
) -> Result<bool, InputError> {
    if reported.is_empty() {
        return Ok(true);
    }
    // The caller's account, from the ARN already asked for: keyguard's, where its
    // findings are (undo refuses steps of any other account).
    let home = caller
        .split(':')
        .nth(4)
        .and_then(|a| keyguard_core::AccountId::parse(a).ok());
    let Some((hub, findings)) =
        keyguard_aws::security_hub::configured(&opened.sdk, true, home.as_ref())
            .map_err(InputError)?
    else {
        return Ok(true);
    };
    let mut all = true;
    let note = format!("undone by {caller}: {reason}");
    for (function, event) in reported {
        let id = keyguard_core::security_hub::finding_id(function, event);
        match hub
            .set_workflow(
                &id,
                &findings.product_arn,
                keyguard_aws::security_hub::Workflow::Suppressed,
                &note,
                "keyguard undo",
            )
            .await
        {
            Ok(true) => crate::emit(&json!({"security_hub": {"suppressed": id}})),
            Ok(false) => crate::emit(&json!({"security_hub": {"no_finding": id}})),
            Err(e) => {
                all = false;
                crate::emit(&json!({"security_hub": {"failed": id, "error": e.to_string()}}));
            }
        }
    }
    Ok(all)
}
