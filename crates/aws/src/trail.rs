//! CloudTrail's event history by access key (`LookupEvents`), within AWS's limits.
//!
//! - **Rate**: AWS allows two lookups per second per account and region. Each region's
//!   reader spaces its requests [`GAP`] apart, across every invocation of a warm
//!   instance; concurrent instances may still meet a `ThrottlingException`, which the
//!   SDK's standard retries absorb.
//! - **Regions**: IAM's events are recorded in us-east-1, STS's and most others' in the
//!   region they were called in, so us-east-1 is read first, then the function's own
//!   region when it is another.
//! - **Cap**: at most [`MAX_PAGES`] pages of 50 events per key over all regions (500
//!   events, about six seconds at the paced rate); a history longer than that is
//!   reported as incomplete, never as all there was.

use crate::error::effect_error;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use keyguard_core::policy::containment::trail::{Lookback, TrailReader};
use keyguard_core::{AccessKeyId, EffectError, Timestamp};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Requests of one region at least this far apart: under two per second with room for
/// the clocks' disagreement.
pub const GAP: Duration = Duration::from_millis(550);
/// Pages read per key, over all regions.
pub const MAX_PAGES: usize = 10;
/// `LookupEvents`' largest page.
const PAGE: i32 = 50;
/// Where IAM's (global) events are recorded.
const IAM_REGION: &str = "us-east-1";

struct Regional {
    region: String,
    client: aws_sdk_cloudtrail::Client,
    /// When the last request of this region was sent.
    last: Mutex<Option<Instant>>,
}

impl Regional {
    /// Waits until a request may go without passing the rate, and marks it sent.
    async fn pace(&self) {
        let mut last = self.last.lock().await;
        if let Some(at) = *last {
            tokio::time::sleep_until(at + GAP).await;
        }
        *last = Some(Instant::now());
    }
}

pub struct Trail {
    regions: Vec<Regional>,
}

impl Trail {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        let home = sdk
            .region()
            .map_or_else(|| IAM_REGION.to_owned(), |r| r.as_ref().to_owned());
        let mut names = vec![IAM_REGION.to_owned()];
        if home != IAM_REGION {
            names.push(home);
        }
        let regions = names
            .into_iter()
            .map(|region| {
                let conf = aws_sdk_cloudtrail::config::Builder::from(sdk)
                    .region(aws_sdk_cloudtrail::config::Region::new(region.clone()))
                    .build();
                Regional {
                    client: aws_sdk_cloudtrail::Client::from_conf(conf),
                    region,
                    last: Mutex::new(None),
                }
            })
            .collect();
        Self { regions }
    }
}

fn invalid(e: impl std::fmt::Display) -> EffectError {
    EffectError::new(
        keyguard_core::effects::ErrorKind::Other,
        None,
        e.to_string(),
    )
}

impl TrailReader for Trail {
    async fn key_events(
        &self,
        key_id: &AccessKeyId,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Lookback, EffectError> {
        let attribute = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::AccessKeyId)
            .attribute_value(key_id.as_str())
            .build()
            .map_err(invalid)?;
        let (start, end) = (
            aws_smithy_types::DateTime::from_secs(since.timestamp()),
            aws_smithy_types::DateTime::from_secs(until.timestamp() + 1),
        );
        let mut out = Lookback::default();
        let mut seen = std::collections::BTreeSet::new();
        let mut pages = 0;
        'regions: for r in &self.regions {
            out.regions.push(r.region.clone());
            let mut token: Option<String> = None;
            loop {
                if pages == MAX_PAGES {
                    out.truncated = true;
                    break 'regions;
                }
                r.pace().await;
                let page = r
                    .client
                    .lookup_events()
                    .lookup_attributes(attribute.clone())
                    .start_time(start)
                    .end_time(end)
                    .max_results(PAGE)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| effect_error(&e))?;
                pages += 1;
                for event in page.events() {
                    if event
                        .event_id()
                        .is_some_and(|id| !seen.insert(id.to_owned()))
                    {
                        continue;
                    }
                    // A document that is not JSON is kept as null: the sweep counts it
                    // as unreadable rather than dropping it unsaid.
                    out.events.push(
                        event
                            .cloud_trail_event()
                            .and_then(|doc| serde_json::from_str(doc).ok())
                            .unwrap_or(serde_json::Value::Null),
                    );
                }
                match page.next_token() {
                    Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                    _ => break,
                }
            }
        }
        Ok(out)
    }
}
