//! What age-rotation reads from IAM: the credential report (one call for the whole
//! account), then keys and tags only for the users it points at; or, when no report can
//! be had, every user page by page.
//!
//! API calls: `GenerateCredentialReport` (polled) + `GetCredentialReport`, then per
//! candidate one `ListAccessKeys` and one `ListUserTags`. Users with no key old enough
//! cost nothing beyond their row in the report.

use crate::error::effect_error;
use crate::keys::timestamp;
use crate::Iam;
use aws_sdk_iam::types::ReportStateType;
use keyguard_core::policy::age::{KeyAge, Person, Unread};
use keyguard_core::policy::containment::IamReader;
use keyguard_core::{EffectError, ErrorKind, Principal, UserName};
use std::time::Duration;

impl Iam {
    /// The report's CSV, generated if needed, waiting at most `max_wait` (polled after
    /// 0.25 s, 0.5 s, 1 s, then every 2 s).
    pub async fn credential_report(&self, max_wait: Duration) -> Result<Vec<u8>, EffectError> {
        let started = std::time::Instant::now();
        // Short waits first (a small account's report is ready at once), then every 2 s.
        let mut pause = Duration::from_millis(250);
        loop {
            let state = self
                .client
                .generate_credential_report()
                .send()
                .await
                .map_err(|e| effect_error(&e))?;
            if state.state() == Some(&ReportStateType::Complete) {
                break;
            }
            if started.elapsed() >= max_wait {
                return Err(EffectError::new(
                    ErrorKind::Other,
                    Some("ReportNotReady"),
                    format!("the credential report was not ready after {max_wait:?}"),
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
        let out = self
            .client
            .get_credential_report()
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(out
            .content()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default())
    }

    /// Keys and tags of these users, a few at a time ([`crate::users::read_each`]): a
    /// user deleted meanwhile is skipped, one that cannot be read is set apart.
    /// `each` is called as each user's read ends (a progress bar).
    pub async fn people_watched(
        &self,
        names: &[String],
        each: &(dyn Fn() + Sync),
    ) -> (Vec<Person>, Vec<Unread>) {
        crate::users::read_each(names, |name| async move {
            let person = self.person(name).await;
            each();
            person
        })
        .await
    }

    async fn person(&self, name: &str) -> Result<Option<Person>, EffectError> {
        let Ok(user) = UserName::parse(name) else {
            return Ok(None);
        };
        let Some(listed) = self.access_keys(name).await? else {
            return Ok(None);
        };
        let keys = listed
            .iter()
            .filter_map(|m| {
                Some(KeyAge {
                    key_id: m.access_key_id()?.to_owned(),
                    status: crate::iam::status_of(m),
                    created: timestamp(m.create_date())?,
                    deactivated_at: None,
                    contained_at: None,
                })
            })
            .collect();
        let Some(tags) = self.tags(&Principal::User(user)).await? else {
            return Ok(None);
        };
        Ok(Some(Person {
            user: name.to_owned(),
            tags,
            keys,
        }))
    }
}
