//! How every Pombo process connects to Temporal: one place that turns `[temporal]` into
//! connection options, so the API and the worker cannot drift apart (plain gRPC to the dev
//! server, TLS with a private CA, mTLS, or an API key for Temporal Cloud).

use std::time::Duration;

use pombo_contract::config::TemporalConfig;
use temporalio_client::{
    Client, ClientOptions, ClientTlsOptions, Connection, ConnectionOptions, TlsOptions, Url,
};

#[derive(Debug, thiserror::Error)]
pub enum ConnectionSetupError {
    #[error("temporal.address `{0}` is not a URL")]
    Address(String),
    #[error("temporal.tls.{field}: cannot read `{path}`: {reason}")]
    File {
        field: &'static str,
        path: String,
        reason: String,
    },
}

/// Why [`connect`] has no client.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Setup(#[from] ConnectionSetupError),
    /// Temporal did not answer (not started yet, or down): worth trying again.
    #[error("connecting to Temporal at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("Temporal client for namespace `{namespace}`: {reason}")]
    Client { namespace: String, reason: String },
}

/// Connects once and makes the namespace's client: the API on first use (with a short
/// `connect_timeout`), the worker at start-up (trying again while Temporal starts).
pub async fn connect(
    config: &TemporalConfig,
    connect_timeout: Option<Duration>,
) -> Result<Client, ConnectError> {
    let options = connection_options(config, connect_timeout)?;
    let connection = Connection::connect(options)
        .await
        .map_err(|e| ConnectError::Unreachable {
            address: config.address.clone(),
            reason: e.to_string(),
        })?;
    Client::new(
        connection,
        ClientOptions::new(config.namespace.clone())
            // Traces, when on: spans for starts, workflows and activities, and the context
            // carried in Temporal's headers (workers made with this client get it too).
            .plugins(pombo_telemetry::temporal_plugins())
            .build(),
    )
    .map_err(|e| ConnectError::Client {
        namespace: config.namespace.clone(),
        reason: e.to_string(),
    })
}

/// The options to connect with; `connect_timeout` bounds the first connection only.
pub fn connection_options(
    config: &TemporalConfig,
    connect_timeout: Option<Duration>,
) -> Result<ConnectionOptions, ConnectionSetupError> {
    let url: Url = config
        .address
        .parse()
        .map_err(|_| ConnectionSetupError::Address(config.address.clone()))?;
    let tls = match &config.tls {
        None => None,
        Some(tls) => {
            let client = match (&tls.client_cert_path, &tls.client_key_path) {
                (Some(cert), Some(key)) => Some(
                    ClientTlsOptions::builder()
                        .client_cert(read("client_cert_path", cert)?)
                        .client_private_key(read("client_key_path", key)?)
                        .build(),
                ),
                // `Config::validate` refuses one without the other.
                _ => None,
            };
            let ca = tls
                .ca_cert_path
                .as_deref()
                .map(|path| read("ca_cert_path", path))
                .transpose()?;
            Some(
                TlsOptions::builder()
                    .maybe_server_root_ca_cert(ca)
                    .maybe_domain(tls.server_name.clone())
                    .maybe_client_tls_options(client)
                    .build(),
            )
        }
    };
    Ok(ConnectionOptions::new(url)
        .maybe_tls_options(tls)
        .maybe_api_key(config.api_key.as_ref().map(|k| k.expose().to_owned()))
        .maybe_connect_timeout(connect_timeout)
        .build())
}

fn read(field: &'static str, path: &str) -> Result<Vec<u8>, ConnectionSetupError> {
    std::fs::read(path).map_err(|e| ConnectionSetupError::File {
        field,
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use pombo_contract::config::{Secret, TemporalTls};

    use super::*;

    #[test]
    fn plain_by_default_and_tls_with_the_files_given() {
        let plain = connection_options(&TemporalConfig::default(), None).unwrap();
        assert!(plain.tls_options.is_none() && plain.api_key.is_none());

        let dir = std::env::temp_dir().join(format!("pombo-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, body) in [
            ("ca.pem", "CA"),
            ("client.pem", "CERT"),
            ("client.key", "KEY"),
        ] {
            std::fs::write(dir.join(name), body).unwrap();
        }
        let path = |name: &str| Some(dir.join(name).display().to_string());
        let config = TemporalConfig {
            address: "https://pombo.tmprl.cloud:7233".into(),
            tls: Some(TemporalTls {
                ca_cert_path: path("ca.pem"),
                client_cert_path: path("client.pem"),
                client_key_path: path("client.key"),
                server_name: Some("frontend.internal".into()),
            }),
            api_key: Some(Secret::new("cloud-key")),
            ..TemporalConfig::default()
        };
        let options = connection_options(&config, Some(Duration::from_secs(3))).unwrap();
        let tls = options.tls_options.expect("TLS");
        assert_eq!(tls.server_root_ca_cert.as_deref(), Some(&b"CA"[..]));
        assert_eq!(tls.domain.as_deref(), Some("frontend.internal"));
        let client = tls.client_tls_options.expect("mTLS");
        assert_eq!(
            (
                client.client_cert.as_slice(),
                client.client_private_key.as_slice()
            ),
            (&b"CERT"[..], &b"KEY"[..])
        );
        assert_eq!(options.api_key.as_deref(), Some("cloud-key"));
        assert_eq!(options.connect_timeout, Some(Duration::from_secs(3)));

        let missing = TemporalConfig {
            tls: Some(TemporalTls {
                ca_cert_path: Some("/nonexistent/ca.pem".into()),
                ..TemporalTls::default()
            }),
            ..TemporalConfig::default()
        };
        let err = connection_options(&missing, None).unwrap_err().to_string();
        assert!(err.contains("temporal.tls.ca_cert_path"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }
}
