//! Reading the event: which credentials it names, in which account, and whether it can
//! be believed at all.

use super::{ContainmentConfig, Credential, Subject, Target, FUNCTION};
use crate::events::{Envelope, Finding, HealthEvent, IdentityType, Risk, Trigger};
use crate::guard::HandoffCheck;
use crate::key::{AccessKeyId, KeyKind, RoleName, UserName};
use crate::plan::{Decision, Plan, Principal};
use crate::scope::{AccountId, Scope};

/// A plan finished before any lookup (boxed: it is the rare, large error path).
pub type Early = Box<Plan>;

fn early(decision: Decision, event_ref: &str, classifier_source: Option<String>) -> Early {
    let mut plan = Plan::for_event(FUNCTION, decision, event_ref.to_owned());
    plan.classifier_source = classifier_source;
    Box::new(plan)
}

fn invalid(why: String, event_ref: &str) -> Early {
    early(Decision::Invalid { why }, event_ref, None)
}

fn ignored(why: &str, event_ref: &str) -> Early {
    early(
        Decision::Ignored {
            why: why.to_owned(),
        },
        event_ref,
        None,
    )
}

/// A key id read from an AWS record, validated.
fn key_in(raw: Option<&str>, field: &str, event_ref: &str) -> Result<AccessKeyId, Early> {
    let raw = raw.ok_or_else(|| {
        invalid(
            format!("the event names no access key ({field})"),
            event_ref,
        )
    })?;
    AccessKeyId::parse(raw).map_err(|e| invalid(format!("{field}: {e}"), event_ref))
}

fn name_in<T>(
    raw: Option<&str>,
    field: &str,
    parse: fn(&str) -> Result<T, crate::IdError>,
    event_ref: &str,
) -> Result<Option<T>, Early> {
    raw.map(|r| parse(r).map_err(|e| invalid(format!("{field}: {e}"), event_ref)))
        .transpose()
}

/// A role name from `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
pub fn role_from_arn(arn: &str) -> Option<&str> {
    arn.split_once(":assumed-role/")?.1.split('/').next()
}

fn session_subject(
    key_id: AccessKeyId,
    principal: Option<Principal>,
    event_ref: &str,
) -> Result<Subject, Early> {
    let principal = principal.ok_or_else(|| {
        invalid(
            format!(
                "temporary key {key_id}: the event names no role or user whose sessions to revoke"
            ),
            event_ref,
        )
    })?;
    Ok(Subject::Session { key_id, principal })
}

/// A key named with (optionally) its IAM user: a long-term key to deactivate, or the
/// user's `GetSessionToken` sessions to revoke.
fn user_subject(
    key_id: AccessKeyId,
    (raw_user, user_field): (Option<&str>, &str),
    event_ref: &str,
) -> Result<Subject, Early> {
    let user = name_in(raw_user, user_field, UserName::parse, event_ref)?;
    match key_id.kind() {
        KeyKind::LongTerm => Ok(Subject::UserKey { key_id, user }),
        KeyKind::Temporary => session_subject(key_id, user.map(Principal::User), event_ref),
    }
}

/// The scope from the first account id present, most specific first.
fn scope_of(
    accounts: &[Option<&str>],
    region: Option<&str>,
    event_ref: &str,
) -> Result<Option<Scope>, Early> {
    Scope::from_raw(accounts, region).map_err(|e| invalid(format!("account: {e}"), event_ref))
}

fn envelope_account(envelope: Option<&Envelope>) -> Option<&str> {
    envelope.and_then(|e| e.account.as_deref())
}

fn envelope_region(envelope: Option<&Envelope>) -> Option<&str> {
    envelope.and_then(|e| e.region.as_deref())
}

/// The credential a GuardDuty finding names (`resource.accessKeyDetails`), in the
/// finding's account. `Err` when it names none, or names one that is malformed.
pub fn finding_subject(
    finding: &Finding,
    envelope: Option<&Envelope>,
    event_ref: &str,
) -> Result<(Subject, Option<Scope>), Early> {
    let Some(details) = finding.access_key_details() else {
        return Err(ignored(
            "the finding names no access key (resource.accessKeyDetails)",
            event_ref,
        ));
    };
    // GuardDuty reads the finding account's CloudTrail: the credential is that account's
    // (a remote caller's account, if any, is [`finding_contested`] until STS says).
    let scope = scope_of(
        &[finding.account_id.as_deref(), envelope_account(envelope)],
        finding.region.as_deref().or(envelope_region(envelope)),
        event_ref,
    )?;
    let field = "resource.accessKeyDetails.accessKeyId";
    let subject = match details.user_type.as_deref() {
        Some("Root") => Subject::Root {
            key_id: details.access_key_id.clone(),
        },
        // The seed's simulated findings carry no userType: a named user (not root) is
        // read as an IAM user, and IAM then says whether it exists.
        Some("IAMUser") | None
            if details.user_type.is_some()
                || details
                    .user_name
                    .as_deref()
                    .is_some_and(|u| !u.eq_ignore_ascii_case("root")) =>
        {
            user_subject(
                key_in(details.access_key_id.as_deref(), field, event_ref)?,
                (
                    details.user_name.as_deref(),
                    "resource.accessKeyDetails.userName",
                ),
                event_ref,
            )?
        }
        Some("AssumedRole") => {
            let key_id = key_in(details.access_key_id.as_deref(), field, event_ref)?;
            let role = name_in(
                details.user_name.as_deref(),
                "resource.accessKeyDetails.userName",
                RoleName::parse,
                event_ref,
            )?;
            session_subject(key_id, role.map(Principal::Role), event_ref)?
        }
        other => Subject::Uncontainable {
            identity: other.unwrap_or("unknown").to_owned(),
            key_id: details.access_key_id.clone(),
        },
    };
    Ok((subject, scope))
}

/// The other account a finding names for its credential: its remote caller's, when that
/// is not the finding's own. Usually the finding account's credential was used from
/// there (`InstanceCredentialExfiltration.InsideAWS`: an instance role's session used from
/// another account's instance); but a caller of the remote account reaching the finding
/// account with its own credential is named the same way, and then a role of the same
/// name here is someone else. Only STS can tell the two apart: the credential is read and
/// acted on once `sts:GetAccessKeyInfo` says the key is the finding account's.
pub fn finding_contested(
    finding: &Finding,
    scope: Option<&Scope>,
    event_ref: &str,
) -> Result<Option<AccountId>, Early> {
    let Some(raw) = finding.remote_account() else {
        return Ok(None);
    };
    let remote = AccountId::parse(raw).map_err(|e| {
        invalid(
            format!("service.action.awsApiCallAction.remoteAccountDetails.accountId: {e}"),
            event_ref,
        )
    })?;
    Ok((scope.map(|s| &s.account) != Some(&remote)).then_some(remote))
}

fn cloudtrail_subject(
    record: &crate::events::CloudTrailRecord,
    envelope: Option<&Envelope>,
    event_ref: &str,
) -> Result<(Subject, Option<Scope>), Early> {
    let id = &record.user_identity;
    let issuer = id
        .session_context
        .as_ref()
        .and_then(|s| s.session_issuer.as_ref());
    // The credential's own account: a role session's issuer, else the identity's, else
    // the account the call was made in.
    let scope = scope_of(
        &[
            issuer.and_then(|i| i.account_id.as_deref()),
            id.account_id.as_deref(),
            record.recipient_account_id.as_deref(),
            envelope_account(envelope),
        ],
        record.aws_region.as_deref().or(envelope_region(envelope)),
        event_ref,
    )?;
    let subject = match &id.identity_type {
        IdentityType::Absent => {
            return Err(ignored(
                "the record has no userIdentity: it names no credential",
                event_ref,
            ))
        }
        IdentityType::Root => Subject::Root {
            key_id: id.access_key_id.clone(),
        },
        IdentityType::IamUser => user_subject(
            key_in(
                id.access_key_id.as_deref(),
                "userIdentity.accessKeyId",
                event_ref,
            )?,
            (id.user_name.as_deref(), "userIdentity.userName"),
            event_ref,
        )?,
        IdentityType::AssumedRole => {
            let key_id = key_in(
                id.access_key_id.as_deref(),
                "userIdentity.accessKeyId",
                event_ref,
            )?;
            let raw_role = issuer
                .filter(|i| i.issuer_type.as_deref() == Some("Role"))
                .and_then(|i| i.user_name.as_deref())
                .or_else(|| id.arn.as_deref().and_then(role_from_arn));
            let role = name_in(
                raw_role,
                "userIdentity.sessionContext.sessionIssuer.userName",
                RoleName::parse,
                event_ref,
            )?;
            session_subject(key_id, role.map(Principal::Role), event_ref)?
        }
        other => Subject::Uncontainable {
            identity: other.as_str().to_owned(),
            key_id: id.access_key_id.clone(),
        },
    };
    Ok((subject, scope))
}

/// Every exposed key a Health event names: each affected entity that is an access key,
/// in order and once each; else `eventMetadata.publicKey`. The metadata's user name
/// belongs to its `publicKey` (or to the one key, when there is one).
fn health_subjects(
    event: &HealthEvent,
    risk: Risk,
    envelope: Option<&Envelope>,
    event_ref: &str,
) -> Result<Vec<(Subject, Option<Scope>)>, Early> {
    let scope = scope_of(
        &[
            event.affected_account.as_deref(),
            envelope_account(envelope),
        ],
        envelope_region(envelope),
        event_ref,
    )?;
    // No access key to contain: a notice, never a guess at the user's keys.
    let told = |identity: &str| {
        Ok(vec![(
            Subject::Uncontainable {
                identity: identity.to_owned(),
                key_id: None,
            },
            scope.clone(),
        )])
    };
    if !risk.names_keys() {
        return told("console-sign-in");
    }
    let mut keys: Vec<AccessKeyId> = Vec::new();
    for entity in &event.affected_entities {
        if let Ok(k) = AccessKeyId::parse(&entity.entity_value) {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    if keys.is_empty() && risk == Risk::IamQuarantine {
        // AWS quarantined a user without naming which key: every key of the user would
        // be a guess.
        match event.public_key().and_then(|k| AccessKeyId::parse(k).ok()) {
            Some(key) => keys.push(key),
            None => return told("quarantined-user"),
        }
    }
    if keys.is_empty() {
        let raw = event.exposed_key().or_else(|| {
            event
                .affected_entities
                .first()
                .map(|e| e.entity_value.as_str())
        });
        keys.push(key_in(raw, "affectedEntities[].entityValue", event_ref)?);
    }
    let public_key = event.exposed_key();
    let single = keys.len() == 1;
    keys.into_iter()
        .map(|key_id| {
            let user = (single || public_key == Some(key_id.as_str()))
                .then(|| event.exposed_user())
                .flatten();
            let subject = user_subject(key_id, (user, "eventMetadata.userName"), event_ref)?;
            Ok((subject, scope.clone()))
        })
        .collect()
}

fn handoff_subject(h: &crate::events::Handoff, event_ref: &str) -> Result<Subject, Early> {
    let key_id = h.access_key_id.clone();
    match key_id.kind() {
        KeyKind::LongTerm => Ok(Subject::UserKey {
            key_id,
            user: h.user_name.clone(),
        }),
        KeyKind::Temporary => {
            let principal = h
                .role_name
                .clone()
                .map(Principal::Role)
                .or_else(|| h.user_name.clone().map(Principal::User));
            session_subject(key_id, principal, event_ref).map_err(|mut p| {
                p.classifier_source = h.classifier_source.clone();
                p
            })
        }
    }
}

/// The detector's hand-off of a key that tagged its own user exempt. Only the detector
/// can sign a hand-off, and it sends this one for that call alone.
pub const SELF_EXEMPTION: &str = "createkey-detector/exemption-tagged";

/// Reads which credentials the event names. `Err` is a finished plan: refused, ignored
/// or invalid, with nothing to look up. `handoff` is what the adapter found when it
/// checked a hand-off's MAC.
pub fn target(
    trigger: &Trigger,
    cfg: &ContainmentConfig,
    event_ref: &str,
    handoff: Option<&HandoffCheck>,
) -> Result<Target, Early> {
    if let Some(why) = cfg.guard.untrusted(trigger, handoff) {
        let cs = match trigger {
            Trigger::Handoff(h) => h.classifier_source.clone(),
            _ => None,
        };
        return Err(early(Decision::Refused { why }, event_ref, cs));
    }
    let mut classifier_source = None;
    let mut contested = None;
    let named: Vec<(Subject, Option<Scope>)> = match trigger {
        Trigger::CloudTrail { record, envelope } => {
            vec![cloudtrail_subject(record, envelope.as_ref(), event_ref)?]
        }
        Trigger::GuardDuty { finding, envelope } => {
            if finding.is_sample() {
                return Err(ignored(
                    "GuardDuty sample finding: generated by GuardDuty, not evidence",
                    event_ref,
                ));
            }
            let (subject, scope) = finding_subject(finding, envelope.as_ref(), event_ref)?;
            contested = finding_contested(finding, scope.as_ref(), event_ref)?;
            vec![(subject, scope)]
        }
        Trigger::Health { event, envelope } => {
            let Some(risk) = event.risk() else {
                return Err(ignored(
                    "a Health event other than the RISK codes keyguard acts on",
                    event_ref,
                ));
            };
            health_subjects(event, risk, envelope.as_ref(), event_ref)?
        }
        Trigger::Handoff(h) => {
            classifier_source = h.classifier_source.clone();
            let scope = Scope {
                account: h.account_id.clone(),
                region: None,
            };
            vec![(handoff_subject(h, event_ref)?, Some(scope))]
        }
        Trigger::Scheduled { .. } | Trigger::Rotation(_) | Trigger::Unsupported { .. } => {
            return Err(ignored(
                "deactivate-key acts on CloudTrail, GuardDuty, Health and hand-off events only",
                event_ref,
            ));
        }
    };
    let self_tagged = match trigger {
        Trigger::Handoff(h) if h.classifier_source.as_deref() == Some(SELF_EXEMPTION) => Some(
            "the key itself tagged its own user exempt (createkey-detector's exemption-tagged rule): a leaked key's escape, not an administrator's exemption".to_owned(),
        ),
        _ => None,
    };
    let credentials = named
        .into_iter()
        .map(|(subject, scope)| Credential {
            foreign: cfg.guard.foreign(scope.as_ref()),
            tag_not_believed: self_tagged.clone(),
            contested: contested.clone(),
            subject,
            scope,
        })
        .collect();
    Ok(Target {
        credentials,
        classifier_source,
        event_ref: event_ref.to_owned(),
    })
}
