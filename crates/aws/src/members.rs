//! Organisation mode's way into a member account: whether the organisation has it
//! (`organizations:DescribeAccount`; an ACTIVE answer kept 15 minutes, a refusal not
//! kept), whose account a key is (`sts:GetAccessKeyInfo`), and the member role assumed
//! there (`sts:AssumeRole`), its session kept while at least 16 minutes of it are left.

use crate::accounts::KeyOwners;
use crate::trail::Trail;
use crate::{Exemptions, Iam};
use keyguard_core::organization::{self, session_name, Membership, Organization};
use keyguard_core::policy::containment;
use keyguard_core::{AccountId, Action, EffectError, ErrorKind, Plan, Report};
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

    /// The members of a containing function, when its guard is in organisation mode:
    /// each member's IAM reads keyguard's record of who set exemption tags there. It
    /// needs keyguard's own account to tell members from home; without it the guard
    /// refuses every credential (it cannot tell whose it is).
    pub fn configured(
        sdk: &aws_config::SdkConfig,
        guard: &keyguard_core::guard::Guard,
        function: &str,
        ledger: &crate::DynamoLedger,
    ) -> Option<std::sync::Arc<Self>> {
        let org = guard.organization.clone()?;
        let home = guard.me.account.clone()?;
        let exemptions = Exemptions::new(ledger, Some(home.clone()));
        Some(std::sync::Arc::new(
            Self::new(sdk, org, home, function).with_exemptions(exemptions),
        ))
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

    /// The account an access key belongs to, as STS says ([`KeyOwners`]).
    pub async fn key_account(&self, key_id: &str) -> Result<AccountId, EffectError> {
        KeyOwners::new(&self.sdk).account_of(key_id).await
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

/// Where a credential is read and acted on in organisation mode.
pub enum Reach {
    Home,
    Member(Iam),
    Outside(String),
}

impl Members {
    /// The credential's account, as the organisation has it and as STS says the key's
    /// is: an event that names one account for a key of another (a GuardDuty finding's
    /// remote account, a forged custom event) acts in neither.
    pub async fn reach(
        &self,
        credential: &containment::Credential,
        event: &str,
    ) -> Result<Reach, EffectError> {
        let Some(scope) = &credential.scope else {
            return Ok(Reach::Outside(
                "the event names no account for the credential".into(),
            ));
        };
        if let Some(key_id) = credential.subject.key_id() {
            let owner = self.key_account(key_id.as_str()).await?;
            if let Some(why) = organization::key_elsewhere(&scope.account, key_id, &owner) {
                return Ok(Reach::Outside(why));
            }
        }
        Ok(match self.membership(&scope.account).await? {
            Membership::Home => Reach::Home,
            Membership::Member => Reach::Member(self.iam_in(&scope.account, Some(event)).await?),
            Membership::Outside(why) => Reach::Outside(why),
        })
    }

    /// The member account whose keys the plan's sweep reads, with its CloudTrail and IAM
    /// as the member role; `None` when the sweep reads keyguard's own (or there is none).
    /// An event names one account: every credential of it is that account's.
    pub async fn swept(
        &self,
        plan: &Plan,
        regions: &[String],
    ) -> Result<Option<(Trail, Iam)>, EffectError> {
        let mut accounts = plan
            .steps
            .iter()
            .filter_map(|s| match (&s.action, &s.scope) {
                (Action::SweepHistory { .. }, Some(scope)) => Some(&scope.account),
                _ => None,
            });
        let Some(account) = accounts.next() else {
            return Ok(None);
        };
        // One reader serves the whole sweep: a plan sweeping keys of two accounts would
        // read one of them in the wrong one.
        if let Some(other) = accounts.find(|a| *a != account) {
            return Err(EffectError::new(
                ErrorKind::Other,
                None,
                format!("the plan sweeps keys of accounts {account} and {other}: one at a time"),
            ));
        }
        if account == self.home() {
            return Ok(None);
        }
        let event = plan.event_id.as_deref();
        let sdk = self.sdk_in(account, event).await?;
        Ok(Some((
            Trail::new(&sdk, regions),
            self.iam_in(account, event).await?,
        )))
    }
}

/// One credential's facts, read in its own account: keyguard's through `home`, a
/// member's (organisation mode) through the member role, and one the organisation does
/// not have read not at all (`Facts::outside`).
pub async fn gather_in_account(
    members: Option<&Members>,
    (home, owners): (&Iam, &KeyOwners),
    (credential, lookup): (&containment::Credential, &containment::Lookup),
    event: &str,
    cfg: &containment::ContainmentConfig,
) -> Result<containment::Facts, EffectError> {
    let outside = |why| containment::Facts {
        outside: Some(why),
        ..Default::default()
    };
    // An event that names two accounts for the credential (a finding's remote caller) is
    // read only where STS says the key is, and only if keyguard may act there.
    let key_account = match credential.key_to_ask(lookup) {
        Some(key_id) => Some(owners.account_of(key_id.as_str()).await?),
        None => None,
    };
    let credential = match credential.to_read(key_account.as_ref(), &cfg.guard) {
        Ok(c) => c,
        Err(nowhere) => return Ok(*nowhere),
    };
    let credential = &*credential;
    let member = match members {
        Some(members) if *lookup != containment::Lookup::Nothing => {
            match members.reach(credential, event).await? {
                Reach::Home => None,
                Reach::Member(iam) => Some(iam),
                Reach::Outside(why) => return Ok(outside(why)),
            }
        }
        _ => None,
    };
    let iam = member.as_ref().unwrap_or(home);
    let facts = containment::gather(lookup, iam, cfg.recheck, cfg.reads()).await?;
    Ok(containment::Facts {
        key_account,
        ..facts
    })
}

/// The plan applied, then the sweep of what each contained key did, in the account the
/// key lives in (`containment::trail::apply_and_sweep`). A member that cannot be reached
/// for the sweep holds the sweep back and fails the run, so the retry takes both.
#[allow(clippy::too_many_arguments)]
pub async fn apply_and_sweep_where<E, L, P>(
    apply: &keyguard_core::pipeline::Executor<'_, E, L>,
    policy: &P,
    mut plan: Plan,
    cfg: &containment::ContainmentConfig,
    home: (&Trail, &Iam),
    members: Option<&Members>,
    function: &str,
    now: keyguard_core::Timestamp,
) -> Report
where
    E: keyguard_core::Effects + Sync,
    L: keyguard_core::effects::Ledger + Sync,
    P: keyguard_core::Policy,
{
    let member = match members {
        Some(m) => match m.swept(&plan, &cfg.sweep.regions).await {
            Ok(found) => found,
            Err(e) => {
                containment::trail::hold(&mut plan);
                return apply
                    .apply(policy, plan, now)
                    .await
                    .failed_also(format!("reaching the member account for the sweep: {e}"));
            }
        },
        None => None,
    };
    let (trail, iam) = match &member {
        Some((trail, iam)) => (trail, iam),
        None => home,
    };
    containment::trail::apply_and_sweep(apply, policy, plan, cfg, trail, iam, function, now).await
}
