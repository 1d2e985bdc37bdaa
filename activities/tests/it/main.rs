//! Contract tests of every provider against its local fake (`pombo-fakes`): the exact
//! request the provider documents, and the classification of its documented answers.
//! One test binary; each test starts its own fakes server on 127.0.0.1.

mod apns;
mod callbell;
mod evolution;
mod fcm;
mod instagram;
mod mailgun;
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
pub fn operator_clients() -> pombo_activities::channels::outbound::OutboundClients {
    pombo_activities::channels::outbound::OutboundClients::new(Default::default()).expect("clients")
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
