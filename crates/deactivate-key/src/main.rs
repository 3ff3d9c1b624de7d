//! The Lambda entry point: cold start once, then one report per event.

use deactivate_key::App;
use keyguard_core::policy::containment::FUNCTION;

#[tokio::main]
async fn main() -> Result<(), keyguard_aws::lambda::Error> {
    keyguard_aws::lambda::run::<App>(FUNCTION).await
}
