//! What `keyguard audit` and `keyguard undo` share: an async runtime, and the ledger and
//! SDK configuration the environment names, as the functions read them (`LEDGER_TABLE`,
//! `AWS_PROFILE`, `AWS_ENDPOINT_URL`, ...).

use crate::InputError;
use keyguard_aws::ledger::DynamoLedger;
use keyguard_core::config::Common;

pub fn runtime() -> Result<tokio::runtime::Runtime, InputError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| InputError(format!("cannot start the async runtime: {e}")))
}

pub struct Opened {
    pub sdk: keyguard_aws::SdkConfig,
    pub common: Common,
    pub ledger: DynamoLedger,
}

pub async fn open() -> Result<Opened, InputError> {
    let common = Common::from_env(&|k: &str| std::env::var(k).ok())
        .map_err(|e| InputError(e.to_string()))?;
    let sdk = keyguard_aws::load_config().await;
    let ledger = DynamoLedger::configured(&sdk, &common);
    Ok(Opened {
        sdk,
        common,
        ledger,
    })
}
