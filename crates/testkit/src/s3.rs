//! A folder of files put into a fresh bucket of moto's S3, under the same keys: what
//! `keyguard replay s3://` reads in its tests and in the bench.

use std::path::Path;

/// Every file under `root` into a new bucket (named from `prefix`), keys relative to
/// `root`; the bucket's name. On a thread and runtime of its own, so a test or the
/// bench's `main` (itself a runtime) can call it alike.
pub fn upload_tree(endpoint: &str, root: &Path, prefix: &str) -> String {
    use futures::StreamExt;
    let bucket = super::unique(prefix).to_lowercase().replace('_', "-");
    let mut keys = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("read the folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let key = path.strip_prefix(root).expect("under the root");
                keys.push(key.to_string_lossy().into_owned());
            }
        }
    }
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .endpoint_url(endpoint)
                    .app_name(aws_config::AppName::new("keyguard-fixture").expect("a name"))
                    .load()
                    .await;
                let client = aws_sdk_s3::Client::from_conf(
                    aws_sdk_s3::config::Builder::from(&shared)
                        .force_path_style(true)
                        .build(),
                );
                client
                    .create_bucket()
                    .bucket(&bucket)
                    .send()
                    .await
                    .expect("CreateBucket");
                futures::stream::iter(&keys)
                    .for_each_concurrent(8, |key| {
                        let (client, bucket) = (&client, &bucket);
                        async move {
                            let body =
                                aws_sdk_s3::primitives::ByteStream::from_path(root.join(key))
                                    .await
                                    .expect("read the file");
                            client
                                .put_object()
                                .bucket(bucket)
                                .key(key)
                                .body(body)
                                .send()
                                .await
                                .expect("PutObject");
                        }
                    })
                    .await;
            });
        });
    });
    bucket
}
