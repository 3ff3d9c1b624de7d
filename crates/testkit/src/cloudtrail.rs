//! CloudTrail log files as CloudTrail writes them to S3 (`{"Records":[...]}`, gzipped),
//! written one record at a time so a million-record log never sits in memory.

use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;

/// Routine traffic: a role session describing instances.
pub fn routine(i: u32) -> Value {
    json!({"eventVersion": "1.08", "eventName": "DescribeInstances", "eventSource": "ec2.amazonaws.com",
           "eventID": format!("e-{i}"), "eventTime": "2026-11-23T10:00:00Z", "awsRegion": "us-east-1",
           "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/app/i-1",
                            "accessKeyId": "ASIAAPPSESSION000001"},
           "sourceIPAddress": "10.0.0.1", "userAgent": "aws-sdk-go/1.44", "readOnly": true})
}

/// `n` records from `record(i)`, gzipped (fast level, as a test or bench needs it).
pub fn write_gz_log(path: &Path, n: u32, mut record: impl FnMut(u32) -> Value) {
    let file = std::fs::File::create(path).expect("create the log file");
    let mut gz =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::fast());
    let mut write = || -> std::io::Result<()> {
        write!(gz, "{{\"Records\":[")?;
        for i in 0..n {
            if i > 0 {
                write!(gz, ",")?;
            }
            write!(gz, "{}", record(i))?;
        }
        write!(gz, "]}}")?;
        gz.try_finish()
    };
    write().expect("write the log file");
}
