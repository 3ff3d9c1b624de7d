//! Organisation mode's way into a member account: whether the organisation has it
//! (`organizations:DescribeAccount`; an ACTIVE answer kept 15 minutes, a refusal not
//! kept), whose account a key is (`sts:GetAccessKeyInfo`), and the member role assumed
//! there (`sts:AssumeRole`), its session kept while at least 16 minutes of it are left.

use crate::error::effect_error;
use crate::{Exemptions, Iam};
use keyguard_core::organization::{session_name, Membership, Organization};
use keyguard_core::{AccountId, EffectError, ErrorKind};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// A session is not reused when less than this is left of it: a Lambda invocation
/// lasts at most 15 minutes, so no call of a run outlives the credentials it began with.
const SESSION_MARGIN: Duration = Duration::from_secs(16 * 60);

/// How long an account's membership is believed: an account that leaves the organisation
/// is not acted in for more than this after. A refusal is not kept at all, so that a new
/// member (or a transient answer) is asked again at the next event.
const MEMBERSHIP_TTL: Duration = Duration::from_secs(15 * 60);

pub struct Members {
    sdk: aws_config::SdkConfig,
    org: Organization,
    home: AccountId,
    function: String,
    exemptions: Option<Exemptions>,
    known: Mutex<HashMap<AccountId, SystemTime>>,
    sessions: Mutex<HashMap<AccountId, (aws_config::SdkConfig, SystemTime)>>,
}

impl Members {
    pub fn new(
        sdk: &aws_config::SdkConfig,
        org: Organization,
        home: AccountId,
        function: &str,
    ) -> Self {
        Self {
            sdk: sdk.clone(),
            org,
            home,
            function: function.to_owned(),
            exemptions: None,
            known: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// A member's IAM reads keyguard's record of who set exemption tags in that account.
    pub fn with_exemptions(mut self, exemptions: Exemptions) -> Self {
        self.exemptions = Some(exemptions);
        self
    }

    pub fn home(&self) -> &AccountId {
        &self.home
    }

    /// What the organisation says of `account`. An error (Organizations unreachable,
    /// throttled, not allowed) is a failure to retry, never an answer.
    pub async fn membership(&self, account: &AccountId) -> Result<Membership, EffectError> {
        if account == &self.home {
            return Ok(Membership::Home);
        }
        if let Some(why) = self.org.refuses(account) {
            return Ok(Membership::Outside(why));
        }
        let now = SystemTime::now();
        let fresh = self
            .known
            .lock()
            .ok()
            .and_then(|k| k.get(account).copied())
            .is_some_and(|until| until > now);
        if fresh {
            return Ok(Membership::Member);
        }
        let found = match crate::accounts::is_active(&self.sdk, account).await {
            Ok(Ok(())) => Membership::Member,
            Ok(Err(why)) => Membership::Outside(why),
            Err(e) => {
                return Err(EffectError {
                    message: format!("organizations:DescribeAccount {account}: {}", e.message),
                    ..e
                })
            }
        };
        if found == Membership::Member {
            if let Ok(mut known) = self.known.lock() {
                known.insert(account.clone(), now + MEMBERSHIP_TTL);
            }
        }
        Ok(found)
    }

    /// The account an access key belongs to, as STS says (`sts:GetAccessKeyInfo`, which
    /// any principal may ask about any key): what an event says of a key's account is
    /// checked against it before keyguard acts there.
    pub async fn key_account(&self, key_id: &str) -> Result<AccountId, EffectError> {
        let out = aws_sdk_sts::Client::new(&self.sdk)
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

    /// The SDK configuration acting in `account` as the member role. `event` names the
    /// session (with the function) when it is made; a session is reused while it lasts.
    pub async fn sdk_in(
        &self,
        account: &AccountId,
        event: Option<&str>,
    ) -> Result<aws_config::SdkConfig, EffectError> {
        let now = SystemTime::now();
        if let Some((sdk, _)) = self.sessions.lock().ok().and_then(|s| {
            s.get(account)
                .filter(|(_, until)| *until > now + SESSION_MARGIN)
                .cloned()
        }) {
            return Ok(sdk);
        }
        let arn = self.org.role_arn(account);
        let session = session_name(&self.function, event.unwrap_or(""));
        let (sdk, until) = crate::accounts::assumed(&self.sdk, &arn, &session).await?;
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.insert(account.clone(), (sdk.clone(), until));
        }
        Ok(sdk)
    }

    /// IAM in `account` as the member role.
    pub async fn iam_in(
        &self,
        account: &AccountId,
        event: Option<&str>,
    ) -> Result<Iam, EffectError> {
        let sdk = self.sdk_in(account, event).await?;
        let iam = Iam::new(&sdk);
        Ok(match &self.exemptions {
            Some(e) => iam.with_exemptions(e.in_account(account)),
            None => iam,
        })
    }
}
