//! Keyed rate limits (GCRA via `governor`) for login and refresh, per client address and per
//! account name. The account limit applies to any name, existing or not, so a 429 reveals
//! nothing about which accounts exist.

use crate::config::RateLimitConfig;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::Digest;
use std::net::IpAddr;
use std::num::NonZeroU32;

pub struct Limiters {
    login_ip: DefaultKeyedRateLimiter<IpAddr>,
    /// Keyed by a hash of the normalised account name: fixed-size keys whatever is sent.
    login_account: DefaultKeyedRateLimiter<[u8; 32]>,
    refresh_ip: DefaultKeyedRateLimiter<IpAddr>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

/// `Err(seconds to wait)` when over the limit.
fn check<K: std::hash::Hash + Eq + Clone>(
    l: &DefaultKeyedRateLimiter<K>,
    key: &K,
) -> Result<(), u64> {
    l.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
    })
}

impl Limiters {
    pub fn new(cfg: &RateLimitConfig) -> Limiters {
        Limiters {
            login_ip: RateLimiter::keyed(per_minute(cfg.login_per_ip_per_minute)),
            login_account: RateLimiter::keyed(per_minute(cfg.login_per_account_per_minute)),
            refresh_ip: RateLimiter::keyed(per_minute(cfg.refresh_per_ip_per_minute)),
        }
    }

    pub fn login(&self, ip: IpAddr, account: &str) -> Result<(), u64> {
        check(&self.login_ip, &ip)?;
        let key: [u8; 32] = sha2::Sha256::digest(account.trim().to_lowercase().as_bytes()).into();
        check(&self.login_account, &key)
    }

    pub fn refresh(&self, ip: IpAddr) -> Result<(), u64> {
        check(&self.refresh_ip, &ip)
    }

    /// Drop state of keys that are back to full allowance (call periodically).
    pub fn sweep(&self) {
        self.login_ip.retain_recent();
        self.login_account.retain_recent();
        self.refresh_ip.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_limit_applies_across_addresses() {
        let l = Limiters::new(&RateLimitConfig {
            login_per_ip_per_minute: 100,
            login_per_account_per_minute: 2,
            refresh_per_ip_per_minute: 1,
        });
        let ip1: IpAddr = "10.0.0.1".parse().unwrap();
        let ip2: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.login(ip1, "a@b.co").is_ok());
        assert!(l.login(ip2, "A@B.co ").is_ok());
        let wait = l.login(ip1, "a@b.co").unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(l.login(ip1, "other@b.co").is_ok());
        assert!(l.refresh(ip1).is_ok());
        assert!(l.refresh(ip1).is_err());
    }
}
