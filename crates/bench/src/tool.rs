//! The project's Python tools (`tools/*.py`), run with the venv's interpreter beside moto;
//! each prints one JSON line.

use keyguard_testkit::{moto, workspace_root};
use serde_json::Value;

pub fn run(script: &str, args: &[&str]) -> Value {
    let out = std::process::Command::new(moto::python())
        .arg(workspace_root().join("tools").join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{script} prints JSON: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
