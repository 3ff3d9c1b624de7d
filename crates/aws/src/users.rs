//! Reading many IAM users at once, for the scheduled scans (age-rotation, the secrets
//! sweep): every user's name when no credential report can be had, and a bounded fan-out
//! that sets apart a user whose reads fail instead of failing the whole scan.

use crate::error::effect_error;
use crate::Iam;
use keyguard_core::unread::Unread;
use keyguard_core::EffectError;
use std::future::Future;

/// Users read at once: enough to hide IAM's latency (about 1,000 users in a sweep's
/// 120 s at 100 ms a call), few enough to stay well under its request rate (the SDK
/// retries throttling anyway).
pub const READ_CONCURRENCY: usize = 8;

/// `read` for each name, `READ_CONCURRENCY` at a time, the order of `names` kept. `None`
/// (a user deleted meanwhile, a name that is not one) is skipped; an error (after the
/// SDK's retries) sets that user apart, named, and the others are still read.
pub async fn read_each<'a, T, F, Fut>(names: &'a [String], read: F) -> (Vec<T>, Vec<Unread>)
where
    F: Fn(&'a str) -> Fut,
    Fut: Future<Output = Result<Option<T>, EffectError>> + 'a,
{
    use futures::stream::{self, StreamExt};
    // The futures made first, then streamed: a stream over a closure on borrowed names
    // cannot be proven `Send` for every lifetime, and the pipeline's reads must be.
    let reads: Vec<_> = names
        .iter()
        .map(|name| {
            let fut = read(name.as_str());
            async move { (name, fut.await) }
        })
        .collect();
    let results = stream::iter(reads)
        .buffered(READ_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut read_ok = Vec::with_capacity(results.len());
    let mut unread = Vec::new();
    for (name, result) in results {
        match result {
            Ok(Some(item)) => read_ok.push(item),
            Ok(None) => {}
            Err(e) => unread.push(Unread {
                user: name.clone(),
                why: e.to_string(),
            }),
        }
    }
    (read_ok, unread)
}

/// Where a scan's user names came from, for the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    CredentialReport,
    EveryUser,
}

impl Iam {
    /// The users a scan needs: those `pick` chooses from the credential report's rows, or,
    /// when no report is ready within `wait` (or it does not parse), every user. The
    /// fallback is logged, with why, for `function`.
    pub async fn scan_names(
        &self,
        function: &str,
        wait: std::time::Duration,
        pick: impl FnOnce(&[keyguard_core::credential_report::ReportRow]) -> Vec<String>,
    ) -> Result<(Vec<String>, Source), EffectError> {
        use keyguard_core::credential_report;
        let from_report = match self.credential_report(wait).await {
            Ok(csv) => credential_report::parse(&csv)
                .map(|rows| pick(&rows))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match from_report {
            Ok(names) => Ok((names, Source::CredentialReport)),
            Err(why) => {
                tracing::warn!(function, %why, "no credential report: reading every user");
                Ok((self.user_names().await?, Source::EveryUser))
            }
        }
    }

    /// Every user's name, all pages: the fallback when the report cannot be had.
    pub async fn user_names(&self) -> Result<Vec<String>, EffectError> {
        let users = self
            .client
            .list_users()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(users.into_iter().map(|u| u.user_name).collect())
    }
}
