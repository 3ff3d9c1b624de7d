//! `sweep-logs [DIR]`: reads every log file the test processes (and the demo) left in
//! `target/test-logs/` and fails, naming file and line, on anything that looks like a
//! secret access key or a webhook URL. `make test` runs it after the tests.

use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(keyguard_testkit::logs::dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!(
            "sweep-logs: no logs in {}: run the tests first",
            dir.display()
        );
        return ExitCode::FAILURE;
    };
    let (mut files, mut lines, mut found) = (0, 0, 0);
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(text) = std::fs::read(&path) else {
            continue;
        };
        files += 1;
        for (n, line) in String::from_utf8_lossy(&text).lines().enumerate() {
            lines += 1;
            if let Some(what) = keyguard_testkit::logs::suspicious(line) {
                found += 1;
                eprintln!("{}:{}: {what}", path.display(), n + 1);
            }
        }
    }
    println!("sweep-logs: {lines} lines in {files} files, {found} suspicious");
    if files == 0 || found > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
