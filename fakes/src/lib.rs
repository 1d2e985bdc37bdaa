//! Local fakes of Pombo's providers. Each module speaks one provider's documented wire
//! format: it checks what the real service checks (method, path, auth, content type,
//! required fields), answers with the provider's documented success and error bodies, and
//! records every request so a test or a person can see exactly what was "sent".
//!
//! One server hosts them all, each under its own prefix (`/twilio`, `/sendgrid`, …): a
//! provider's base URL in Pombo's configuration points at `http://<fake>/<prefix>`.
//! Faults (a 503, a 429 with `Retry-After`, a proxy's page instead of the provider's
//! answer) are queued per provider, from a test through [`Fakes::fail_next`] or over HTTP
//! (`POST /_fake/faults`). A person writes in through `POST /_fake/inbound` ([`person`]),
//! with files kept by `POST /_fake/media` ([`media`]).

pub mod accounts;
pub mod callbacks;
pub mod inbox;
pub mod media;
pub mod person;

pub mod apns;
pub mod callbell;
pub mod chat;
pub mod evolution;
pub mod fcm;
pub mod instagram;
pub mod mailgun;
pub mod sendgrid;
pub mod ses;
pub mod telegram;
pub mod twilio;
pub mod vonage;
pub mod waha;
pub mod webhook;
pub mod whatsapp_cloud;

use std::net::SocketAddr;

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::StatusCode,
    middleware::{self, Next},
    response::Response,
};

pub use callbacks::FakeCallback;
pub use inbox::{FakeState, Fault, Foreign, Recorded};

/// A provider fake: the prefix it is mounted under, its routes, and how it shapes errors.
struct Provider {
    prefix: &'static str,
    router: fn() -> Router<FakeState>,
    error: fn(StatusCode, &str) -> Response,
}

const PROVIDERS: &[Provider] = &[
    Provider {
        prefix: "sendgrid",
        router: sendgrid::router,
        error: sendgrid::error,
    },
    Provider {
        prefix: "mailgun",
        router: mailgun::router,
        error: mailgun::error,
    },
    Provider {
        prefix: "ses",
        router: ses::router,
        error: ses::error,
    },
    Provider {
        prefix: "twilio",
        router: twilio::router,
        error: twilio::error,
    },
    Provider {
        prefix: "vonage",
        router: vonage::router,
        error: vonage::error,
    },
    Provider {
        prefix: "fcm",
        router: fcm::router,
        error: fcm::error,
    },
    Provider {
        prefix: "apns",
        router: apns::router,
        error: apns::error,
    },
    Provider {
        prefix: "whatsapp_cloud",
        router: whatsapp_cloud::router,
        error: whatsapp_cloud::error,
    },
    Provider {
        prefix: "instagram",
        router: instagram::router,
        error: instagram::error,
    },
    Provider {
        prefix: "callbell",
        router: callbell::router,
        error: callbell::error,
    },
    Provider {
        prefix: "evolution",
        router: evolution::router,
        error: evolution::error,
    },
    Provider {
        prefix: "waha",
        router: waha::router,
        error: waha::error,
    },
    Provider {
        prefix: "telegram",
        router: telegram::router,
        error: telegram::error,
    },
    Provider {
        prefix: "webhook",
        router: webhook::router,
        error: webhook::error,
    },
    Provider {
        prefix: "chat",
        router: chat::router,
        error: chat::error,
    },
];

/// Every fake under its prefix, plus the inbox (`/_fake/…`) and a page listing what arrived.
pub fn router(state: FakeState) -> Router {
    let mut app = inbox::routes()
        .route("/_fake/inbound", axum::routing::post(person::writes))
        .route("/_fake/media", axum::routing::post(media::put));
    for p in PROVIDERS {
        let nested = (p.router)().layer(middleware::from_fn_with_state(
            (state.clone(), p.prefix, p.error),
            record_and_inject,
        ));
        app = app.nest(&format!("/{}", p.prefix), nested);
    }
    app.with_state(state)
}

type Hook = (FakeState, &'static str, fn(StatusCode, &str) -> Response);

/// Records the request, then either answers with a queued fault or lets the fake answer.
async fn record_and_inject(
    State((state, provider, error)): State<Hook>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, 16 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return (error)(StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
    };
    let position = state.inbox.record(provider, &parts, &bytes);
    parts.extensions.insert(position);
    if let Some(fault) = state.faults.take(provider) {
        if let Some(delay) = fault.delay {
            tokio::time::sleep(delay).await;
        }
        let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut response = match fault.foreign {
            Some(foreign) => Response::builder()
                .status(status)
                .header("content-type", foreign.content_type)
                .body(Body::from(foreign.body))
                .unwrap_or_else(|_| (error)(status, &fault.message)),
            None => (error)(status, &fault.message),
        };
        if let Some(secs) = fault.retry_after_secs {
            response
                .headers_mut()
                .insert("retry-after", secs.to_string().parse().expect("digits"));
        }
        return response;
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A running fake server.
pub struct Fakes {
    pub addr: SocketAddr,
    pub state: FakeState,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Fakes {
    /// Starts every fake on `127.0.0.1:0` in this process.
    pub async fn start() -> Fakes {
        Self::start_on("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("fakes start")
    }

    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Fakes> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = FakeState::new(format!("http://{addr}"));
        let app = router(state.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Fakes {
            addr,
            state,
            _stop: stop,
        })
    }

    /// The base URL to configure for `provider` (its prefix, e.g. `twilio`).
    pub fn base_url(&self, provider: &str) -> String {
        format!("http://{}/{provider}", self.addr)
    }

    /// Requests `provider` received so far, oldest first.
    pub fn requests(&self, provider: &str) -> Vec<Recorded> {
        self.state.inbox.of(provider)
    }

    /// The next `times` requests to `provider` get `fault` instead of the fake's answer.
    pub fn fail_next(&self, provider: &str, times: usize, fault: Fault) {
        self.state.faults.push(provider, times, fault);
    }
}
