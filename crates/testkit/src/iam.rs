//! IAM fixtures for tests against moto: users, keys, and their statuses.

use std::collections::BTreeMap;

/// A new user with these tags; returns its name (unique in this process).
pub async fn user(iam: &aws_sdk_iam::Client, tags: &[(&str, &str)]) -> String {
    let name = super::unique("user");
    user_named(iam, &name, tags).await;
    name
}

/// A new user of this name (one another account may have too) with these tags.
pub async fn user_named(iam: &aws_sdk_iam::Client, name: &str, tags: &[(&str, &str)]) {
    let mut req = iam.create_user().user_name(name);
    for (k, v) in tags {
        let tag = aws_sdk_iam::types::Tag::builder()
            .key(*k)
            .value(*v)
            .build()
            .expect("a tag has a key and a value");
        req = req.tags(tag);
    }
    req.send().await.expect("CreateUser");
}

/// A new key for the user: (id, secret).
pub async fn key(iam: &aws_sdk_iam::Client, user: &str) -> (String, String) {
    let out = iam
        .create_access_key()
        .user_name(user)
        .send()
        .await
        .expect("CreateAccessKey");
    let key = out.access_key().expect("a new key");
    (
        key.access_key_id().to_owned(),
        key.secret_access_key().to_owned(),
    )
}

/// One request signed with this key (`GetUser` on its own user), so IAM records it as
/// used now, as any use of a leaked key would.
pub async fn use_key(iam: &aws_sdk_iam::Client, key_id: &str, secret: &str) {
    let credentials = aws_sdk_iam::config::Credentials::new(key_id, secret, None, None, "test");
    let config = iam
        .config()
        .to_builder()
        .credentials_provider(credentials)
        .build();
    aws_sdk_iam::Client::from_conf(config)
        .get_user()
        .send()
        .await
        .expect("GetUser signed with the key");
}

/// A user with two Active keys: (user, first key, second key).
pub async fn user_with_two_keys(
    iam: &aws_sdk_iam::Client,
    tags: &[(&str, &str)],
) -> (String, String, String) {
    let name = user(iam, tags).await;
    let (first, _) = key(iam, &name).await;
    let (second, _) = key(iam, &name).await;
    (name, first, second)
}

/// The user's keys and their statuses.
pub async fn statuses(iam: &aws_sdk_iam::Client, user: &str) -> BTreeMap<String, String> {
    let out = iam
        .list_access_keys()
        .user_name(user)
        .send()
        .await
        .expect("ListAccessKeys");
    out.access_key_metadata()
        .iter()
        .filter_map(|m| {
            Some((
                m.access_key_id()?.to_owned(),
                m.status()?.as_str().to_owned(),
            ))
        })
        .collect()
}
