//! The replication listener: accepts connections and runs one session task per connection.
//!
//! Invariant: when `cancel` fires the listener stops accepting (the socket is closed) and returns
//! only after every session task has ended; sessions watch child tokens of `cancel`.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::session;
use crate::replication::node::Shared;

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

pub(super) async fn serve(shared: Arc<Shared>, listener: TcpListener, cancel: CancellationToken) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    sessions.spawn(session::run(shared.clone(), stream, peer, cancel.child_token()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "replication listener: accept failed");
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                    }
                }
            },
            Some(done) = sessions.join_next(), if !sessions.is_empty() => reap(done),
        }
    }
    drop(listener);
    while let Some(done) = sessions.join_next().await {
        reap(done);
    }
}

fn reap(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        tracing::error!(error = %e, "replication session task failed");
    }
}
