//! `threat-ip` (high): a call from an address on the configured threat list
//! (`THREAT_CIDRS`), seed 000's "threat IP classifier". The calling long-term key is
//! contained.

use super::{long_term, Alert};
use crate::events::CloudTrailRecord;
use crate::notice::Severity;
use std::net::IpAddr;

/// An address block, IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `198.51.100.0/24`, `2001:db8::/32`, or a bare address.
    pub fn parse(raw: &str) -> Option<Self> {
        let (addr, prefix) = match raw.trim().split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
            None => (raw.trim(), None),
        };
        let network: IpAddr = addr.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |a: IpAddr| match a {
            IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
            IpAddr::V6(v) => (u128::from(v), 128),
        };
        let ((net, width), (addr, addr_width)) = (bits(self.network), bits(ip));
        if width != addr_width {
            return false;
        }
        let shift = width - u32::from(self.prefix);
        shift >= width || (net >> shift) == (addr >> shift)
    }
}

pub fn check(r: &CloudTrailRecord, list: &[Cidr]) -> Option<Alert> {
    let ip: IpAddr = r.source_ip_address.as_deref()?.parse().ok()?;
    let block = list.iter().find(|c| c.contains(ip))?;
    Some(Alert {
        rule: "threat-ip",
        severity: Severity::High,
        why: "a call from an address on the threat list",
        summary: format!(
            "{} called {} from {ip} (listed as {}/{})",
            r.user_identity.arn.as_deref().unwrap_or("a caller"),
            r.event_name,
            block.network,
            block.prefix
        ),
        contain: long_term(
            r.user_identity.access_key_id.as_deref(),
            r.user_identity.user_name.as_deref(),
        ),
    })
}
