//! Running a node: recovery, listening, the ready line, graceful shutdown.
//!
//! Invariant: the ready line is printed only after recovery finished and the listener is bound, and
//! the engine is shut down (fsync) on every exit path after it was opened, including failures to bind.
//! On SIGTERM/SIGINT the listener stops accepting, in-flight requests get [`SHUTDOWN_GRACE`] to finish,
//! then the engine shuts down.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use vectorizer_core::CoreError;
use vectorizer_core::engine::Engine;

use crate::app::app;
use crate::config::Config;
use crate::state::AppState;

/// How long in-flight requests may run after a shutdown signal before the node stops anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why a node stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the data directory {}: {source}", data_dir.display())]
    Open { data_dir: PathBuf, source: CoreError },
    #[error("cannot listen on {addr} (http.addr): {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot install the SIGTERM/SIGINT handlers: {0}")]
    Signals(std::io::Error),
    #[error("cannot write the ready line to stdout: {0}")]
    Stdout(std::io::Error),
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("the engine did not shut down cleanly: {0}")]
    Shutdown(CoreError),
    #[error("an engine task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Runs a node with `config` until a shutdown signal.
pub async fn run(config: Config) -> Result<(), ServeError> {
    let engine_config = config.engine_config();
    let data_dir = engine_config.data_dir.clone();
    tracing::info!(data_dir = %data_dir.display(), fsync = %config.storage.fsync, "opening the data directory");
    let engine = tokio::task::spawn_blocking(move || Engine::open(engine_config))
        .await?
        .map_err(|source| ServeError::Open { data_dir: data_dir.clone(), source })?;
    let report = engine.startup_report();
    tracing::info!(
        snapshot_offset = report.snapshot_offset,
        replayed_ops = report.replayed_ops,
        last_offset = report.last_offset,
        torn_tail_bytes = report.torn_tail_bytes,
        ms = u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
        "recovered"
    );

    let served = serve_until_signal(&config, Arc::clone(&engine), &data_dir).await;
    let engine_for_shutdown = Arc::clone(&engine);
    let shutdown = tokio::task::spawn_blocking(move || engine_for_shutdown.shutdown()).await?;
    served?;
    shutdown.map_err(ServeError::Shutdown)?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn serve_until_signal(
    config: &Config,
    engine: Arc<Engine>,
    data_dir: &std::path::Path,
) -> Result<(), ServeError> {
    let addr = config.http.addr.0;
    let listener = TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener.local_addr().map_err(|source| ServeError::Bind { addr, source })?;
    let signals = Signals::install()?;

    let shown_dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    print_ready_line(local, &shown_dir)?;
    tracing::info!(http_addr = %local, data_dir = %shown_dir.display(), "ready");

    let stopping = Arc::new(Notify::new());
    let stopping_signal = Arc::clone(&stopping);
    let server = axum::serve(listener, app(AppState::new(engine, config.http.max_body_bytes))).with_graceful_shutdown(
        async move {
            let name = signals.wait().await;
            tracing::info!(signal = name, "shutting down: no new connections, finishing in-flight requests");
            stopping_signal.notify_one();
        },
    );
    tokio::select! {
        result = server.into_future() => result.map_err(ServeError::Serve),
        () = async { stopping.notified().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::warn!(grace_secs = SHUTDOWN_GRACE.as_secs(), "in-flight requests did not finish in time; stopping anyway");
            Ok(())
        }
    }
}

fn print_ready_line(http_addr: SocketAddr, data_dir: &std::path::Path) -> Result<(), ServeError> {
    /// The ready line, fields in this order.
    #[derive(serde::Serialize)]
    struct Ready {
        event: &'static str,
        http_addr: String,
        data_dir: String,
    }
    let ready = Ready { event: "ready", http_addr: http_addr.to_string(), data_dir: data_dir.display().to_string() };
    let line = serde_json::to_string(&ready).map_err(|e| ServeError::Stdout(e.into()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).map_err(ServeError::Stdout)
}

/// SIGTERM and SIGINT, installed before the ready line so an early signal is never missed.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Self, ServeError> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate()).map_err(ServeError::Signals)?,
            int: signal(SignalKind::interrupt()).map_err(ServeError::Signals)?,
        })
    }

    async fn wait(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
