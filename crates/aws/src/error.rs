//! SDK errors as [`EffectError`]s that keep the service's error code.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use keyguard_core::{EffectError, ErrorKind};

/// Codes that mean "no such user, key or role".
const NOT_FOUND: &[&str] = &[
    "NoSuchEntity",
    "NoSuchEntityException",
    "ResourceNotFoundException",
];

pub fn effect_error<E, R>(err: &SdkError<E, R>) -> EffectError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let (code, message) = match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            (
                e.code().map(str::to_owned),
                e.message()
                    .map(str::to_owned)
                    .unwrap_or_else(|| e.to_string()),
            )
        }
        // Timeouts, connection failures, bad responses: no service code to keep.
        other => (
            None,
            aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
        ),
    };
    let kind = match code.as_deref() {
        Some(c) if NOT_FOUND.contains(&c) => ErrorKind::NotFound,
        _ => ErrorKind::Other,
    };
    EffectError {
        kind,
        code,
        message,
    }
}
