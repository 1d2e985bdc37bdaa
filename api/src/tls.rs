//! HTTPS served by the API itself, for deployments without a TLS-terminating proxy.
//!
//! rustls (ring, as everywhere else in Pombo) with HTTP/2 and HTTP/1.1 by ALPN. The
//! certificate and key are read again on SIGHUP and whenever either file's modification
//! time changes (checked every [`RELOAD_CHECK`]), so a renewed certificate (certbot,
//! cert-manager) is served from the next handshake on, without a restart or a dropped
//! connection. A reload that fails (a half-written file) keeps the certificate in use and
//! says why in the log.

use std::{
    net::SocketAddr,
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use axum::{Router, extract::ConnectInfo};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use pombo_contract::config::ApiTls;
use rustls::{
    ServerConfig,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How often the files' modification times are compared with those last loaded.
const RELOAD_CHECK: Duration = Duration::from_secs(2);
/// How long open connections get to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(10);
/// A handshake that takes longer is dropped (a client that connects and says nothing).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("api.tls.{field}: cannot read `{path}`: {reason}")]
    Read {
        field: &'static str,
        path: String,
        reason: String,
    },
    #[error("api.tls.cert_path `{0}` holds no PEM certificate")]
    NoCertificate(String),
    #[error("api.tls.key_path `{0}`: {1}")]
    Key(String, String),
}

/// The certificate in use, swapped on reload.
#[derive(Debug)]
struct Certificate {
    paths: ApiTls,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' modification times when last loaded.
    loaded: RwLock<(Option<SystemTime>, Option<SystemTime>)>,
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("certificate lock").clone())
    }
}

impl Certificate {
    fn load(paths: &ApiTls) -> Result<Self, TlsSetupError> {
        let stamps = modified(paths);
        Ok(Certificate {
            current: RwLock::new(Arc::new(certified_key(paths)?)),
            loaded: RwLock::new(stamps),
            paths: paths.clone(),
        })
    }

    /// Reads the files again; keeps the certificate in use when they do not parse.
    fn reload(&self, why: &str) {
        let stamps = modified(&self.paths);
        match certified_key(&self.paths) {
            Ok(key) => {
                *self.current.write().expect("certificate lock") = Arc::new(key);
                *self.loaded.write().expect("certificate lock") = stamps;
                tracing::info!(why, cert = %self.paths.cert_path, "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::error!(why, error = %e, "TLS certificate not reloaded; keeping the one in use")
            }
        }
    }

    fn changed(&self) -> bool {
        modified(&self.paths) != *self.loaded.read().expect("certificate lock")
    }
}

fn modified(paths: &ApiTls) -> (Option<SystemTime>, Option<SystemTime>) {
    let at = |path: &str| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    (at(&paths.cert_path), at(&paths.key_path))
}

fn read(field: &'static str, path: &str) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|e| TlsSetupError::Read {
        field,
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn certified_key(paths: &ApiTls) -> Result<CertifiedKey, TlsSetupError> {
    let chain = read("cert_path", &paths.cert_path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsSetupError::NoCertificate(paths.cert_path.clone()))?;
    if certs.is_empty() {
        return Err(TlsSetupError::NoCertificate(paths.cert_path.clone()));
    }
    let key = read("key_path", &paths.key_path)?;
    let key = PrivateKeyDer::from_pem_slice(&key)
        .map_err(|e| TlsSetupError::Key(paths.key_path.clone(), e.to_string()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| TlsSetupError::Key(paths.key_path.clone(), e.to_string()))?;
    let certified = CertifiedKey::new(certs, signing);
    // A renewal caught between writing its two files would otherwise be served broken.
    certified.keys_match().map_err(|e| {
        TlsSetupError::Key(
            paths.key_path.clone(),
            format!("does not match the certificate: {e}"),
        )
    })?;
    Ok(certified)
}

/// Checks the files now, so a bad path fails start-up rather than the first handshake.
pub fn check(paths: &ApiTls) -> Result<(), TlsSetupError> {
    certified_key(paths).map(|_| ())
}

/// Serves `router` over HTTPS on `listener` until `shutdown` resolves, then lets open
/// connections finish (up to [`DRAIN`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    paths: &ApiTls,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let certificate = Arc::new(Certificate::load(paths)?);
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(certificate.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let reloader = tokio::spawn(reload_forever(certificate));

    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(
            router
                .clone()
                .layer(axum::Extension(ConnectInfo::<SocketAddr>(peer))),
        );
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    reloader.abort();
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => tracing::warn!("connections still open after the drain time"),
    }
    Ok(())
}

async fn reload_forever(certificate: Arc<Certificate>) {
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler; TLS files are still watched");
            None
        }
    };
    let mut tick = tokio::time::interval(RELOAD_CHECK);
    loop {
        let hup = async {
            match hangup.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = hup => certificate.reload("SIGHUP"),
            _ = tick.tick() => {
                if certificate.changed() {
                    certificate.reload("the files changed");
                }
            }
        }
    }
}
