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
