//! `keyguard replay s3://BUCKET/PREFIX`: the log files a trail delivered to S3, listed
//! folder by folder so that the window ([`super::window`]) rules out whole accounts,
//! Regions and days before they are listed, and streamed into the same readers as local
//! files (each object inflated as its bytes arrive, never held whole).
//!
//! The SDK is async and the readers are threads: one small runtime drives the network,
//! and each reader blocks on its own object's next chunk. The number of objects open at
//! once is the number of readers (`--jobs`), which bounds both the GETs in flight and the
//! memory they hold.
//!
//! Calls and their permissions (the person's own credentials, from the usual chain):
//! `HeadBucket` and `ListObjectsV2` (`s3:ListBucket`), `GetObject` (`s3:GetObject`).

use super::window::{day_of, Folder, Window};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use futures::StreamExt;
use std::io::Read;
use std::sync::Arc;

/// Folders listed at once. ListObjectsV2 answers at most 1,000 keys a page; a history is
/// many small folders (one per account, Region and day), so their listings overlap.
const LISTS_IN_FLIGHT: usize = 16;

/// Where `s3://BUCKET/PREFIX` points. The prefix is a folder: `s3://b/trail` reads
/// `trail/…`, not `trail-old/…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub bucket: String,
    pub prefix: String,
}

/// `Some` for an `s3://` input (parsed, or why it is not a place in S3), `None` for a
/// local path.
pub fn parse_url(raw: &str) -> Option<Result<Url, String>> {
    let rest = raw.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    // S3's bucket naming rules, with the older ones of us-east-1 (capitals and
    // underscores, up to 255), where an old trail's bucket may live: a typo fails here
    // rather than as a signing error.
    let named = (3..=255).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !named {
        return Some(Err(format!(
            "{raw}: {bucket:?} is not an S3 bucket name (letters, digits, dots, hyphens and underscores, 3 or more)"
        )));
    }
    let mut prefix = prefix.trim_start_matches('/').to_owned();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    Some(Ok(Url {
        bucket: bucket.to_owned(),
        prefix,
    }))
}

/// The network side of every `s3://` input of one replay.
pub struct S3 {
    runtime: Arc<tokio::runtime::Runtime>,
    config: aws_config::SdkConfig,
}

/// One bucket, with a client in the bucket's own Region.
pub struct Bucket {
    client: Client,
    name: String,
    /// Shared, so the network goes on serving the readers after the listing is done.
    runtime: Arc<tokio::runtime::Runtime>,
}

/// An object found by the listing.
pub struct Object {
    pub key: String,
    pub size: u64,
}

impl S3 {
    pub fn new() -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the S3 client: {e}"))?;
        let runtime = Arc::new(runtime);
        let config = runtime.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                // A bucket's own Region is asked for below; this one only signs the ask.
                .region(
                    aws_config::meta::region::RegionProviderChain::default_provider()
                        .or_else("us-east-1"),
                )
                .load(),
        );
        Ok(Self { runtime, config })
    }

    fn client(&self, region: Option<String>) -> Client {
        let mut builder = aws_sdk_s3::config::Builder::from(&self.config);
        // An endpoint of one's own (moto, MinIO, a VPC endpoint by address) serves
        // buckets by path: `bucket.host` names resolve only at AWS.
        if self.config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        {
            builder = builder.force_path_style(true);
        }
        if let Some(region) = region {
            builder = builder.region(aws_config::Region::new(region));
        }
        Client::from_conf(builder.build())
    }

    /// The bucket, reached in its own Region: S3 answers a request signed for another
    /// Region with a redirect, not the objects. `HeadBucket` names the Region whether or
    /// not it is allowed to answer more.
    pub fn bucket(&self, name: &str) -> Result<Bucket, String> {
        let client = self.client(None);
        let asked = self
            .runtime
            .block_on(client.head_bucket().bucket(name).send());
        let region = match asked {
            Ok(out) => out.bucket_region().map(str::to_owned),
            Err(e) => {
                let raw = e.raw_response();
                let region = raw
                    .and_then(|r| r.headers().get("x-amz-bucket-region"))
                    .map(str::to_owned);
                match (raw.map(|r| r.status().as_u16()), region) {
                    // Refused, but named: a policy may allow listing only the trail's
                    // prefix, which the listing itself will try.
                    (Some(301 | 400 | 403), Some(region)) => Some(region),
                    (Some(404), _) => return Err(format!("s3://{name}: no such bucket")),
                    (Some(403), _) => {
                        return Err(format!(
                            "s3://{name}: access denied (replay needs s3:ListBucket on the bucket, s3:GetObject on its logs, and kms:Decrypt when they are encrypted with a KMS key)"
                        ))
                    }
                    _ => {
                        return Err(format!(
                            "s3://{name}: cannot reach the bucket: {}",
                            DisplayErrorContext(&e)
                        ))
                    }
                }
            }
        };
        let here = self.config.region().map(|r| r.as_ref().to_owned());
        let client = match region {
            Some(r) if Some(&r) != here.as_ref() => self.client(Some(r)),
            _ => client,
        };
        Ok(Bucket {
            client,
            name: name.to_owned(),
            runtime: self.runtime.clone(),
        })
    }
}

/// What a survey of a bucket found: objects outside any day folder, and the day folders
/// (by day, `YYYYMMDD`) the window lets through, not yet listed.
pub struct Survey {
    pub undated: Vec<Object>,
    pub days: std::collections::BTreeMap<String, Vec<String>>,
}

impl Bucket {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The folders under `prefix`, listed level by level down to CloudTrail's day
    /// folders (a folder the window rules out is never listed, a day folder is kept for
    /// its turn). A folder that cannot be listed is passed to `skipped` with why, and the
    /// rest go on; a prefix under which nothing at all is found is an error, as a typo
    /// would be.
    pub fn survey(
        &self,
        prefix: &str,
        window: &Window,
        skipped: &mut dyn FnMut(String, String),
    ) -> Result<Survey, String> {
        let mut survey = Survey {
            undated: Vec::new(),
            days: Default::default(),
        };
        let mut folders = vec![prefix.to_owned()];
        let mut root = true;
        while !folders.is_empty() {
            for (folder, listed) in self.list_all(std::mem::take(&mut folders)) {
                let (subfolders, objects) = match listed {
                    Ok(listed) => listed,
                    Err(why) if root => {
                        return Err(format!(
                            "s3://{}/{folder}: cannot be listed: {why}",
                            self.name
                        ))
                    }
                    Err(why) => {
                        skipped(
                            format!("s3://{}/{folder}", self.name),
                            format!("could not be listed: {why}"),
                        );
                        continue;
                    }
                };
                if root && subfolders.is_empty() && objects.is_empty() {
                    return Err(format!(
                        "s3://{}/{folder}: nothing is stored under this prefix",
                        self.name
                    ));
                }
                for sub in subfolders {
                    if window.folder(&sub) == Folder::Skip {
                        continue;
                    }
                    match day_of(&sub) {
                        Some(day) => survey.days.entry(day).or_default().push(sub),
                        None => folders.push(sub),
                    }
                }
                survey
                    .undated
                    .extend(objects.into_iter().filter(|o| window.file(&o.key)));
            }
            root = false;
        }
        Ok(survey)
    }

    /// Every folder listed (pages and all), [`LISTS_IN_FLIGHT`] at a time.
    fn list_all(&self, folders: Vec<String>) -> Vec<(String, Listing)> {
        self.runtime.block_on(
            futures::stream::iter(folders)
                .map(|folder| async move {
                    let listed = self.list_folder(&folder).await;
                    (folder, listed)
                })
                .buffer_unordered(LISTS_IN_FLIGHT)
                .collect(),
        )
    }

    /// One folder's subfolders and objects, every page of them.
    async fn list_folder(&self, folder: &str) -> Listing {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.name)
            .prefix(folder)
            .delimiter("/")
            .into_paginator()
            .send();
        let (mut folders, mut objects) = (Vec::new(), Vec::new());
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| DisplayErrorContext(&e).to_string())?;
            folders.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix())
                    // Never the folder itself (S3 lists only longer prefixes; a store
                    // that did not would be listed for ever).
                    .filter(|p| *p != folder)
                    .map(str::to_owned),
            );
            objects.extend(page.contents().iter().filter_map(|o| {
                Some(Object {
                    key: o.key()?.to_owned(),
                    size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                })
            }));
        }
        Ok((folders, objects))
    }

    /// The object's bytes as they arrive. A body that breaks off part way is fetched
    /// again from where it broke (`Range`), up to [`BODY_ATTEMPTS`] times, so one reset
    /// connection does not leave a file half read.
    pub fn open(&self, key: &str, size: u64) -> std::io::Result<Box<dyn Read + '_>> {
        let stream = self.get(key, 0)?;
        Ok(Box::new(Body {
            bucket: self,
            key: key.to_owned(),
            size,
            stream,
            chunk: bytes::Bytes::new(),
            read: 0,
            attempts: 1,
        }))
    }

    fn get(&self, key: &str, from: u64) -> std::io::Result<ByteStream> {
        let mut get = self.client.get_object().bucket(&self.name).key(key);
        if from > 0 {
            get = get.range(format!("bytes={from}-"));
        }
        self.runtime
            .handle()
            .block_on(get.send())
            .map(|got| got.body)
            .map_err(|e| std::io::Error::other(DisplayErrorContext(&e).to_string()))
    }
}

type Listing = Result<(Vec<String>, Vec<Object>), String>;

/// A day's objects: its folders (across buckets) listed, without going below them
/// (CloudTrail writes nothing deeper), each object the window lets through.
pub fn day(
    folders: &[(Arc<Bucket>, String)],
    window: &Window,
    skipped: &mut dyn FnMut(String, String),
) -> Vec<(Arc<Bucket>, Object)> {
    let mut found = Vec::new();
    // One folder per account and Region; their listings overlap inside a bucket.
    let mut by_bucket: Vec<(&Arc<Bucket>, Vec<String>)> = Vec::new();
    for (bucket, folder) in folders {
        match by_bucket.iter_mut().find(|(b, _)| Arc::ptr_eq(b, bucket)) {
            Some((_, list)) => list.push(folder.clone()),
            None => by_bucket.push((bucket, vec![folder.clone()])),
        }
    }
    for (bucket, list) in by_bucket {
        for (folder, listed) in bucket.list_all(list) {
            match listed {
                Ok((_, objects)) => found.extend(
                    objects
                        .into_iter()
                        .filter(|o| window.file(&o.key))
                        .map(|o| (bucket.clone(), o)),
                ),
                Err(why) => skipped(
                    format!("s3://{}/{folder}", bucket.name),
                    format!("could not be listed: {why}"),
                ),
            }
        }
    }
    found
}

/// Fetches of one object, the first included, before a body that keeps breaking off is
/// named as not read whole.
const BODY_ATTEMPTS: u32 = 3;

/// A response body read as it streams in. A body that stops part way is an error here
/// once its re-fetches are spent (the SDK's stalled-stream protection ends a download
/// that sends nothing), so the file is named as not read whole, never taken as ending
/// early.
struct Body<'a> {
    bucket: &'a Bucket,
    key: String,
    size: u64,
    stream: ByteStream,
    chunk: bytes::Bytes,
    /// Bytes handed on so far: where a re-fetch starts.
    read: u64,
    attempts: u32,
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.bucket.runtime.handle().block_on(self.stream.next()) {
                Some(Ok(chunk)) => self.chunk = chunk,
                // Short of the listed size, the body broke off: the connection ended
                // cleanly but early.
                None if self.read < self.size && self.attempts < BODY_ATTEMPTS => {
                    self.refetch()?;
                }
                None => return Ok(0),
                Some(Err(_)) if self.attempts < BODY_ATTEMPTS => self.refetch()?,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        self.read += n as u64;
        Ok(n)
    }
}

impl Body<'_> {
    fn refetch(&mut self) -> std::io::Result<()> {
        self.attempts += 1;
        self.stream = self.bucket.get(&self.key, self.read)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_s3_url_names_a_bucket_and_a_folder() {
        assert_eq!(parse_url("/var/log/x.json"), None);
        let url = |raw: &str| parse_url(raw).unwrap();
        assert_eq!(
            url("s3://my-trail/org/AWSLogs").unwrap(),
            Url {
                bucket: "my-trail".into(),
                prefix: "org/AWSLogs/".into()
            }
        );
        assert_eq!(url("s3://my-trail").unwrap().prefix, "");
        assert_eq!(url("s3://my-trail/").unwrap().prefix, "");
        assert_eq!(url("s3://my-trail/a/").unwrap().prefix, "a/");
        assert_eq!(url("s3://Old_Trail/x").unwrap().bucket, "Old_Trail");
        for bad in [
            "s3://",
            "s3://ab",
            "s3://my trail/x",
            "s3://tr\u{1b}ail/x",
            "s3://-trail/x",
            "s3://trail-/",
        ] {
            let err = url(bad).unwrap_err();
            assert!(err.contains("not an S3 bucket name"), "{bad}: {err}");
        }
    }
}
