//! SQS fixtures: a queue of the test's own (age-rotation's account fan-out).

/// A new queue named `name`; its URL.
pub async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    let created = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateQueue {name}: {e:?}"));
    created
        .queue_url
        .unwrap_or_else(|| panic!("CreateQueue {name} returned no URL"))
}
