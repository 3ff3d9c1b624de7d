//! The Lambda entry point: cold start once, then one report per event.

use createkey_detector::App;
use keyguard_core::policy::detector::FUNCTION;

#[tokio::main]
async fn main() -> Result<(), keyguard_aws::lambda::Error> {
    keyguard_aws::lambda::run::<App>(FUNCTION).await
}
