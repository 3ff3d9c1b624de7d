//! Untrusted bytes through the intake every function shares, then through each function's
//! first pure decision on them: containment's target, the translator's, the detector's
//! plan. Any panic is a finding; errors are the expected answer to most inputs.
#![no_main]

use keyguard_core::policy::containment::{self, ContainmentConfig, SelfIdentity};
use keyguard_core::policy::detector::{self, DetectorConfig};
use keyguard_core::policy::translator::{self, TranslatorConfig};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn env(name: &str) -> Option<String> {
    match name {
        "THREAT_CIDRS" => Some("198.51.100.0/24,2001:db8::/32".into()),
        "TRUSTED_CUSTOM_SOURCES" => Some("custom.keyguard.test".into()),
        _ => None,
    }
}

struct Configs {
    containment: ContainmentConfig,
    translator: TranslatorConfig,
    detector: DetectorConfig,
}

fn configs() -> Option<&'static Configs> {
    static CONFIGS: OnceLock<Option<Configs>> = OnceLock::new();
    CONFIGS
        .get_or_init(|| {
            Some(Configs {
                containment: ContainmentConfig::from_env(&env, SelfIdentity::default()).ok()?,
                translator: TranslatorConfig::from_env(&env, SelfIdentity::default()).ok()?,
                detector: DetectorConfig::from_env(&env).ok()?,
            })
        })
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Ok(trigger) = keyguard_core::parse(data) else {
        return;
    };
    let Some(cfg) = configs() else {
        return;
    };
    let raw: serde_json::Value = serde_json::from_slice(data).unwrap_or_default();
    let event_ref = keyguard_core::event_ref(&trigger, &raw);
    let _ = containment::target(&trigger, &cfg.containment, &event_ref);
    let _ = translator::target(&trigger, &cfg.translator, &event_ref);
    let plan = detector::decide(&trigger, &cfg.detector, &event_ref);
    let _ = serde_json::to_string(&plan);
});
