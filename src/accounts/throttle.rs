//! Failed-login throttling, per address and per account.
//!
//! The rule that keeps the real user in: the per-account counter only ever slows down
//! addresses that have themselves failed against that account. An address with a clean record
//! is never delayed or refused because somebody else is guessing the same account's password.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures are forgotten this long after the last one.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failures from one address before every attempt from it is delayed.
const IP_FREE: u32 = 4;
/// Failures from one address before it is refused outright until the window passes.
const IP_REFUSE: u32 = 10;
/// Failures against one account (all addresses) before addresses that failed on it are refused.
const ACCOUNT_REFUSE: u32 = 20;
/// Bounds the tables: a flood from many addresses cannot grow memory without limit.
const MAX_TRACKED: usize = 10_000;

#[derive(Default)]
struct Counter {
    failures: u32,
    last: Option<Instant>,
}

impl Counter {
    fn live(&self, now: Instant) -> u32 {
        match self.last {
            Some(t) if now.duration_since(t) < WINDOW => self.failures,
            _ => 0,
        }
    }
    fn bump(&mut self, now: Instant) {
        self.failures = self.live(now) + 1;
        self.last = Some(now);
    }
}

#[derive(Default)]
pub struct Throttle {
    inner: Mutex<Tables>,
}

#[derive(Default)]
struct Tables {
    by_ip: HashMap<IpAddr, Counter>,
    by_account: HashMap<String, Counter>,
    by_account_ip: HashMap<(String, IpAddr), Counter>,
}

/// What to do with an attempt before checking its password.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Go,
    Delay(Duration),
    Refuse { retry_after: Duration },
}

impl Throttle {
    pub fn check(&self, ip: IpAddr, account: &str) -> Verdict {
        let now = crate::clock::instant();
        let Ok(t) = self.inner.lock() else {
            return Verdict::Go;
        };
        let ip_fail = t.by_ip.get(&ip).map_or(0, |c| c.live(now));
        if ip_fail >= IP_REFUSE {
            return Verdict::Refuse {
                retry_after: WINDOW,
            };
        }
        let key = (account.to_lowercase(), ip);
        let pair_fail = t.by_account_ip.get(&key).map_or(0, |c| c.live(now));
        let acct_fail = t.by_account.get(&key.0).map_or(0, |c| c.live(now));
        if pair_fail > 0 && acct_fail >= ACCOUNT_REFUSE {
            return Verdict::Refuse {
                retry_after: WINDOW,
            };
        }
        if ip_fail > IP_FREE {
            let steps = u64::from(ip_fail - IP_FREE);
            return Verdict::Delay(Duration::from_millis(250 * steps));
        }
        Verdict::Go
    }

    pub fn failed(&self, ip: IpAddr, account: &str) {
        let now = crate::clock::instant();
        let Ok(mut t) = self.inner.lock() else { return };
        if t.by_ip.len() > MAX_TRACKED || t.by_account_ip.len() > MAX_TRACKED {
            t.by_ip.retain(|_, c| c.live(now) > 0);
            t.by_account.retain(|_, c| c.live(now) > 0);
            t.by_account_ip.retain(|_, c| c.live(now) > 0);
        }
        let account = account.to_lowercase();
        t.by_ip.entry(ip).or_default().bump(now);
        t.by_account.entry(account.clone()).or_default().bump(now);
        t.by_account_ip.entry((account, ip)).or_default().bump(now);
    }

    /// A correct password from `ip` clears that address's record (as Nextcloud does).
    pub fn succeeded(&self, ip: IpAddr, account: &str) {
        let Ok(mut t) = self.inner.lock() else { return };
        t.by_ip.remove(&ip);
        t.by_account_ip.remove(&(account.to_lowercase(), ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_address_is_never_held_back_by_an_attack_on_the_account() {
        let t = Throttle::default();
        let attacker: IpAddr = "10.0.0.9".parse().unwrap();
        let home: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..40 {
            t.failed(attacker, "alice");
        }
        assert!(matches!(t.check(attacker, "alice"), Verdict::Refuse { .. }));
        assert_eq!(t.check(home, "alice"), Verdict::Go);
    }

    #[test]
    fn delays_grow_then_refuse() {
        let t = Throttle::default();
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        for _ in 0..5 {
            t.failed(ip, "bob");
        }
        assert!(matches!(t.check(ip, "bob"), Verdict::Delay(_)));
        for _ in 0..5 {
            t.failed(ip, "bob");
        }
        assert!(matches!(t.check(ip, "bob"), Verdict::Refuse { .. }));
        t.succeeded(ip, "bob");
        assert_eq!(t.check(ip, "bob"), Verdict::Go);
    }

    /// Failures are forgotten once the window has passed since the last one, not before:
    /// tested by moving the clock, not by waiting 15 minutes.
    #[test]
    fn a_refused_address_is_let_in_again_after_the_window() {
        let t = Throttle::default();
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        for _ in 0..IP_REFUSE {
            t.failed(ip, "bob");
        }
        assert!(matches!(t.check(ip, "bob"), Verdict::Refuse { .. }));
        crate::clock::testing::advance(WINDOW - Duration::from_secs(1));
        assert!(matches!(t.check(ip, "bob"), Verdict::Refuse { .. }));
        crate::clock::testing::advance(Duration::from_secs(2));
        assert_eq!(t.check(ip, "bob"), Verdict::Go);
        crate::clock::testing::reset();
    }
}
