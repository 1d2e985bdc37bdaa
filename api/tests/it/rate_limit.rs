//! Per-tenant request rate limit: `429` with `Retry-After` and `RateLimit-*` headers.

use std::time::{Duration, Instant};

use pombo_contract::config::RateLimitConfig;
use serde_json::Value;

use crate::support::{AppOptions, TestApp, spawn_app_with};

async fn list(app: &TestApp) -> reqwest::Response {
    app.http
        .get(app.url("/v1/notifications"))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_a_tenant_over_its_burst_gets_429_and_others_are_served() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        rate_limit: Some(RateLimitConfig {
            enabled: true,
            per_second: 1,
            burst: 3,
        }),
        ..Default::default()
    })
    .await;
    let other = app.other_tenant_key().await;

    // The burst: three requests at once, each told what is left.
    let start = Instant::now();
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let response = list(&app).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "ratelimit-limit").as_deref(), Some("3"));
        // Both numbers of the quota: 1 a second, bursts of 3.
        assert_eq!(
            header(&response, "ratelimit-policy").as_deref(),
            Some("1;w=1;burst=3")
        );
        let reset: u64 = header(&response, "ratelimit-reset")
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=3).contains(&reset), "RateLimit-Reset {reset}");
        remaining.push(header(&response, "ratelimit-remaining").unwrap());
    }
    // One request comes back each second: a slow machine may have earned one meanwhile.
    let mut limited = list(&app).await;
    let mut extra = 0;
    while limited.status() == 200 && extra < 5 {
        extra += 1;
        limited = list(&app).await;
    }
    let elapsed = start.elapsed();
    if elapsed < Duration::from_millis(900) {
        assert_eq!(remaining, ["2", "1", "0"]);
        assert_eq!(
            extra, 0,
            "the fourth request within a second must be limited"
        );
    } else {
        assert!(
            extra <= elapsed.as_secs() + 1,
            "{extra} extra in {elapsed:?}"
        );
    }

    assert_eq!(limited.status(), 429);
    let retry_after: u64 = header(&limited, "retry-after").unwrap().parse().unwrap();
    assert!((1..=3).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(header(&limited, "ratelimit-limit").as_deref(), Some("3"));
    assert_eq!(
        header(&limited, "ratelimit-policy").as_deref(),
        Some("1;w=1;burst=3")
    );
    assert_eq!(
        header(&limited, "ratelimit-remaining").as_deref(),
        Some("0")
    );
    assert_eq!(
        header(&limited, "ratelimit-reset"),
        Some(retry_after.to_string())
    );
    assert_eq!(
        header(&limited, "content-type").as_deref(),
        Some("application/problem+json")
    );
    let problem: Value = limited.json().await.unwrap();
    assert_eq!(problem["status"], 429, "{problem}");
    assert_eq!(
        problem["type"], "https://pombo.dev/problems/rate-limited",
        "{problem}"
    );

    // Another tenant has its own bucket.
    let (code, body) = app.list_as(&other, "").await;
    assert_eq!(code, 200, "{body}");

    // Routes without a tenant are never limited, and carry no RateLimit headers.
    for path in ["/healthz", "/openapi.json"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "ratelimit-limit"), None, "{path}");
    }

    // After Retry-After, the tenant is served again.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let again = list(&app).await;
    assert_eq!(again.status(), 200);
    assert_eq!(header(&again, "ratelimit-limit").as_deref(), Some("3"));
}
