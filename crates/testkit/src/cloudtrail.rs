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

/// The account the realistic logs are written for.
pub const REALISTIC_ACCOUNT: &str = "111122223333";

/// One record of about 1.4 KB shaped like the CloudTrail records real trails deliver
/// (the field sets of the shared corpus's records: `sessionContext`, `tlsDetails`,
/// `resources`, `additionalEventData`, request and response elements), written as text
/// because building a million `Value`s is what a generator of 1.3 GB cannot afford.
/// Every 100th record is a `CreateAccessKey` (`ci` for itself, and every 1,000th for
/// `admin`): the only records any rule reports, so a replay's finding count is the
/// number of `CreateAccessKey`s. The IAM user's own calls are signed by a key that no
/// record creates, so they are read by the correlation rules and never reported.
pub fn realistic(i: u64) -> String {
    let a = REALISTIC_ACCOUNT;
    let second = i % 60;
    let minute = (i / 60) % 60;
    let time = format!("2026-11-23T10:{minute:02}:{second:02}Z");
    let id = format!("{:08x}-{:04x}-4c1e-9a2b-{:012x}", i, i % 65_536, i * 7919);
    let tls = r#""tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"#;
    let session = |role: &str, who: &str| {
        format!(
            r#"{{"type":"AssumedRole","principalId":"AROAEXAMPLEROLEID0001:{who}","arn":"arn:aws:sts::{a}:assumed-role/{role}/{who}","accountId":"{a}","accessKeyId":"ASIAEXAMPLESESSION{:02}","sessionContext":{{"sessionIssuer":{{"type":"Role","principalId":"AROAEXAMPLEROLEID0001","arn":"arn:aws:iam::{a}:role/{role}","accountId":"{a}","userName":"{role}"}},"webIdFederationData":{{}},"attributes":{{"creationDate":"2026-11-23T09:00:00Z","mfaAuthenticated":"false"}}}}}}"#,
            i % 97
        )
    };
    let tail = |source: &str, read_only: bool, category: &str| {
        format!(
            r#""requestID":"{id}","eventID":"{id}","readOnly":{read_only},"eventType":"AwsApiCall","managementEvent":{},"recipientAccountId":"{a}","eventCategory":"{category}","#,
            category == "Management"
        ) + tls
            + &format!(r#""{source}"}}}}"#)
    };
    if i % 100 == 0 {
        let target = if i % 1000 == 0 { "admin" } else { "ci" };
        return format!(
            r#"{{"eventVersion":"1.09","userIdentity":{{"type":"IAMUser","principalId":"AIDAEXAMPLECIUSER0001","arn":"arn:aws:iam::{a}:user/ci","accountId":"{a}","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"ci"}},"eventTime":"{time}","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0 exe/x86_64.debian.12 prompt/off command/iam.create-access-key","requestParameters":{{"userName":"{target}"}},"responseElements":{{"accessKey":{{"accessKeyId":"AKIAI44QH8DHB{:07}","status":"Active","userName":"{target}","createDate":"Nov 23, 2026 10:00:00 AM"}}}},{}"#,
            i % 10_000_000,
            tail("iam.amazonaws.com", false, "Management")
        );
    }
    match i % 5 {
        0 => format!(
            r#"{{"eventVersion":"1.10","userIdentity":{},"eventTime":"{time}","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"10.0.{}.{}","userAgent":"[aws-sdk-java/2.25.11 Linux/5.10.219 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS Java/17.0.11 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/standard]","requestParameters":{{"bucketName":"app-artifacts-{a}","Host":"app-artifacts-{a}.s3.us-east-1.amazonaws.com","key":"builds/2026/11/23/service-{i}.tar.gz"}},"responseElements":null,"additionalEventData":{{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":0,"AuthenticationMethod":"AuthHeader","x-amz-id-2":"Zm9vYmFyYmF6cXV4ZXhhbXBsZWlkMg==","bytesTransferredOut":48213}},"resources":[{{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::app-artifacts-{a}/builds/2026/11/23/service-{i}.tar.gz"}},{{"accountId":"{a}","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::app-artifacts-{a}"}}],{}"#,
            session("app-deployer", &format!("i-0{:016x}", i % 4096)),
            i % 256,
            (i / 256) % 256,
            tail("app-artifacts.s3.us-east-1.amazonaws.com", true, "Data")
        ),
        1 => format!(
            r#"{{"eventVersion":"1.09","userIdentity":{},"eventTime":"{time}","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"10.1.{}.{}","userAgent":"aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.173.0","requestParameters":{{"instancesSet":{{}},"filterSet":{{"items":[{{"name":"tag:team","valueSet":{{"items":[{{"value":"payments"}}]}}}},{{"name":"instance-state-name","valueSet":{{"items":[{{"value":"running"}},{{"value":"pending"}}]}}}}]}},"maxResults":1000}},"responseElements":null,{}"#,
            session("inventory-collector", "inventory"),
            i % 256,
            (i / 7) % 256,
            tail("ec2.us-east-1.amazonaws.com", true, "Management")
        ),
        2 => format!(
            r#"{{"eventVersion":"1.08","userIdentity":{},"eventTime":"{time}","eventSource":"kms.amazonaws.com","eventName":"Decrypt","awsRegion":"us-east-1","sourceIPAddress":"10.2.{}.{}","userAgent":"aws-sdk-js/3.600.0 ua/2.0 os/linux#5.10 lang/js md/nodejs#20.15.0 api/kms#3.600.0","requestParameters":{{"encryptionContext":{{"aws:lambda:FunctionArn":"arn:aws:lambda:us-east-1:{a}:function:orders-api"}},"encryptionAlgorithm":"SYMMETRIC_DEFAULT"}},"responseElements":null,"resources":[{{"accountId":"{a}","type":"AWS::KMS::Key","ARN":"arn:aws:kms:us-east-1:{a}:key/0f4c1e2d-9a2b-4c1e-9a2b-0f4c1e2d9a2b"}}],{}"#,
            session("orders-api-role", "orders-api"),
            i % 256,
            (i / 3) % 256,
            tail("kms.us-east-1.amazonaws.com", true, "Management")
        ),
        3 => format!(
            r#"{{"eventVersion":"1.08","userIdentity":{{"type":"AWSService","invokedBy":"lambda.amazonaws.com"}},"eventTime":"{time}","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","awsRegion":"us-east-1","sourceIPAddress":"lambda.amazonaws.com","userAgent":"lambda.amazonaws.com","requestParameters":{{"roleArn":"arn:aws:iam::{a}:role/orders-api-role","roleSessionName":"orders-api","durationSeconds":3600}},"responseElements":{{"credentials":{{"accessKeyId":"ASIAEXAMPLESESSION{:02}","sessionToken":"IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKENVALUEFORTHEBENCH","expiration":"Nov 23, 2026, 11:00:00 AM"}},"assumedRoleUser":{{"assumedRoleId":"AROAEXAMPLEROLEID0001:orders-api","arn":"arn:aws:sts::{a}:assumed-role/orders-api-role/orders-api"}}}},"resources":[{{"accountId":"{a}","type":"AWS::IAM::Role","ARN":"arn:aws:iam::{a}:role/orders-api-role"}}],"sharedEventID":"{id}",{}"#,
            i % 97,
            tail("sts.amazonaws.com", true, "Management")
        ),
        _ => format!(
            r#"{{"eventVersion":"1.09","userIdentity":{{"type":"IAMUser","principalId":"AIDAEXAMPLEREPORTER01","arn":"arn:aws:iam::{a}:user/reporting","accountId":"{a}","accessKeyId":"AKIAEXAMPLEREPORTER1","userName":"reporting"}},"eventTime":"{time}","eventSource":"cloudwatch.amazonaws.com","eventName":"GetMetricData","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.{}","userAgent":"Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.144","requestParameters":{{"metricDataQueries":[{{"id":"cpu","metricStat":{{"metric":{{"namespace":"AWS/EC2","metricName":"CPUUtilization","dimensions":[{{"name":"AutoScalingGroupName","value":"web"}}]}},"period":300,"stat":"Average"}}}}],"startTime":"Nov 23, 2026, 9:00:00 AM","endTime":"Nov 23, 2026, 10:00:00 AM"}},"responseElements":null,{}"#,
            i % 256,
            tail("monitoring.us-east-1.amazonaws.com", true, "Management")
        ),
    }
}

/// `files` gzipped log files of `per_file` [`realistic`] records under `root`, laid out
/// and named as CloudTrail writes them to S3
/// (`AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_STAMP_UNIQUE.json.gz`).
/// Returns the number of `CreateAccessKey` records written.
pub fn write_realistic_tree(root: &Path, files: u64, per_file: u64) -> std::io::Result<u64> {
    let dir = root.join(format!(
        "AWSLogs/{REALISTIC_ACCOUNT}/CloudTrail/us-east-1/2026/11/23"
    ));
    std::fs::create_dir_all(&dir)?;
    let mut created = 0;
    for f in 0..files {
        let name = format!(
            "{REALISTIC_ACCOUNT}_CloudTrail_us-east-1_20261123T{:02}{:02}Z_{f:016x}.json.gz",
            (f / 60) % 24,
            f % 60
        );
        let file = std::fs::File::create(dir.join(name))?;
        let mut gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::fast(),
        );
        write!(gz, "{{\"Records\":[")?;
        for r in 0..per_file {
            let i = f * per_file + r;
            if r > 0 {
                write!(gz, ",")?;
            }
            gz.write_all(realistic(i).as_bytes())?;
            created += u64::from(i % 100 == 0);
        }
        write!(gz, "]}}")?;
        gz.try_finish()?;
    }
    Ok(created)
}
