//! Per-tenant request rate limit: a token bucket (GCRA, from `governor`) per tenant, with
//! `api.rate_limit.per_second` sustained requests and bursts of up to `api.rate_limit.burst`.
//!
//! The tenant is known only once its API key is checked, so the [`Tenant`] extractor calls
//! [`RateLimiter::check_request`] after authenticating; routes without it (health, docs,
//! provider callbacks) are never limited. A request over the limit fails with
//! [`ApiError::RateLimited`]: `429`, `Retry-After` and the IETF draft `RateLimit-*` headers.
//! An allowed request gets `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
//! from the [`headers`] middleware.
//!
//! [`Tenant`]: crate::extract::Tenant

use std::{
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    extract::Request,
    http::{Extensions, HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};
use governor::{
    Quota,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::DefaultKeyedStateStore,
};
use pombo_contract::config::RateLimitConfig;
use uuid::Uuid;

use crate::error::ApiError;

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

type Keyed<C> =
    governor::RateLimiter<Uuid, DefaultKeyedStateStore<Uuid>, C, StateInformationMiddleware>;

/// One token bucket per tenant. Buckets live as long as the process; there is one per
/// tenant that ever authenticated, so their number is bounded by the tenants.
pub struct RateLimiter<C: Clock = DefaultClock> {
    /// `None` when the limit is disabled.
    limiter: Option<Keyed<C>>,
}

/// What an allowed request has left of its tenant's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// The burst size: requests allowed at once with a full bucket.
    pub limit: u32,
    /// Requests the tenant may still make right now.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
}

impl RateLimiter {
    pub fn new(config: &RateLimitConfig) -> Self {
        RateLimiter::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock> RateLimiter<C> {
    /// A zero `per_second` or `burst` counts as 1.
    pub fn with_clock(config: &RateLimitConfig, clock: C) -> Self {
        let limiter = config.enabled.then(|| {
            let per_second = NonZeroU32::new(config.per_second).unwrap_or(NonZeroU32::MIN);
            let burst = NonZeroU32::new(config.burst).unwrap_or(NonZeroU32::MIN);
            let quota = Quota::per_second(per_second).allow_burst(burst);
            Keyed::new(quota, DefaultKeyedStateStore::default(), clock)
        });
        RateLimiter { limiter }
    }

    /// Takes one request from `tenant`'s bucket: what is left, or `RateLimited` when the
    /// bucket is empty. `Ok(None)` when the limit is disabled.
    pub fn check(&self, tenant: Uuid) -> Result<Option<Allowance>, ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(None);
        };
        match limiter.check_key(&tenant) {
            Ok(snapshot) => {
                let quota = snapshot.quota();
                let limit = quota.burst_size().get();
                let remaining = snapshot.remaining_burst_capacity();
                // Each used request comes back after one replenish interval (an upper
                // bound, within one interval, of when the bucket is full).
                let refill = quota.replenish_interval() * limit.saturating_sub(remaining);
                Ok(Some(Allowance {
                    limit,
                    remaining,
                    reset_secs: ceil_secs(refill),
                }))
            }
            Err(not_until) => {
                metrics::counter!("pombo_rate_limited_total").increment(1);
                let wait = not_until.wait_time_from(limiter.clock().now());
                Err(ApiError::RateLimited {
                    retry_after_secs: ceil_secs(wait).max(1),
                    limit: not_until.quota().burst_size().get(),
                })
            }
        }
    }

    /// [`check`](Self::check), and leaves the allowance in the request's extensions for the
    /// [`headers`] middleware to put on the response.
    pub fn check_request(&self, extensions: &Extensions, tenant: Uuid) -> Result<(), ApiError> {
        if let Some(allowance) = self.check(tenant)?
            && let Some(slot) = extensions.get::<AllowanceSlot>()
        {
            *slot.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(allowance);
        }
        Ok(())
    }
}

fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// Where the tenant extractor leaves the allowance of the request being handled.
#[derive(Clone, Default)]
struct AllowanceSlot(Arc<Mutex<Option<Allowance>>>);

/// Middleware: adds `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` to the
/// responses of requests that were counted against a tenant's limit.
pub async fn headers(mut request: Request, next: Next) -> Response {
    let slot = AllowanceSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let allowance = slot.0.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(allowance) = allowance {
        let headers = response.headers_mut();
        if !headers.contains_key(RATELIMIT_LIMIT) {
            headers.insert(RATELIMIT_LIMIT, HeaderValue::from(allowance.limit));
            headers.insert(RATELIMIT_REMAINING, HeaderValue::from(allowance.remaining));
            headers.insert(RATELIMIT_RESET, HeaderValue::from(allowance.reset_secs));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limiter(per_second: u32, burst: u32) -> (RateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let config = RateLimitConfig {
            enabled: true,
            per_second,
            burst,
        };
        (RateLimiter::with_clock(&config, clock.clone()), clock)
    }

    fn limited(result: Result<Option<Allowance>, ApiError>) -> (u64, u32) {
        match result {
            Err(ApiError::RateLimited {
                retry_after_secs,
                limit,
            }) => (retry_after_secs, limit),
            other => panic!("expected RateLimited, got {other:?}"),
        }
    }

    #[test]
    fn rate_limit_over_the_burst_is_limited_with_retry_after() {
        let (limiter, _clock) = limiter(1, 3);
        let tenant = Uuid::new_v4();
        let remaining: Vec<u32> = (0..3)
            .map(|_| limiter.check(tenant).unwrap().unwrap().remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let (retry_after, limit) = limited(limiter.check(tenant));
        assert_eq!(retry_after, 1, "one request comes back after a second");
        assert_eq!(limit, 3);
    }

    #[test]
    fn rate_limit_retry_after_rounds_up_slow_rates() {
        // 1 per second, burst 1: the next request is due in under a second, never 0.
        let (limiter, clock) = limiter(1, 1);
        let tenant = Uuid::new_v4();
        limiter.check(tenant).unwrap().unwrap();
        clock.advance(Duration::from_millis(700));
        assert_eq!(limited(limiter.check(tenant)).0, 1);
    }

    #[test]
    fn rate_limit_is_per_tenant() {
        let (limiter, _clock) = limiter(1, 2);
        let (busy, other) = (Uuid::new_v4(), Uuid::new_v4());
        limiter.check(busy).unwrap();
        limiter.check(busy).unwrap();
        limited(limiter.check(busy));
        let allowance = limiter.check(other).unwrap().unwrap();
        assert_eq!(allowance.limit, 2);
        assert_eq!(allowance.remaining, 1);
    }

    #[test]
    fn rate_limit_refills_over_time() {
        let (limiter, clock) = limiter(2, 4);
        let tenant = Uuid::new_v4();
        for _ in 0..4 {
            limiter.check(tenant).unwrap();
        }
        limited(limiter.check(tenant));
        // Two per second: half a second gives back one request, two seconds all four.
        clock.advance(Duration::from_millis(500));
        assert_eq!(limiter.check(tenant).unwrap().unwrap().remaining, 0);
        limited(limiter.check(tenant));
        clock.advance(Duration::from_secs(2));
        let allowance = limiter.check(tenant).unwrap().unwrap();
        assert_eq!(allowance.remaining, 3);
        assert_eq!(
            allowance.reset_secs, 1,
            "one used request is back in half a second"
        );
    }

    #[test]
    fn rate_limit_reset_counts_the_used_requests() {
        let (limiter, _clock) = limiter(1, 5);
        let tenant = Uuid::new_v4();
        for expected_reset in 1..=5 {
            assert_eq!(
                limiter.check(tenant).unwrap().unwrap().reset_secs,
                expected_reset
            );
        }
    }

    #[test]
    fn rate_limit_disabled_lets_everything_through() {
        let config = RateLimitConfig {
            enabled: false,
            per_second: 1,
            burst: 1,
        };
        let limiter = RateLimiter::new(&config);
        let tenant = Uuid::new_v4();
        for _ in 0..100 {
            assert_eq!(limiter.check(tenant).unwrap(), None);
        }
    }

    #[test]
    fn rate_limit_zero_settings_count_as_one() {
        let (limiter, _clock) = limiter(0, 0);
        let tenant = Uuid::new_v4();
        assert_eq!(limiter.check(tenant).unwrap().unwrap().limit, 1);
        assert_eq!(limited(limiter.check(tenant)), (1, 1));
    }

    #[test]
    fn rate_limit_check_request_fills_the_slot() {
        let (limiter, _clock) = limiter(1, 3);
        let mut extensions = Extensions::new();
        let slot = AllowanceSlot::default();
        extensions.insert(slot.clone());
        limiter.check_request(&extensions, Uuid::new_v4()).unwrap();
        let allowance = slot.0.lock().unwrap().unwrap();
        assert_eq!((allowance.limit, allowance.remaining), (3, 2));
        // Without the middleware's slot the check still counts, and says nothing.
        limiter
            .check_request(&Extensions::new(), Uuid::new_v4())
            .unwrap();
    }
}
