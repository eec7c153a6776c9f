//! The apiserver: the Kubernetes REST API as JSON over HTTPS on loopback.

pub mod exec;
mod fan_out;
pub mod http;
pub mod logs;
pub mod metrics;
pub mod object;
pub mod protobuf;
pub mod rbac;
pub mod registry;
pub mod request;
pub mod resources;
pub mod selector;
pub mod status;
mod strategic_merge;
pub mod table;
mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::pki::Pki;
use http::ApiState;

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for open connections before cutting them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// A running apiserver.
pub struct ApiServer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
    shutdown: CancellationToken,
}

impl ApiServer {
    /// Binds `127.0.0.1:0` synchronously, so the address is known and connections queue
    /// before this returns, then serves until `shutdown` is cancelled.
    pub fn start(
        state_for: impl FnOnce(SocketAddr) -> Arc<ApiState>,
        pki: &Pki,
    ) -> Result<ApiServer, Error> {
        let std_listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| Error::Bind {
                what: "apiserver",
                source: e,
            })?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| Error::Bind {
                what: "apiserver",
                source: e,
            })?;
        let addr = std_listener.local_addr().map_err(|e| Error::Bind {
            what: "apiserver",
            source: e,
        })?;
        let listener = TcpListener::from_std(std_listener).map_err(|e| Error::Bind {
            what: "apiserver",
            source: e,
        })?;
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Pki(e.to_string()))?
        .with_client_cert_verifier(client_verifier(pki)?)
        .with_single_cert(pki.server_chain.clone(), pki.server_key.clone_key())
        .map_err(|e| Error::Pki(e.to_string()))?;
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        let state = state_for(addr);
        let shutdown = state.shutdown.clone();
        let app = http::router(state);
        let task = tokio::spawn(serve(listener, acceptor, app, shutdown.clone()));
        Ok(ApiServer {
            addr,
            task,
            shutdown,
        })
    }

    /// Stops accepting, lets open requests finish briefly, then returns.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(DRAIN_TIMEOUT * 2, self.task).await;
    }
}

/// Client certificates are optional (tokens work without one); one that is offered must
/// chain to the control plane's CA.
fn client_verifier(
    pki: &Pki,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(pki.ca_der.clone())
        .map_err(|e| Error::Pki(e.to_string()))?;
    rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| Error::Pki(e.to_string()))
}

/// The user of the client certificate a connection presented, for every request on it.
#[derive(Debug, Clone)]
pub struct CertificateUser(pub crate::identity::Identity);

async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: axum::Router,
    shutdown: CancellationToken,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (tcp, _) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                _ => return,
            };
            let user = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|c| crate::identity::Identity::from_certificate(c))
                .map(CertificateUser);
            let service = TowerToHyperService::new(tower::util::MapRequest::new(
                app,
                move |mut req: ::http::Request<hyper::body::Incoming>| {
                    if let Some(u) = &user {
                        req.extensions_mut().insert(u.clone());
                    }
                    req
                },
            ));
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            let _ = watcher.watch(conn.into_owned()).await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}
