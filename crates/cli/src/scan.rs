//! `keyguard scan [--dry-run]`: age-rotation's scan, run from a terminal against whatever
//! endpoint and credentials the environment names (`AWS_PROFILE`, `AWS_ENDPOINT_URL`, ...)
//! with the Lambda's own configuration variables. Prints every key that reached a stage,
//! then what was done (or, with `--dry-run`, what would be).

use crate::InputError;
use age_rotation::App;
use keyguard_core::policy::age;
use keyguard_core::Report;
use std::collections::BTreeMap;

pub fn scan(dry_run: bool) -> Result<bool, InputError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| InputError(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let mut app = App::from_environment().await.map_err(InputError)?;
        app.settings.common.dry_run |= dry_run;
        let now = chrono::Utc::now();
        let scan = app
            .scan_facts(&app.effects.iam, now)
            .await
            .map_err(|e| InputError(format!("reading keys: {e}")))?;
        for u in &scan.unread {
            eprintln!("could not read {}: {}", u.user, u.why);
        }
        let (people, source) = (scan.people, scan.source);
        let cfg = &app.settings.age;
        let event_ref = format!("keyguard-scan-{}", now.format("%Y%m%dT%H%M%SZ"));
        let plan = age::decide_scan(&event_ref, cfg, &people, now);
        let report: Report =
            keyguard_core::execute(plan, &app.effects, &app.ledger, app.settings.common.dry_run, now)
                .await;
        let mut outcome: BTreeMap<String, String> = BTreeMap::new();
        for s in &report.steps {
            if let Some(key) = s.step.action.key_id() {
                outcome.insert(key.to_string(), format!("{} {}", s.step.action.name(), s.outcome.name()));
            }
        }
        crate::emit(&format!(
            "{:<32} {:<22} {:>5} {:<9} {:<17} {}",
            "user", "access key", "days", "status", "stage", "action"
        ));
        let mut shown = 0;
        for p in &people {
            let Some(kind) = age::kind_of(p, cfg) else { continue };
            for k in &p.keys {
                let Some(stage) = age::stage(kind, k, now, cfg) else { continue };
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
        let failed = report.steps.iter().filter(|s| s.outcome.name() == "failed").count();
        crate::emit(&format!(
            "{shown} key(s) in a stage among {} user(s) read ({source:?}), {} unreadable; {} step(s) {}; {failed} failed",
            people.len(),
            scan.unread.len(),
            report.steps.len(),
            if report.dry_run { "planned (dry run)" } else { "taken" },
        ));
        Ok(failed == 0 && scan.unread.is_empty())
    })
}
