//! `keyguard scan [--apply [--yes]]`: age-rotation's scan, run from a terminal against
//! whatever endpoint and credentials the environment names (`AWS_PROFILE`,
//! `AWS_ENDPOINT_URL`, ...) with the Lambda's own configuration variables. A command a
//! person runs to look only looks: it prints every key that reached a stage and what
//! would be done. `--apply` shows that plan, asks, then acts (`--yes` answers for
//! scripts; without a terminal to ask on, `--apply` needs it).

use crate::InputError;
use age_rotation::App;
use keyguard_core::policy::age;
use keyguard_core::Report;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

/// The scan's reads as a bar on stderr (users read, rate, time left), only on a terminal,
/// so nothing a script reads changes.
struct Progress(indicatif::ProgressBar);

impl Progress {
    fn new() -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(indicatif::ProgressBar::hidden());
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message("waiting for IAM's credential report");
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Self(bar)
    }
}

impl age_rotation::Watch for Progress {
    fn listed(&self, users: usize) {
        self.0.set_length(users as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "keyguard scan {bar:30} {pos}/{len} users {per_sec} ETA {eta}",
        ) {
            self.0.set_style(style);
        }
    }

    fn read_one(&self) {
        self.0.inc(1);
    }
}

/// Whether the person at the terminal agrees to apply `steps` steps.
fn confirmed(steps: usize) -> Result<bool, InputError> {
    if !std::io::stdin().is_terminal() {
        return Err(InputError(
            "--apply asks before it acts, and there is no terminal to ask on: add --yes".into(),
        ));
    }
    eprint!("apply these {steps} step(s) with your credentials? [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| InputError(format!("reading the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES"))
}

pub fn scan(apply: bool, yes: bool, output: crate::output::Format) -> Result<bool, InputError> {
    let table = output == crate::output::Format::Table;
    crate::ledger::runtime()?.block_on(async {
        let app = keyguard_aws::lambda::start::<App>()
            .await
            .map_err(InputError)?;
        let now = chrono::Utc::now();
        let bar = Progress::new();
        let (scan, source) = app
            .scan_facts_watched(&app.effects.iam, now, &bar)
            .await
            .map_err(|e| InputError(format!("reading keys: {e}")))?;
        bar.0.finish_and_clear();
        for u in &scan.unread {
            eprintln!("could not read {}: {}", u.user, u.why);
        }
        let people = scan.people;
        let cfg = &app.settings.age;
        let event_ref = format!("keyguard-scan-{}", now.format("%Y%m%dT%H%M%SZ"));
        let plan = age::decide_scan(&event_ref, cfg, &people, now);
        // A dry run touches nothing, not even the ledger: this is the plan as a report.
        let planned: Report =
            keyguard_core::execute(plan.clone(), &app.effects, &app.ledger, true, now).await;
        let act = apply && !app.settings.common.dry_run && !plan.steps.is_empty();
        let report = if act {
            if table {
                print_table(&people, cfg, now, &planned);
            }
            if !yes && !confirmed(plan.steps.len())? {
                crate::emit(&"nothing applied");
                return Ok(true);
            }
            // As the function applies it: the summary written from how the rest ended.
            let apply = keyguard_core::Executor::new(&app.effects, &app.ledger, false);
            apply.apply(cfg, plan, now).await
        } else {
            planned
        };
        let failed = report.steps.iter().filter(|s| s.outcome.name() == "failed").count();
        if !table {
            crate::emit(&serde_json::to_value(&report).unwrap_or_default());
            return Ok(failed == 0 && scan.unread.is_empty());
        }
        let shown = print_table(&people, cfg, now, &report);
        crate::emit(&format!(
            "{shown} key(s) in a stage among {} user(s) read ({source:?}), {} unreadable; {} step(s) {}; {failed} failed",
            people.len(),
            scan.unread.len(),
            report.steps.len(),
            if report.dry_run { "planned (dry run; --apply to act)" } else { "taken" },
        ));
        Ok(failed == 0 && scan.unread.is_empty())
    })
}

/// Every key in a stage, with what the report says was (or would be) done to it; returns
/// how many were shown.
fn print_table(
    people: &[age::Person],
    cfg: &age::AgeConfig,
    now: keyguard_core::Timestamp,
    report: &Report,
) -> usize {
    let mut outcome: BTreeMap<String, String> = BTreeMap::new();
    for s in &report.steps {
        if let Some(key) = s.step.action.key_id() {
            outcome.insert(
                key.to_string(),
                format!("{} {}", s.step.action.name(), s.outcome.name()),
            );
        }
    }
    crate::emit(&format!(
        "{:<32} {:<22} {:>5} {:<9} {:<17} {}",
        "user", "access key", "days", "status", "stage", "action"
    ));
    let mut shown = 0;
    for p in people {
        let Some(kind) = age::kind_of(p, cfg) else {
            continue;
        };
        for k in &p.keys {
            let Some(stage) = age::stage(kind, k, now, cfg) else {
                continue;
            };
            shown += 1;
            crate::emit(&format!(
                "{:<32} {:<22} {:>5} {:<9} {:<17} {}",
                p.user,
                k.key_id,
                (now - k.created).num_days(),
                format!("{:?}", k.status),
                stage.name(),
                outcome.get(&k.key_id).map_or("-", String::as_str)
            ));
        }
    }
    shown
}
