//! The accounts of an AWS Organization, and an IAM client inside each of them through a
//! role keyguard assumes there (age-rotation's organisation mode).

use crate::error::effect_error;
use crate::Iam;
use keyguard_core::org_scan::AccountScan;
use keyguard_core::{AccountId, EffectError, ErrorKind};

/// Whose an access key is, as STS says (`sts:GetAccessKeyInfo`, which any principal may
/// ask about any key, with no resource to grant): what an event says of a key's account is
/// checked against it before keyguard acts there.
#[derive(Clone)]
pub struct KeyOwners {
    sts: aws_sdk_sts::Client,
}

impl KeyOwners {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            sts: aws_sdk_sts::Client::new(config),
        }
    }

    pub async fn account_of(&self, key_id: &str) -> Result<AccountId, EffectError> {
        let out = self
            .sts
            .get_access_key_info()
            .access_key_id(key_id)
            .send()
            .await
            .map_err(|e| {
                let e = effect_error(&e);
                EffectError {
                    message: format!("sts:GetAccessKeyInfo {key_id}: {}", e.message),
                    ..e
                }
            })?;
        let raw = out.account().unwrap_or_default();
        AccountId::parse(raw).map_err(|e| {
            EffectError::new(
                ErrorKind::Other,
                None,
                format!("sts:GetAccessKeyInfo {key_id} answered no account: {e}"),
            )
        })
    }
}

/// One member account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
}

/// Every account of the organisation whose `State` is ACTIVE, all pages (`organizations:ListAccounts`;
/// run from the management account or a delegated administrator).
pub async fn list(config: &aws_config::SdkConfig) -> Result<Vec<Account>, EffectError> {
    let pages = aws_sdk_organizations::Client::new(config)
        .list_accounts()
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| effect_error(&e))?;
    Ok(pages
        .iter()
        .flat_map(|page| page.accounts())
        // Organizations retired `Status` on 9 September 2026; `State` replaces it. Read
        // `State`, and `Status` only where an older endpoint still sends nothing else.
        .filter(|a| {
            let state = a.state().map(|s| s.as_str());
            state.or_else(|| a.status().map(|s| s.as_str())) == Some("ACTIVE")
        })
        .filter_map(|a| {
            Some(Account {
                id: a.id()?.to_owned(),
                name: a.name().unwrap_or_default().to_owned(),
            })
        })
        .collect())
}

/// Whether the organisation has `account` as an ACTIVE account (`organizations:
/// DescribeAccount`): `Ok(Err(why))` when it does not; `Err` when it could not be asked.
pub async fn is_active(
    config: &aws_config::SdkConfig,
    account: &keyguard_core::AccountId,
) -> Result<Result<(), String>, EffectError> {
    let asked = aws_sdk_organizations::Client::new(config)
        .describe_account()
        .account_id(account.as_str())
        .send()
        .await;
    match asked {
        Ok(out) => {
            let a = out.account();
            let state = a
                .and_then(|a| a.state().map(|s| s.as_str().to_owned()))
                .or_else(|| a.and_then(|a| a.status().map(|s| s.as_str().to_owned())));
            Ok(match state.as_deref() {
                Some("ACTIVE") => Ok(()),
                other => Err(format!(
                    "account {account} is {} in the organisation, not ACTIVE",
                    other.unwrap_or("of no state")
                )),
            })
        }
        Err(e) => {
            let e = effect_error(&e);
            if e.code.as_deref() == Some("AccountNotFoundException") {
                Ok(Err(keyguard_core::organization::not_a_member(account)))
            } else {
                Err(e)
            }
        }
    }
}

/// Whether an `AssumeRole` error means the role will not be assumed however often it is
/// tried: STS answers a missing role, or one that does not trust the caller, with
/// `AccessDenied`; throttling and outages are something else.
pub fn is_unassumable(e: &EffectError) -> bool {
    matches!(
        e.code.as_deref(),
        Some("AccessDenied" | "AccessDeniedException" | "RegionDisabledException")
    )
}

/// The SDK configuration acting as `arn` (`sts:AssumeRole`, an hour's session named
/// `session`), and when its credentials end.
pub async fn assumed(
    config: &aws_config::SdkConfig,
    arn: &str,
    session: &str,
) -> Result<(aws_config::SdkConfig, std::time::SystemTime), EffectError> {
    let out = aws_sdk_sts::Client::new(config)
        .assume_role()
        .role_arn(arn)
        .role_session_name(session)
        .send()
        .await
        .map_err(|e| {
            let e = effect_error(&e);
            EffectError {
                message: format!("assuming {arn}: {}", e.message),
                ..e
            }
        })?;
    let c = out.credentials().ok_or_else(|| {
        EffectError::new(
            ErrorKind::Other,
            None,
            format!("AssumeRole {arn} returned no credentials"),
        )
    })?;
    let until = std::time::SystemTime::try_from(*c.expiration())
        .unwrap_or_else(|_| std::time::SystemTime::now());
    let credentials = aws_sdk_sts::config::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        Some(until),
        "keyguard-member-account",
    );
    let sdk = config
        .to_builder()
        .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(
            credentials,
        ))
        .build();
    Ok((sdk, until))
}

/// IAM in `account`, as `role_name` there (`sts:AssumeRole`, in a session named after
/// `function`, which CloudTrail shows there; the session lasts an hour).
pub async fn iam_in(
    config: &aws_config::SdkConfig,
    account: &str,
    role_name: &str,
    function: &str,
) -> Result<Iam, EffectError> {
    let arn = format!("arn:aws:iam::{account}:role/{role_name}");
    let (sdk, _) = assumed(config, &arn, &format!("keyguard-{function}")).await?;
    Ok(Iam::new(&sdk))
}

/// An account is not begun with less than this left of the invocation: its credential
/// report alone may take `REPORT_WAIT_SECONDS`, and Lambda's timeout would end the run
/// with nothing said of the accounts not reached.
pub const ACCOUNT_MARGIN: std::time::Duration = std::time::Duration::from_secs(60);

/// Every ACTIVE account of the organisation, `concurrency` at a time: what `scan` made of
/// each (told whether it is `own`, keyguard's account as its cold start read it), in the
/// accounts' order. The accounts cannot be listed: `own` alone is scanned, beside a
/// failure (`organization`) naming why. An account not begun before the invocation's
/// deadline (less than [`ACCOUNT_MARGIN`] left) is a failure naming it, so the run fails
/// and says which were not reached. The accounts are begun from the `start`th on (the
/// day of the year, say), so that when a run cannot reach them all, the same ones are
/// not the ones left out every day.
pub async fn each_account<F, Fut>(
    config: &aws_config::SdkConfig,
    own: Option<&str>,
    (concurrency, start): (usize, usize),
    scan: F,
) -> Vec<(String, AccountScan)>
where
    F: Fn(String, bool) -> Fut,
    Fut: std::future::Future<Output = AccountScan>,
{
    use futures::stream::{self, StreamExt};
    let (mut ids, unlisted) = match list(config).await {
        Ok(accounts) => (accounts.into_iter().map(|a| a.id).collect::<Vec<_>>(), None),
        Err(e) => (
            own.map(str::to_owned).into_iter().collect::<Vec<_>>(),
            Some(format!("listing the organisation's accounts: {e}")),
        ),
    };
    // In a stable order (the account ids'), whatever order the listing gave.
    ids.sort();
    if !ids.is_empty() {
        let first = start % ids.len();
        ids.rotate_left(first);
    }
    let deadline = crate::lambda::deadline();
    let mut results = stream::iter(ids)
        .map(|account| {
            let is_own = own == Some(account.as_str());
            let late = deadline.is_some_and(|d| {
                d.saturating_duration_since(std::time::Instant::now()) < ACCOUNT_MARGIN
            });
            let scan = &scan;
            async move {
                if late {
                    let why = "not begun: the invocation's deadline was too near".to_owned();
                    return (account, AccountScan::Failed(why));
                }
                let scanned = scan(account.clone(), is_own).await;
                (account, scanned)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    results.sort_by(|a, b| a.0.cmp(&b.0));
    for (account, scan) in &results {
        // Left out on purpose (MEMBER_ACCOUNTS): a run that acts elsewhere says so here.
        if let AccountScan::Outside(why) = scan {
            tracing::info!(account, why, "account not scanned: not acted in");
        }
    }
    if let Some(why) = unlisted {
        results.push(("organization".to_owned(), AccountScan::Failed(why)));
    }
    results
}

/// Where a daily organisation scan begins: the day of the year ([`each_account`]).
pub fn day_of_year(now: keyguard_core::Timestamp) -> usize {
    use chrono::Datelike;
    usize::try_from(now.ordinal()).unwrap_or_default()
}

/// IAM in `account` for a scan there: keyguard's own IAM in its own account, the member
/// role's elsewhere. A role that cannot be assumed is [`AccountScan::Unassumable`] (named
/// and alerted once, never retried); any other failure [`AccountScan::Failed`].
pub async fn scanning_iam(
    config: &aws_config::SdkConfig,
    own_iam: &Iam,
    (account, is_own): (&str, bool),
    role_name: &str,
    function: &str,
) -> Result<Iam, AccountScan> {
    if is_own {
        return Ok(own_iam.clone());
    }
    iam_in(config, account, role_name, function)
        .await
        .map_err(|e| match is_unassumable(&e) {
            true => AccountScan::Unassumable(e.to_string()),
            false => AccountScan::Failed(e.to_string()),
        })
}

/// The accounts of `results` the member role cannot be assumed in, with why.
pub fn unassumable(results: &[(String, AccountScan)]) -> Vec<(String, String)> {
    results
        .iter()
        .filter_map(|(account, r)| match r {
            AccountScan::Unassumable(why) => Some((account.clone(), why.clone())),
            _ => None,
        })
        .collect()
}
