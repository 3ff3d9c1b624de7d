//! CloudTrail's event history by access key (`LookupEvents`), within AWS's limits.
//!
//! - **Rate**: AWS allows two lookups per second per account and region. Each region's
//!   reader spaces its requests [`GAP`] apart, across every invocation of a warm
//!   instance; concurrent instances may still meet a `ThrottlingException`, which the
//!   SDK's standard retries absorb.
//! - **Regions**: IAM's events are recorded in us-east-1, STS's and most others' in the
//!   region they were called in, so us-east-1 is read first, then the function's own
//!   region when it is another. Every other region of `LOOKBACK_REGIONS` is read beside
//!   them, at once (each has its own rate), at most [`OTHER_PAGES`] pages each and within
//!   the same [`BUDGET`]: a session or
//!   federation token minted through a regional STS endpoint is only there. A region
//!   that refuses (not enabled, or denied by an SCP) is named as not read, and does not
//!   fail the sweep.
//! - **Cap**: at most [`MAX_PAGES`] pages of 50 events per key over all regions, and no
//!   page begun after [`BUDGET`] ([`CREATE_BUDGET`] for the pass below); a history longer than that is reported as incomplete,
//!   never as all there was. Then, so that a flood of cheap calls cannot hide a key the
//!   credential created, every `CreateAccessKey` of the lookback in IAM's region is read
//!   by event name (at most [`MAX_CREATE_PAGES`] pages) and kept when this key signed it.
//! - **Retries**: standard, five attempts: another instance's lookups share the
//!   account's rate, and a throttled request waits and tries again rather than failing
//!   the sweep at once. (Adaptive retries were tried: after one throttle they held the
//!   next requests back for many seconds, past the sweep's time budget.)

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
/// Pages read per key by access key, over all regions.
pub const MAX_PAGES: usize = 8;
/// Pages read per key in each region besides IAM's and the function's own.
pub const OTHER_PAGES: usize = 2;
/// Pages of `CreateAccessKey` events read when the history was cut short.
pub const MAX_CREATE_PAGES: usize = 4;
/// No page by access key is begun once the sweep of one key has run this long, and no
/// `CreateAccessKey` page after [`CREATE_BUDGET`]: with the SDK's retries, a slow or
/// throttled `LookupEvents` cannot take the invocation's timeout (3 keys, 17 s each at
/// worst: [`worst_case`], counted in each sweeping function's worst case).
pub const BUDGET: Duration = Duration::from_secs(8);
pub const CREATE_BUDGET: Duration = Duration::from_secs(12);
/// One `LookupEvents` request, all its attempts together: a page begun by the budget
/// ends by the budget plus this, so one key's sweep ends within [`CREATE_BUDGET`] plus
/// this (17 s).
pub const CALL_LIMIT: Duration = Duration::from_secs(5);

/// The longest the sweeps of `keys` keys take, one after another, every budget spent:
/// part of each sweeping function's worst case, which must fit its timeout.
pub fn worst_case(keys: usize) -> Duration {
    // A page begun just inside the budget may first wait out the region's pace.
    (CREATE_BUDGET + GAP + CALL_LIMIT) * u32::try_from(keys).unwrap_or(u32::MAX)
}

/// The longest one invocation of a containing function (deactivate-key, the translator)
/// can take, every budget spent: its own calls (`calls`, an allowance: they carry the
/// SDK's retries but no operation timeout), the sweep of every key it may sweep, one
/// after another, and the Security Hub finding (the read and update that may resolve it,
/// then the import). It must fit the function's timeout with a margin, or Lambda ends the
/// invocation before the finding that says what happened (a test in each function
/// checks it against the template).
pub fn containing_worst_case(
    calls: Duration,
    sweep: &keyguard_core::policy::containment::trail::SweepConfig,
    security_hub: bool,
) -> Duration {
    let swept = if sweep.lookback_hours > 0 {
        worst_case(keyguard_core::policy::containment::trail::MAX_SWEPT_KEYS)
    } else {
        Duration::ZERO
    };
    let finding = if security_hub {
        crate::security_hub::FINDING_BUDGET
    } else {
        Duration::ZERO
    };
    calls + swept + finding
}
/// What AWS answers in a region keyguard may not read: an opt-in region the account has
/// not enabled (its token is not valid there), or one an SCP denies. Any other error
/// (throttled past the retries, a timeout, a 5xx) fails the sweep, so the retry reads
/// again: a region skipped for a passing fault would lose its events for good.
const REFUSED: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "OptInRequired",
    "AccessDeniedException",
    "AccessDenied",
];
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
    /// IAM's region, then the function's own: read in turn, within the cap.
    regions: Vec<Regional>,
    /// The other regions of `LOOKBACK_REGIONS`: read at once, a few pages each.
    others: Vec<Regional>,
}

fn regional(sdk: &aws_config::SdkConfig, region: String) -> Regional {
    let conf = aws_sdk_cloudtrail::config::Builder::from(sdk)
        .region(aws_sdk_cloudtrail::config::Region::new(region.clone()))
        .retry_config(aws_smithy_types::retry::RetryConfig::standard().with_max_attempts(5))
        .timeout_config(
            aws_smithy_types::timeout::TimeoutConfig::builder()
                .operation_timeout(CALL_LIMIT)
                .build(),
        )
        .build();
    Regional {
        client: aws_sdk_cloudtrail::Client::from_conf(conf),
        region,
        last: Mutex::new(None),
    }
}

impl Trail {
    /// `others`: the regions read besides IAM's and the function's own
    /// (`SweepConfig::regions`).
    pub fn new(sdk: &aws_config::SdkConfig, others: &[String]) -> Self {
        let home = sdk
            .region()
            .map_or_else(|| IAM_REGION.to_owned(), |r| r.as_ref().to_owned());
        let mut names = vec![IAM_REGION.to_owned()];
        if home != IAM_REGION {
            names.push(home);
        }
        let rest: Vec<String> = others
            .iter()
            .filter(|r| !names.contains(r))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        Self {
            regions: names.into_iter().map(|r| regional(sdk, r)).collect(),
            others: rest.into_iter().map(|r| regional(sdk, r)).collect(),
        }
    }
}

fn invalid(e: impl std::fmt::Display) -> EffectError {
    EffectError::new(
        keyguard_core::effects::ErrorKind::Other,
        None,
        e.to_string(),
    )
}

/// One lookup: the attribute, the time range, and where pages stop.
struct Lookup<'a> {
    attribute: LookupAttribute,
    start: aws_smithy_types::DateTime,
    end: aws_smithy_types::DateTime,
    started: Instant,
    /// No page is begun after this long since `started`.
    budget: Duration,
    /// Keep only events this key signed (a lookup by event name returns everyone's).
    signed_by: Option<&'a str>,
}

impl Regional {
    /// Pages of one lookup into `out`, at most `pages`; `Ok(true)` when it read them all.
    async fn read(
        &self,
        q: &Lookup<'_>,
        pages: &mut usize,
        seen: &mut std::collections::BTreeSet<String>,
        out: &mut Vec<serde_json::Value>,
    ) -> Result<bool, EffectError> {
        let mut token: Option<String> = None;
        loop {
            if *pages == 0 || q.started.elapsed() >= q.budget {
                return Ok(false);
            }
            self.pace().await;
            let page = self
                .client
                .lookup_events()
                .lookup_attributes(q.attribute.clone())
                .start_time(q.start)
                .end_time(q.end)
                .max_results(PAGE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| effect_error(&e))?;
            *pages -= 1;
            for event in page.events() {
                if event
                    .event_id()
                    .is_some_and(|id| !seen.insert(id.to_owned()))
                {
                    continue;
                }
                // A document that is not JSON is kept as null: the sweep counts it as
                // unreadable rather than dropping it unsaid.
                let doc = event
                    .cloud_trail_event()
                    .and_then(|doc| serde_json::from_str::<serde_json::Value>(doc).ok())
                    .unwrap_or(serde_json::Value::Null);
                let signer = doc["userIdentity"]["accessKeyId"].as_str();
                if q.signed_by.is_none_or(|k| signer == Some(k)) {
                    out.push(doc);
                }
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(true),
            }
        }
    }
}

impl TrailReader for Trail {
    async fn key_events(
        &self,
        key_id: &AccessKeyId,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Lookback, EffectError> {
        let attribute = |key, value: &str| {
            LookupAttribute::builder()
                .attribute_key(key)
                .attribute_value(value)
                .build()
                .map_err(invalid)
        };
        let by_key = Lookup {
            attribute: attribute(LookupAttributeKey::AccessKeyId, key_id.as_str())?,
            start: aws_smithy_types::DateTime::from_secs(since.timestamp()),
            end: aws_smithy_types::DateTime::from_secs(until.timestamp() + 1),
            started: Instant::now(),
            budget: BUDGET,
            signed_by: None,
        };
        // IAM's region and the function's own in turn, the other regions at once beside
        // them (each its own rate and pages): all within the key's one budget, so the
        // invocation's bound is what it was with two regions.
        let main = async {
            let mut out = Lookback::default();
            let mut seen = std::collections::BTreeSet::new();
            let mut pages = MAX_PAGES;
            for r in &self.regions {
                if pages == 0 || by_key.started.elapsed() >= BUDGET {
                    out.unread_regions.push(r.region.clone());
                    out.truncated = true;
                    continue;
                }
                out.regions.push(r.region.clone());
                if !r
                    .read(&by_key, &mut pages, &mut seen, &mut out.events)
                    .await?
                {
                    out.truncated = true;
                }
            }
            // As soon as IAM's history is cut short, not after the other regions: its
            // budget runs from the same start.
            if out.truncated {
                // The regions are in order: IAM's first.
                if let Some(iam) = self.regions.first() {
                    let created = Lookup {
                        attribute: attribute(LookupAttributeKey::EventName, "CreateAccessKey")?,
                        budget: CREATE_BUDGET,
                        signed_by: Some(key_id.as_str()),
                        ..by_key
                    };
                    let mut pages = MAX_CREATE_PAGES;
                    out.created_complete = iam
                        .read(&created, &mut pages, &mut seen, &mut out.events)
                        .await?;
                }
            }
            Ok::<_, EffectError>((out, seen))
        };
        let others = futures::future::join_all(self.others.iter().map(|r| {
            let by_key = &by_key;
            async move {
                let mut pages = OTHER_PAGES;
                let mut seen = std::collections::BTreeSet::new();
                let mut events = Vec::new();
                let read = r.read(by_key, &mut pages, &mut seen, &mut events).await;
                (r.region.clone(), read, events)
            }
        }));
        let (main, others) = futures::future::join(main, others).await;
        let (mut out, mut seen) = main?;
        let truncated_main = out.truncated;
        for (region, read, events) in others {
            match read {
                Ok(complete) => {
                    out.regions.push(region);
                    out.truncated |= !complete;
                }
                Err(e) if e.code.as_deref().is_some_and(|c| REFUSED.contains(&c)) => {
                    let code = e.code.unwrap_or_default();
                    out.unread_regions.push(format!("{region} ({code})"));
                }
                Err(e) => {
                    return Err(EffectError::new(
                        e.kind,
                        e.code.as_deref(),
                        format!("reading {region}'s event history: {}", e.message),
                    ))
                }
            }
            for doc in events {
                let id = doc["eventID"].as_str().map(str::to_owned);
                if id.is_none_or(|id| seen.insert(id)) {
                    out.events.push(doc);
                }
            }
        }
        // The created-keys pass reads IAM's region, whose history is whole unless the
        // main read was cut short: another region's cut says nothing about it.
        if !truncated_main {
            out.created_complete = true;
        }
        Ok(out)
    }
}
