//! The Lambda entry point: cold start once, then one report per event.

use keyguard_core::policy::rotation::FUNCTION;
use secrets_rotator::App;

#[tokio::main]
async fn main() -> Result<(), keyguard_aws::lambda::Error> {
    keyguard_aws::lambda::run::<App>(FUNCTION).await
}
