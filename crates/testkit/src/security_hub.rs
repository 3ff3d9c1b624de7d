//! Security Hub's findings, read back from moto.

/// The findings with this `Id`. The SDK's resource details are a 31 KB struct whose
/// deserialiser needs more stack in a debug build than a test thread has: read on a
/// thread with room, with a runtime of its own.
pub fn findings_with_id(
    sdk: &aws_config::SdkConfig,
    id: &str,
) -> Vec<aws_sdk_securityhub::types::AwsSecurityFinding> {
    let (sdk, id) = (sdk.clone(), id.to_owned());
    let read = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                use aws_sdk_securityhub::types::{
                    AwsSecurityFindingFilters, StringFilter, StringFilterComparison,
                };
                let by_id = AwsSecurityFindingFilters::builder()
                    .id(StringFilter::builder()
                        .value(&id)
                        .comparison(StringFilterComparison::Equals)
                        .build())
                    .build();
                aws_sdk_securityhub::Client::new(&sdk)
                    .get_findings()
                    .filters(by_id)
                    .send()
                    .await
                    .expect("GetFindings")
                    .findings()
                    .iter()
                    .filter(|f| f.id() == Some(id.as_str()))
                    .cloned()
                    .collect()
            })
        })
        .expect("a thread");
    read.join().expect("the read")
}

/// The `Id` of the finding a run's report says it imported, the import having gone
/// through (a report as the functions return it, in JSON).
pub fn imported_id(report: &serde_json::Value) -> String {
    let steps = report["steps"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let step = steps
        .iter()
        .find(|s| s["action"]["type"] == "import_finding")
        .unwrap_or_else(|| panic!("no import_finding step: {report:#}"));
    assert_eq!(step["outcome"], "applied", "{report:#}");
    step["action"]["finding"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an import without an id: {step:#}"))
        .to_owned()
}

/// The finding's first resource, which must be an access key: its details.
pub fn first_key(
    f: &aws_sdk_securityhub::types::AwsSecurityFinding,
) -> &aws_sdk_securityhub::types::AwsIamAccessKeyDetails {
    let resource = f.resources().first().expect("a resource");
    assert_eq!(resource.r#type(), Some("AwsIamAccessKey"));
    resource
        .details()
        .and_then(|d| d.aws_iam_access_key())
        .expect("the access key's details")
}

/// A redelivery's report did not import its finding again. moto replaces a finding of
/// the same `Id`, so counting findings alone proves little: the step itself must not
/// have gone through.
pub fn assert_not_imported_again(report: &serde_json::Value) {
    let import = report["steps"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .find(|s| s["action"]["type"] == "import_finding");
    assert!(
        import.is_none_or(|s| s["outcome"] != "applied"),
        "the redelivery imported again: {report:#}"
    );
}
