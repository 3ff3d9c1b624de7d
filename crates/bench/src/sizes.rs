//! Size: each function's release `bootstrap` and its zip (cargo lambda's x86_64 build),
//! beside what seed 000's Python function runs (its handler with boto3 and the packages
//! boto3 loads), as `tools/bench_sizes.py` measures both.

use crate::lambda::{bootstrap, FUNCTIONS};
use crate::table::{row, Better};

const MIB: f64 = 1024.0 * 1024.0;

pub fn rows() {
    let zips: Vec<String> = FUNCTIONS
        .iter()
        .map(|f| bootstrap(f).with_extension("zip").display().to_string())
        .collect();
    let args: Vec<&str> = zips.iter().map(String::as_str).collect();
    let v = crate::tool::run("bench_sizes.py", &args);
    let mib = |x: &serde_json::Value| x.as_f64().unwrap() / MIB;
    for (function, zip) in FUNCTIONS.iter().zip(&zips) {
        let ours = &v["zips"][zip];
        let baseline = &v["baseline"];
        let rows = [
            ("binary", &ours["bootstrap"], &baseline["files"]),
            ("zip", &ours["zip"], &baseline["zip"]),
        ];
        for (what, ours, theirs) in rows {
            row(
                &format!("size: {function} {what} (MiB)"),
                "x86_64",
                mib(ours),
                mib(theirs),
                1,
                Better::Lower,
            );
        }
    }
}
