//! A model of AWS's round trips, for the fault proxy to add before it forwards a request
//! to moto: moto answers in a few milliseconds of Python, AWS in tens, and what keyguard
//! gains by overlapping its calls only shows when each call costs what it costs there.
//!
//! Each service has a base time and the model a jitter (uniform, ± a share of the base),
//! drawn from a seeded counter so a run is reproducible in its mix.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug)]
pub struct Latency {
    by_service: BTreeMap<String, Duration>,
    default: Duration,
    /// ± this share of the base, in thousandths.
    jitter_permille: u64,
    seed: u64,
    next: AtomicU64,
}

impl Latency {
    /// The model: IAM 60 ms, STS 20 ms, DynamoDB 8 ms, any other service 20 ms,
    /// each ± 25 %.
    pub fn aws() -> Self {
        Self::parse("iam=60,sts=20,dynamodb=8,default=20,jitter=0.25")
            .unwrap_or_else(|e| panic!("the built-in model: {e}"))
    }

    /// `service=ms,...,default=ms,jitter=share` (the signing names: `iam`, `sts`,
    /// `dynamodb`, `ses`, `sns`); what it leaves out keeps [`Latency::aws`]'s
    /// default of 20 ms and no jitter.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut model = Self {
            by_service: BTreeMap::new(),
            default: Duration::from_millis(20),
            jitter_permille: 0,
            seed: 0x6c61_7465,
            next: AtomicU64::new(0),
        };
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected NAME=VALUE"))?;
            let number: f64 = value
                .parse()
                .map_err(|_| format!("`{part}`: {value} is not a number"))?;
            if !(number.is_finite() && number >= 0.0) {
                return Err(format!("`{part}`: must be 0 or more"));
            }
            match name {
                "jitter" if number <= 1.0 => model.jitter_permille = (number * 1000.0) as u64,
                "jitter" => return Err(format!("`{part}`: jitter is a share, 0 to 1")),
                "default" => model.default = Duration::from_secs_f64(number / 1000.0),
                service => {
                    model
                        .by_service
                        .insert(service.to_owned(), Duration::from_secs_f64(number / 1000.0));
                }
            }
        }
        Ok(model)
    }

    /// The base round trip of a service (its signing name).
    pub fn base(&self, service: &str) -> Duration {
        self.by_service
            .get(service)
            .copied()
            .unwrap_or(self.default)
    }

    /// One request's round trip: the base, moved by the jitter.
    pub fn draw(&self, service: &str) -> Duration {
        let base = self.base(service);
        if self.jitter_permille == 0 {
            return base;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let r = crate::faults::mix(self.seed ^ crate::faults::mix(n)) % 2001; // 0..=2000
        let offset = (r as f64 - 1000.0) / 1000.0 * self.jitter_permille as f64 / 1000.0;
        base.mul_f64((1.0 + offset).max(0.0))
    }
}

/// The service a SigV4 request is signed for: `…/REGION/SERVICE/aws4_request`.
pub fn signed_service(authorization: &str) -> Option<&str> {
    let credential = authorization.split("Credential=").nth(1)?;
    let scope = credential.split([',', ' ']).next()?;
    let mut parts = scope.rsplit('/');
    (parts.next()? == "aws4_request").then_some(())?;
    parts.next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_reads_its_spec_and_draws_within_its_jitter() {
        let m = Latency::parse("iam=60, dynamodb=8, jitter=0.25").unwrap();
        assert_eq!(m.base("iam"), Duration::from_millis(60));
        assert_eq!(m.base("ses"), Duration::from_millis(20));
        let draws: Vec<Duration> = (0..1000).map(|_| m.draw("iam")).collect();
        assert!(draws
            .iter()
            .all(|d| *d >= Duration::from_millis(45) && *d <= Duration::from_millis(75)));
        assert!(draws.iter().any(|d| *d < Duration::from_millis(55)));
        assert!(draws.iter().any(|d| *d > Duration::from_millis(65)));
        for bad in ["iam", "iam=fast", "jitter=2", "sts=-1"] {
            assert!(Latency::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_service_is_read_from_the_signature() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=x";
        assert_eq!(signed_service(auth), Some("iam"));
        assert_eq!(signed_service("Basic abc"), None);
    }
}
