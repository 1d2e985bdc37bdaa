//! Contract tests of every provider against its local fake (`pombo-fakes`): the exact
//! request the provider documents, and the classification of its documented answers.
//! One test binary; each test starts its own fakes server on 127.0.0.1.

mod apns;
mod callbell;
mod evolution;
mod fcm;
mod instagram;
mod mailgun;
mod media;
mod sendgrid;
mod ses;
mod telegram;
mod twilio;
mod vonage;
mod waha;
mod webhook;
mod whatsapp_cloud;

/// The HTTP client the worker shares between providers.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client")
}

/// The clients the worker builds providers with, for server-wide (trusted) accounts.
pub fn operator_clients() -> pombo_providers::outbound::OutboundClients {
    pombo_providers::outbound::OutboundClients::new(Default::default()).expect("clients")
}

/// The email of the email providers' tests.
pub fn email(text: Option<&str>, html: Option<&str>) -> pombo_contract::content::EmailContent {
    pombo_contract::content::EmailContent {
        subject: "Your order shipped".into(),
        text: text.map(Into::into),
        html: html.map(Into::into),
        attachments: Vec::new(),
    }
}

/// The one request `provider`'s fake received (fails when there were more or none).
pub fn only_request(fakes: &pombo_fakes::Fakes, provider: &str) -> pombo_fakes::Recorded {
    let mut requests = fakes.requests(provider);
    assert_eq!(requests.len(), 1, "{provider}: {requests:?}");
    requests.remove(0)
}

/// Answers from something that is not the provider, in its place (a `base_url` pointed at
/// an internal service, a proxy's page): status, content type, body. Each carries what
/// must never reach an attempt error that a tenant reads back.
pub const FOREIGN_ANSWERS: &[(u16, &str, &str)] = &[
    (
        502,
        "text/html",
        "<html><head><title>Bad Gateway</title></head><body>metadata \
         AKIAIOSFODNN7EXAMPLE</body></html>",
    ),
    (
        403,
        "application/json",
        r#"{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"AKIAIOSFODNN7EXAMPLE","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","Token":"IQoJb3JpZ2luX2VjEXAMPLE"}"#,
    ),
    (
        400,
        "text/plain",
        "ami-id\ninstance-id\niam/security-credentials/pombo-role AKIAIOSFODNN7EXAMPLE",
    ),
];

/// Queues each of [`FOREIGN_ANSWERS`] on `prefix`'s fake, sends with `send`, and checks that
/// the attempt error, as the tenant reads it back (`message [code]`), says only the status
/// and who answered, classified by that status alone.
pub async fn foreign_answers_leave_no_trace<F, Fut>(
    fakes: &pombo_fakes::Fakes,
    prefix: &str,
    send: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<
            Output = Result<pombo_providers::Accepted, pombo_providers::DeliveryError>,
        >,
{
    for (status, content_type, body) in FOREIGN_ANSWERS {
        fakes.fail_next(
            prefix,
            1,
            pombo_fakes::Fault::foreign(*status, content_type, body),
        );
        let err = send().await.expect_err("a foreign answer is no success");
        let read_back = match err.code() {
            Some(code) => format!("{} [{code}]", err.message()),
            None => err.message().to_owned(),
        };
        for leaked in [
            "AKIA",
            "wJalr",
            "IQoJ",
            "html",
            "metadata",
            "Success",
            "instance-id",
            "security-credentials",
        ] {
            assert!(
                !read_back.contains(leaked),
                "{prefix}: `{leaked}` reached the attempt error: {read_back}"
            );
        }
        assert!(
            err.message().starts_with(&format!("HTTP {status} ")),
            "{prefix}: {read_back}"
        );
        assert_eq!(err.is_permanent(), *status < 500, "{prefix}: {read_back}");
    }
}
