//! Per-tenant request rate limit: a token bucket (GCRA, from `governor`) per tenant, with
//! `api.rate_limit.per_second` sustained requests and bursts of up to `api.rate_limit.burst`.
//!
//! The tenant is known only once its API key is checked, so the [`Tenant`] extractor calls
//! [`RateLimiter::check_request`] after authenticating; routes without it (health, docs,
//! provider callbacks) are not limited per tenant. A request over the limit fails with
//! [`ApiError::RateLimited`]: `429`, `Retry-After` and the IETF draft `RateLimit-*` headers.
//! An allowed request gets `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
//! from the [`headers`] middleware.
//!
//! Provider callbacks have no tenant: [`CallbackLimiter`] limits them per client address.
//!
//! [`Tenant`]: crate::extract::Tenant

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    num::NonZeroU32,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
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
    clock::{Clock, DefaultClock, Reference},
    middleware::{NoOpMiddleware, StateInformationMiddleware},
    state::keyed::DefaultKeyedStateStore,
};
use pombo_contract::config::{CallbackRateLimitConfig, RateLimitConfig};
use uuid::Uuid;

use crate::error::ApiError;

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
/// The tenant's quota, both numbers: `per_second` requests in a 1-second window, bursts of
/// up to `burst` (`RateLimit-Limit` alone says only the burst).
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

type Keyed<C> =
    governor::RateLimiter<Uuid, DefaultKeyedStateStore<Uuid>, C, StateInformationMiddleware>;

/// One token bucket per tenant. Buckets live as long as the process; there is one per
/// tenant that ever authenticated, so their number is bounded by the tenants.
pub struct RateLimiter<C: Clock = DefaultClock> {
    /// `None` when the limit is disabled.
    limiter: Option<Keyed<C>>,
    /// The `RateLimit-Policy` of every tenant's answers.
    policy: String,
}

/// What an allowed request has left of its tenant's quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    /// The burst size: requests allowed at once with a full bucket.
    pub limit: u32,
    /// Requests the tenant may still make right now.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// `RateLimit-Policy`: `<per_second>;w=1;burst=<burst>`.
    pub policy: String,
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
        let policy = format!("{};w=1;burst={}", config.per_second, config.burst);
        RateLimiter { limiter, policy }
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
                    policy: self.policy.clone(),
                }))
            }
            Err(not_until) => {
                metrics::counter!("pombo_rate_limited_total").increment(1);
                let wait = not_until.wait_time_from(limiter.clock().now());
                Err(ApiError::RateLimited {
                    retry_after_secs: ceil_secs(wait).max(1),
                    limit: not_until.quota().burst_size().get(),
                    policy: Some(self.policy.clone()),
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
            if let Ok(policy) = HeaderValue::from_str(&allowance.policy) {
                headers.insert(RATELIMIT_POLICY, policy);
            }
        }
    }
    response
}

/// Per-client-address limits of the provider callbacks (`api.callback_rate_limit`): a token
/// bucket of requests per address, and a stricter one of failed authentications. An address
/// that runs out of failures is refused before any work (no account lookup, no signature
/// check) until its next failure would be allowed.
pub struct CallbackLimiter<C: Clock = DefaultClock> {
    requests: Option<ByAddress<C>>,
    failures: Option<ByAddress<C>>,
    /// Failed authentications allowed at once (reported as the 429's `RateLimit-Limit`).
    failure_burst: u32,
    /// Addresses over their failure limit, and until when.
    blocked: Mutex<HashMap<IpAddr, C::Instant>>,
    /// Requests seen, to forget idle addresses' buckets now and then.
    seen: AtomicU64,
    clock: C,
}

type ByAddress<C> = governor::RateLimiter<
    IpAddr,
    DefaultKeyedStateStore<IpAddr>,
    C,
    NoOpMiddleware<<C as Clock>::Instant>,
>;

impl CallbackLimiter {
    pub fn new(config: &CallbackRateLimitConfig) -> Self {
        CallbackLimiter::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock + Clone> CallbackLimiter<C> {
    /// A zero rate or burst counts as 1.
    pub fn with_clock(config: &CallbackRateLimitConfig, clock: C) -> Self {
        let nonzero = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        let limiter = |quota: Quota| {
            config
                .enabled
                .then(|| ByAddress::new(quota, DefaultKeyedStateStore::default(), clock.clone()))
        };
        CallbackLimiter {
            requests: limiter(
                Quota::per_second(nonzero(config.per_second)).allow_burst(nonzero(config.burst)),
            ),
            failures: limiter(
                Quota::per_minute(nonzero(config.failures_per_minute))
                    .allow_burst(nonzero(config.failure_burst)),
            ),
            failure_burst: nonzero(config.failure_burst).get(),
            blocked: Mutex::new(HashMap::new()),
            seen: AtomicU64::new(0),
            clock,
        }
    }

    /// Lets a request from `address` in, or refuses it: `RateLimited` while the address is
    /// over its failure limit or its request rate.
    pub fn admit(&self, address: IpAddr) -> Result<(), ApiError> {
        let (Some(requests), Some(failures)) = (&self.requests, &self.failures) else {
            return Ok(());
        };
        let address = client_key(address);
        let now = self.clock.now();
        {
            let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
            match blocked.get(&address) {
                Some(until) if *until > now => {
                    return Err(limited(
                        until.duration_since(now).into(),
                        self.failure_burst,
                    ));
                }
                Some(_) => {
                    blocked.remove(&address);
                }
                None => {}
            }
        }
        // Each address that ever called has a bucket: forget the full ones now and then.
        if self.seen.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            requests.retain_recent();
            failures.retain_recent();
        }
        requests.check_key(&address).map_err(|not_until| {
            limited(
                not_until.wait_time_from(now),
                not_until.quota().burst_size().get(),
            )
        })
    }

    /// Counts a failed authentication from `address`; past the failure limit the address is
    /// refused until its next failure would be allowed.
    pub fn failed(&self, address: IpAddr) {
        let Some(failures) = &self.failures else {
            return;
        };
        let address = client_key(address);
        if let Err(not_until) = failures.check_key(&address) {
            let now = self.clock.now();
            let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
            blocked.retain(|_, until| *until > now);
            blocked.insert(address, not_until.earliest_possible());
        }
    }
}

fn limited(wait: Duration, limit: u32) -> ApiError {
    metrics::counter!("pombo_rate_limited_total").increment(1);
    ApiError::RateLimited {
        retry_after_secs: ceil_secs(wait).max(1),
        limit,
        policy: None,
    }
}

/// The key of a client address: an IPv6 address by its /64, which one host usually holds
/// whole (one key per address would let it use 2^64 buckets).
fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
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
                ..
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
        let allowance = slot.0.lock().unwrap().clone().unwrap();
        assert_eq!((allowance.limit, allowance.remaining), (3, 2));
        // Without the middleware's slot the check still counts, and says nothing.
        limiter
            .check_request(&Extensions::new(), Uuid::new_v4())
            .unwrap();
    }

    fn callback_limiter(
        per_second: u32,
        burst: u32,
        failure_burst: u32,
    ) -> (CallbackLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let config = CallbackRateLimitConfig {
            enabled: true,
            per_second,
            burst,
            failures_per_minute: 6,
            failure_burst,
        };
        (CallbackLimiter::with_clock(&config, clock.clone()), clock)
    }

    fn refused(result: Result<(), ApiError>) -> u64 {
        match result {
            Err(ApiError::RateLimited {
                retry_after_secs, ..
            }) => retry_after_secs,
            other => panic!("expected RateLimited, got {other:?}"),
        }
    }

    #[test]
    fn callback_limiter_refuses_an_address_over_its_failures_until_one_is_allowed() {
        let (limiter, clock) = callback_limiter(1000, 1000, 2);
        let (forger, provider): (IpAddr, IpAddr) = (
            "203.0.113.7".parse().unwrap(),
            "198.51.100.1".parse().unwrap(),
        );
        for _ in 0..2 {
            limiter.admit(forger).unwrap();
            limiter.failed(forger);
        }
        limiter.admit(forger).unwrap();
        limiter.failed(forger);
        // Six a minute: the next failure is allowed in ten seconds.
        assert_eq!(refused(limiter.admit(forger)), 10);
        limiter.admit(provider).unwrap();
        clock.advance(Duration::from_secs(10));
        limiter.admit(forger).unwrap();
    }

    #[test]
    fn callback_limiter_limits_the_request_rate_per_address() {
        let (limiter, _clock) = callback_limiter(1, 2, 100);
        let one: IpAddr = "2001:db8::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8::2".parse().unwrap();
        let other: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        limiter.admit(one).unwrap();
        limiter.admit(same_64).unwrap();
        assert_eq!(refused(limiter.admit(one)), 1);
        limiter.admit(other).unwrap();
    }
}
