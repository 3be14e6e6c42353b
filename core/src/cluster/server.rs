//! The controller's listener: authenticates each connection, then serves its requests one at a
//! time until the peer closes, stays idle too long, or the controller shuts down.
//!
//! Invariant: no request is read from a connection that has not completed the handshake of
//! [`Transport::accept`] (so an unauthenticated peer can never make us allocate more than the
//! handshake frame cap), and an isolated node (test partition) serves nothing.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::cluster::controller::Inner;
use crate::cluster::transport::Transport;
use crate::cluster::wire::{MAX_MESSAGE_BYTES, Request, Response};
use crate::error::CoreError;

/// A connection with no request for this long is closed (peers reconnect on demand).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves decoded requests.
pub(crate) trait Handler: Send + Sync + 'static {
    fn handle(self: Arc<Self>, req: Request) -> BoxFuture<'static, Response>;
    fn transport(&self) -> &Transport;
    /// Changes to `true` when the controller shuts down.
    fn shutdown_signal(&self) -> watch::Receiver<bool>;
}

/// Most connections served at once; beyond it new ones are closed at once (a flood of
/// unauthenticated connections cannot exhaust the node).
const MAX_CONNECTIONS: usize = 256;

/// Accepts connections until shutdown.
pub(crate) async fn serve(listener: TcpListener, inner: Arc<Inner>) {
    let mut shutdown = inner.shutdown.subscribe();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, remote)) => {
                if inner.transport.is_isolated() {
                    continue;
                }
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::warn!(remote = %remote, "controller listener: {MAX_CONNECTIONS} connections open, closing a new one");
                    continue;
                };
                let inner = inner.clone();
                tokio::spawn(async move {
                    connection(inner, stream, remote.to_string()).await;
                    drop(slot);
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "controller listener: accept failed");
                if !inner.sleep(Duration::from_millis(50)).await {
                    return;
                }
            }
        }
    }
}

async fn connection<H: Handler>(handler: Arc<H>, stream: tokio::net::TcpStream, remote: String) {
    let (mut conn, peer_id) = match handler.transport().accept(stream, remote.clone()).await {
        Ok(ok) => ok,
        Err(e) => {
            log_refusal(&remote, &e);
            return;
        }
    };
    let mut shutdown = handler.shutdown_signal();
    if *shutdown.borrow_and_update() {
        return;
    }
    loop {
        let req = tokio::select! {
            r = conn.recv::<Request>(MAX_MESSAGE_BYTES, IDLE_TIMEOUT) => r,
            _ = shutdown.changed() => return,
        };
        let req = match req {
            Ok(r) => r,
            Err(CoreError::PeerClosed { .. }) => return,
            Err(e) => {
                tracing::debug!(peer = peer_id, error = %e, "controller connection closed");
                return;
            }
        };
        if handler.transport().is_isolated() {
            return;
        }
        let resp = handler.clone().handle(req).await;
        if handler.transport().is_isolated() {
            return;
        }
        if let Err(e) = conn.send(&resp).await {
            tracing::debug!(peer = peer_id, error = %e, "controller connection: reply failed");
            return;
        }
    }
}

fn log_refusal(remote: &str, e: &CoreError) {
    match e {
        CoreError::PeerRefused { .. } => tracing::warn!(remote, error = %e, "controller connection refused"),
        _ => tracing::debug!(remote, error = %e, "controller handshake failed"),
    }
}
