//! `pombo-s3`: the local S3-compatible object store of `make run` (s3s-fs: objects are files
//! under a directory; requests must be signed with SigV4, presigned URLs expire).
//! Usage: `pombo-s3 [LISTEN_ADDR] [DIRECTORY]` (default `127.0.0.1:9000 .data/objects`). The
//! keys are Pombo's local defaults, `pombo` / `pombo-local-secret`, unless
//! `POMBO_S3_ACCESS_KEY` and `POMBO_S3_SECRET_KEY` say otherwise.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto::Builder,
};
use s3s::{auth::SimpleAuth, service::S3ServiceBuilder};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:9000".into())
        .parse()
        .context("LISTEN_ADDR")?;
    let root = PathBuf::from(args.next().unwrap_or_else(|| ".data/objects".into()));
    let access_key = std::env::var("POMBO_S3_ACCESS_KEY").unwrap_or_else(|_| "pombo".into());
    let secret_key =
        std::env::var("POMBO_S3_SECRET_KEY").unwrap_or_else(|_| "pombo-local-secret".into());

    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let fs = s3s_fs::FileSystem::new(&root)
        .map_err(|e| anyhow::anyhow!("opening {}: {e:?}", root.display()))?;
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
    let service = builder.build();

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    tracing::info!(
        "S3-compatible object store on http://{} (path-style), objects in {}",
        listener.local_addr()?,
        root.display()
    );
    let server = Builder::new(TokioExecutor::new());
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let (socket, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection");
                    continue;
                }
            },
            _ = ctrl_c.as_mut() => return Ok(()),
        };
        let connection = server
            .serve_connection(TokioIo::new(socket), service.clone())
            .into_owned();
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}
