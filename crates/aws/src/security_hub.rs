//! keyguard's findings into Security Hub (`BatchImportFindings`, one finding a call), as
//! a custom integration importing into its own account's default product.

use crate::error::effect_error;
use aws_sdk_securityhub::types::{
    AwsIamAccessKeyDetails, AwsSecurityFinding, FindingProviderFields, FindingProviderSeverity,
    Partition, Recommendation, Remediation, Resource, ResourceDetails, Severity, SeverityLabel,
};
use keyguard_core::security_hub::{Finding, Findings, Label, SCHEMA_VERSION};
use keyguard_core::{EffectError, ErrorKind};

#[derive(Clone)]
pub struct SecurityHub {
    client: aws_sdk_securityhub::Client,
}

fn label(l: Label) -> SeverityLabel {
    match l {
        Label::Informational => SeverityLabel::Informational,
        Label::Low => SeverityLabel::Low,
        Label::Medium => SeverityLabel::Medium,
        Label::High => SeverityLabel::High,
        Label::Critical => SeverityLabel::Critical,
    }
}

/// ASFF timestamps: RFC 3339, UTC.
fn stamp(t: keyguard_core::Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn resource(r: &keyguard_core::security_hub::Resource, region: &str) -> Resource {
    let mut out = Resource::builder()
        .r#type(r.kind)
        .id(&r.id)
        .partition(Partition::from(partition(region)))
        .region(region);
    if r.kind == "AwsIamAccessKey" {
        let mut key = AwsIamAccessKeyDetails::builder().account_id(r.account.as_str());
        if let Some(id) = &r.key_id {
            key = key.access_key_id(id);
        }
        if let Some(p) = &r.principal {
            key = key.principal_name(p);
        }
        if let Some(t) = r.principal_type {
            key = key.principal_type(t);
        }
        out = out.details(
            ResourceDetails::builder()
                .aws_iam_access_key(key.build())
                .build(),
        );
    }
    out.build()
}

/// The workflow states keyguard sets on its own findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workflow {
    Suppressed,
    Resolved,
}

/// All attempts of one import together (and of the update that may follow it).
pub const IMPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A run's finding at most: the read and the update that may set it `RESOLVED`, then
/// the import. Every reporting function's worst case counts it.
pub const FINDING_BUDGET: std::time::Duration = IMPORT_TIMEOUT.saturating_mul(3);

/// The partition a Region belongs to, for the product ARN.
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// With `SECURITY_HUB=true`: the client, and where findings go (keyguard's own account
/// and Region). `Err` when either is unknown, so the function stops at cold start rather
/// than run without telling Security Hub.
pub fn configured(
    sdk: &aws_config::SdkConfig,
    enabled: bool,
    home: Option<&keyguard_core::AccountId>,
) -> Result<Option<(SecurityHub, Findings)>, String> {
    if !enabled {
        return Ok(None);
    }
    let region = sdk.region().map(ToString::to_string).ok_or(
        "SECURITY_HUB=true, but the Region is unknown: there is no Security Hub to import into",
    )?;
    let home = home.ok_or(
        "SECURITY_HUB=true, but keyguard's account is unknown (sts:GetCallerIdentity): there is no product to import into",
    )?;
    Ok(Some((
        SecurityHub {
            client: aws_sdk_securityhub::Client::new(&crate::bounded(sdk, IMPORT_TIMEOUT)),
        },
        Findings::new(home.clone(), &region, partition(&region)),
    )))
}

/// The SDK's finding for keyguard's, built off the invocation's stack ([`SecurityHub::import`]).
fn sdk_finding(f: &Finding) -> AwsSecurityFinding {
    let resources = f.resources.iter().map(|r| resource(r, &f.region));
    AwsSecurityFinding::builder()
        .schema_version(SCHEMA_VERSION)
        .id(&f.id)
        .product_arn(&f.product_arn)
        .generator_id(&f.generator_id)
        .aws_account_id(f.aws_account_id.as_str())
        .set_types(Some(f.types.clone()))
        .created_at(stamp(f.created_at))
        .updated_at(stamp(f.updated_at))
        .severity(Severity::builder().label(label(f.severity)).build())
        // What a provider may update after the finding exists (the top-level
        // severity and types are the customer's to change once imported).
        .finding_provider_fields(
            FindingProviderFields::builder()
                .severity(
                    FindingProviderSeverity::builder()
                        .label(label(f.severity))
                        .build(),
                )
                .set_types(Some(f.types.clone()))
                .build(),
        )
        .title(&f.title)
        .description(&f.description)
        .remediation(
            Remediation::builder()
                .recommendation(Recommendation::builder().text(&f.remediation).build())
                .build(),
        )
        .set_resources(Some(resources.collect()))
        .set_product_fields(Some(f.product_fields.clone().into_iter().collect()))
        .build()
}

impl SecurityHub {
    /// A finding's workflow set (`BatchUpdateFindings`, the customer's update;
    /// `BatchImportFindings` may not change a finding's workflow), with a note of who set
    /// it and why: `SUPPRESSED` by `keyguard undo` for a containment it reversed,
    /// `RESOLVED` by the run that completed what an earlier one failed at. `Ok(false)`
    /// when there is no such finding (Security Hub was not on when the run was).
    pub async fn set_workflow(
        &self,
        id: &str,
        product_arn: &str,
        status: Workflow,
        note: &str,
        by: &str,
    ) -> Result<bool, EffectError> {
        use aws_sdk_securityhub::types::{
            AwsSecurityFindingIdentifier, NoteUpdate, WorkflowStatus, WorkflowUpdate,
        };
        let status = match status {
            Workflow::Suppressed => WorkflowStatus::Suppressed,
            Workflow::Resolved => WorkflowStatus::Resolved,
        };
        let bounded = |t: &str| keyguard_core::notice::clean(t, 400);
        let identifier = AwsSecurityFindingIdentifier::builder()
            .id(id)
            .product_arn(product_arn)
            .build();
        let note = NoteUpdate::builder()
            .text(bounded(note))
            .updated_by(bounded(by))
            .build();
        let out = self
            .client
            .batch_update_findings()
            .finding_identifiers(identifier)
            .workflow(WorkflowUpdate::builder().status(status).build())
            .note(note)
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        match out.unprocessed_findings().first() {
            None => Ok(true),
            Some(u) if u.error_code() == Some("FindingNotFound") => Ok(false),
            Some(u) => Err(EffectError::new(
                ErrorKind::Other,
                u.error_code(),
                format!(
                    "Security Hub did not update finding {id}: {}",
                    u.error_message().unwrap_or("no reason given")
                ),
            )),
        }
    }

    /// Imports (or, for an `Id` already there, updates) one finding. A finding Security
    /// Hub refuses as invalid is `Rejected` (sending it again would be refused again); any
    /// other refusal (Security Hub not enabled, throttled) fails the step for a retry.
    pub async fn import(&self, f: &Finding) -> Result<String, EffectError> {
        let at = stamp(f.updated_at);
        // The SDK's resource details are a 31 KB struct that each builder call and the
        // serialiser copy in a debug build: the import runs as a task of its own, polled
        // from the runtime rather than at the bottom of the invocation's deep future.
        let (client, owned) = (self.client.clone(), f.clone());
        let sent = tokio::spawn(async move {
            client
                .batch_import_findings()
                .findings(sdk_finding(&owned))
                .send()
                .await
        })
        .await
        .map_err(|e| {
            EffectError::new(
                ErrorKind::Other,
                None,
                format!("importing finding {}: {e}", f.id),
            )
        })?;
        let out = sent.map_err(|e| effect_error(&e))?;
        if out.failed_count().unwrap_or(0) > 0 {
            let failed = out.failed_findings().first();
            let code = failed.and_then(|e| e.error_code()).unwrap_or("Failed");
            let message = failed
                .and_then(|e| e.error_message())
                .unwrap_or("no reason given");
            let kind = if code == "InvalidInput" {
                ErrorKind::Rejected
            } else {
                ErrorKind::Other
            };
            return Err(EffectError::new(
                kind,
                Some(code),
                format!("Security Hub did not import finding {}: {message}", f.id),
            ));
        }
        Ok(format!("Security Hub finding {} ({})", f.id, at))
    }

    /// Sets the finding `RESOLVED` when Security Hub's copy of it told of a failure and is
    /// still open (`NEW` or `NOTIFIED`): what an earlier run failed at, this one
    /// completed. `Ok(false)` when there is nothing to resolve: no such finding yet (the
    /// earlier run's import failed too), one that told of no failure (a row left failed
    /// by a window, not by a step), or one a person has already set.
    pub async fn resolve_if_told(&self, f: &Finding) -> Result<bool, EffectError> {
        use aws_sdk_securityhub::types::{
            AwsSecurityFindingFilters, StringFilter, StringFilterComparison, WorkflowStatus,
        };
        let equals = |v: &str| {
            StringFilter::builder()
                .value(v)
                .comparison(StringFilterComparison::Equals)
                .build()
        };
        let filters = AwsSecurityFindingFilters::builder()
            .id(equals(&f.id))
            .product_arn(equals(&f.product_arn))
            .build();
        // Read as the import is sent, off the invocation's deep future: the SDK's finding
        // is a large struct.
        let client = self.client.clone();
        let held = tokio::spawn(async move {
            let out = client
                .get_findings()
                .filters(filters)
                .max_results(1)
                .send()
                .await?;
            Ok::<_, aws_sdk_securityhub::error::SdkError<_, _>>(out.findings().first().map(
                |found| {
                    let fields: std::collections::BTreeMap<String, String> = found
                        .product_fields()
                        .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                        .unwrap_or_default();
                    let status = found.workflow().and_then(|w| w.status()).cloned();
                    (found.id().map(str::to_owned), fields, status)
                },
            ))
        })
        .await
        .map_err(|e| {
            EffectError::new(
                ErrorKind::Other,
                None,
                format!("reading finding {}: {e}", f.id),
            )
        })?
        .map_err(|e| effect_error(&e))?;
        let Some((id, fields, status)) = held else {
            return Ok(false);
        };
        let open = matches!(
            status,
            None | Some(WorkflowStatus::New) | Some(WorkflowStatus::Notified)
        );
        if id.as_deref() != Some(f.id.as_str())
            || !open
            || !keyguard_core::security_hub::told_failure(&fields)
        {
            return Ok(false);
        }
        self.set_workflow(
            &f.id,
            &f.product_arn,
            Workflow::Resolved,
            "keyguard: a retry completed what an earlier attempt at this event had failed at",
            &f.generator_id,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_follows_the_region() {
        assert_eq!(partition("eu-west-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
    }

    #[test]
    fn timestamps_are_rfc3339_in_utc() {
        let t = keyguard_core::parse_time("2026-12-07T12:00:00Z").unwrap();
        assert_eq!(stamp(t), "2026-12-07T12:00:00.000Z");
    }
}
