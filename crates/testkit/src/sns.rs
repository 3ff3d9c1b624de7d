//! SNS fixtures: a topic of the test's own for the notices a function publishes (read back
//! with [`crate::moto::Moto::published`]).

/// A new topic named `prefix-<unique>`; its ARN.
pub async fn topic(sns: &aws_sdk_sns::Client, prefix: &str) -> String {
    let created = sns
        .create_topic()
        .name(crate::unique(prefix))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTopic {prefix}: {e:?}"));
    created
        .topic_arn
        .unwrap_or_else(|| panic!("CreateTopic {prefix} returned no ARN"))
}
