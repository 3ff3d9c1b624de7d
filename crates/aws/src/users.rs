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
    let results = stream::iter(names)
        .map(|name| {
            let fut = read(name.as_str());
            async move { (name, fut.await) }
        })
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

impl Iam {
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
