//! Sign-in throttling: failed sign-ins are counted per email and per client address over a
//! sliding window; past the limit, sign-in is refused with 429 (before the password is even
//! checked) until the oldest failure leaves the window. A success clears the email's count.
//!
//! Per process: behind several API replicas an attacker gets each replica's allowance, which
//! still bounds guessing to a few dozen passwords per quarter hour per replica, and the TOTP
//! code stands behind the password anyway.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::error::ApiError;

pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failures per email in [`WINDOW`].
pub const PER_EMAIL: usize = 5;
/// Failures per client address in [`WINDOW`].
pub const PER_ADDRESS: usize = 20;
/// Keys kept at most; past it, keys without a failure in the window are forgotten, and if
/// that is not enough the oldest are.
const MAX_KEYS: usize = 100_000;

#[derive(Default)]
pub struct SignInThrottle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

fn keys(email: &str, address: Option<IpAddr>) -> [(Option<String>, usize); 2] {
    [
        (Some(format!("email:{email}")), PER_EMAIL),
        (address.map(|a| format!("address:{a}")), PER_ADDRESS),
    ]
}

impl SignInThrottle {
    /// Refuses when the email or the address has used up its failures.
    pub fn admit(
        &self,
        email: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), ApiError> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for (key, limit) in keys(email, address) {
            let Some(times) = key.and_then(|k| failures.get(&k)) else {
                continue;
            };
            let recent: Vec<_> = times
                .iter()
                .filter(|t| now.duration_since(**t) < WINDOW)
                .collect();
            if recent.len() >= limit {
                let wait = WINDOW.saturating_sub(now.duration_since(*recent[0]));
                metrics::counter!("pombo_sign_in_throttled_total").increment(1);
                return Err(ApiError::RateLimited {
                    retry_after_secs: wait.as_secs().max(1),
                    limit: limit as u32,
                    policy: None,
                });
            }
        }
        Ok(())
    }

    pub fn failed(&self, email: &str, address: Option<IpAddr>, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < WINDOW)
            });
            if failures.len() >= MAX_KEYS {
                failures.clear();
            }
        }
        for (key, limit) in keys(email, address) {
            let Some(key) = key else { continue };
            let times = failures.entry(key).or_default();
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= WINDOW)
                || times.len() >= limit
            {
                times.pop_front();
            }
            times.push_back(now);
        }
    }

    pub fn succeeded(&self, email: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&format!("email:{email}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_after(result: Result<(), ApiError>) -> u64 {
        match result {
            Err(ApiError::RateLimited {
                retry_after_secs, ..
            }) => retry_after_secs,
            other => panic!("not throttled: {other:?}"),
        }
    }

    #[test]
    fn an_email_is_refused_after_its_failures_until_the_first_leaves_the_window() {
        let throttle = SignInThrottle::default();
        let start = Instant::now();
        for i in 0..PER_EMAIL {
            throttle.admit("a@x", None, start).unwrap();
            throttle.failed("a@x", None, start + Duration::from_secs(i as u64));
        }
        let refused_at = start + Duration::from_secs(60);
        assert_eq!(
            retry_after(throttle.admit("a@x", None, refused_at)),
            14 * 60
        );
        // Another email from nowhere in particular is not affected.
        throttle.admit("b@x", None, refused_at).unwrap();
        throttle.admit("a@x", None, start + WINDOW).unwrap();
    }

    #[test]
    fn an_address_is_refused_after_its_failures_whatever_the_email() {
        let throttle = SignInThrottle::default();
        let address: IpAddr = "203.0.113.7".parse().unwrap();
        let now = Instant::now();
        for i in 0..PER_ADDRESS {
            throttle.failed(&format!("user{i}@x"), Some(address), now);
        }
        retry_after(throttle.admit("new@x", Some(address), now));
        throttle
            .admit("new@x", Some("203.0.113.8".parse().unwrap()), now)
            .unwrap();
    }

    #[test]
    fn a_success_clears_the_email() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        for _ in 0..PER_EMAIL - 1 {
            throttle.failed("a@x", None, now);
        }
        throttle.succeeded("a@x");
        throttle.failed("a@x", None, now);
        throttle.admit("a@x", None, now).unwrap();
    }
}
