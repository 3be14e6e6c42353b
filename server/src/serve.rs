//! Running a node: recovery, listening, replication, the ready line, graceful shutdown.
//!
//! Start order: open the engine (recovery) -> bind the HTTP listener -> start replication when
//! enabled (it announces the bound HTTP address) -> start the cluster controller in cluster mode
//! (it drives the replication runtime) -> print the ready line -> serve.
//! Stop order: stop HTTP (in-flight requests get [`SHUTDOWN_GRACE`]) -> stop the controller -> stop
//! replication (persists its counters) -> shut the engine down (final snapshot, fsync).
//!
//! Invariant: the ready line is printed only after recovery finished and every listener is bound;
//! replication is shut down on every exit path after it started, and the engine on every exit path
//! after it was opened, including failures to bind.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use vectorizer_core::CoreError;
use vectorizer_core::engine::Engine;
use vectorizer_core::replication::Replication;

use vectorizer_core::cluster::Controller;

use crate::app::app;
use crate::cluster::{ReplicationHooks, report_discards};
use crate::config::Config;
use crate::state::AppState;
use crate::write::WriteOptions;

/// How long in-flight requests may run after a shutdown signal before the node stops anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why a node stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the data directory {}: {source}", data_dir.display())]
    Open { data_dir: PathBuf, source: CoreError },
    #[error("cannot listen on {addr} (http.addr): {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot start replication on {addr} (replication.addr): {source}")]
    Replication { addr: SocketAddr, source: CoreError },
    #[error("cannot start the cluster controller: {0}")]
    Cluster(CoreError),
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
    let replication = if config.replication.is_enabled() {
        if local.ip().is_unspecified() && config.replication.announce_http.is_none() {
            tracing::warn!(
                http_addr = %local,
                "replication.announce_http is not set and http.addr is a wildcard address: peers and clients \
                 will be told {local}; set replication.announce_http to a reachable host:port"
            );
        }
        let mut repl_config = config.replication.runtime_config(local);
        repl_config.cluster_managed = config.cluster.is_enabled();
        let repl_addr = config.replication.listen_addr();
        let started = Replication::start(Arc::clone(&engine), repl_config)
            .await
            .map_err(|source| ServeError::Replication { addr: repl_addr, source })?;
        Some(started)
    } else {
        None
    };
    let cluster = match (&replication, config.cluster.is_enabled()) {
        (Some(replication), true) => match start_cluster(config, replication, data_dir).await {
            Ok(c) => Some(c),
            Err(e) => {
                replication.shutdown().await;
                return Err(e);
            }
        },
        _ => None,
    };
    let served = serve_http(
        config,
        engine,
        replication.clone(),
        cluster.as_ref().map(|(c, _)| Arc::clone(c)),
        listener,
        local,
        data_dir,
    )
    .await;
    if let Some((controller, reporter)) = cluster {
        tracing::info!("stopping the cluster controller");
        reporter.abort();
        controller.shutdown().await;
    }
    if let Some(replication) = replication {
        tracing::info!("stopping replication");
        replication.shutdown().await;
    }
    served
}

/// Starts the controller over the replication runtime, and the task reporting discarded
/// operations to it.
async fn start_cluster(
    config: &Config,
    replication: &Arc<Replication>,
    data_dir: &std::path::Path,
) -> Result<(Arc<Controller>, tokio::task::JoinHandle<()>), ServeError> {
    let cluster_config =
        config.cluster.runtime_config(config.replication.auth_secret.as_ref()).map_err(ServeError::Cluster)?;
    let hooks = Arc::new(ReplicationHooks { replication: Arc::clone(replication) });
    let controller = Controller::start(cluster_config, data_dir, hooks).await.map_err(ServeError::Cluster)?;
    let reporter = tokio::spawn(report_discards(Arc::clone(replication), Arc::clone(&controller)));
    Ok((controller, reporter))
}

async fn serve_http(
    config: &Config,
    engine: Arc<Engine>,
    replication: Option<Arc<Replication>>,
    cluster: Option<Arc<Controller>>,
    listener: TcpListener,
    local: SocketAddr,
    data_dir: &std::path::Path,
) -> Result<(), ServeError> {
    let signals = Signals::install()?;

    let shown_dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    let repl = replication.as_ref().map(|r| (r.repl_addr(), r.node_id().to_owned()));
    print_ready_line(local, &shown_dir, repl.as_ref())?;
    tracing::info!(
        http_addr = %local,
        data_dir = %shown_dir.display(),
        repl_addr = repl.as_ref().map(|(a, _)| a.to_string()),
        "ready"
    );

    let mut state = AppState::new(engine, config.http.max_body_bytes).with_write_defaults(WriteOptions {
        w: config.replication.default_w.0,
        timeout: Duration::from_millis(config.replication.write_timeout_ms),
    });
    if let Some(replication) = replication {
        state = state.with_replication(replication);
    }
    if let Some(controller) = cluster {
        let me = config.cluster.node_id;
        let members = config.cluster.nodes.iter().filter(|n| Some(n.id) != me).map(|n| n.id.to_string()).collect();
        state = state.with_cluster(controller, members);
    }
    let stopping = Arc::new(Notify::new());
    let stopping_signal = Arc::clone(&stopping);
    let server = axum::serve(listener, app(state)).with_graceful_shutdown(async move {
        let name = signals.wait().await;
        tracing::info!(signal = name, "shutting down: no new connections, finishing in-flight requests");
        stopping_signal.notify_one();
    });
    tokio::select! {
        result = server.into_future() => result.map_err(ServeError::Serve),
        () = async { stopping.notified().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::warn!(grace_secs = SHUTDOWN_GRACE.as_secs(), "in-flight requests did not finish in time; stopping anyway");
            Ok(())
        }
    }
}

fn print_ready_line(
    http_addr: SocketAddr,
    data_dir: &std::path::Path,
    replication: Option<&(SocketAddr, String)>,
) -> Result<(), ServeError> {
    /// The ready line, fields in this order; `repl_addr` and `node_id` are null without replication.
    #[derive(serde::Serialize)]
    struct Ready {
        event: &'static str,
        http_addr: String,
        data_dir: String,
        repl_addr: Option<String>,
        node_id: Option<String>,
    }
    let ready = Ready {
        event: "ready",
        http_addr: http_addr.to_string(),
        data_dir: data_dir.display().to_string(),
        repl_addr: replication.map(|(addr, _)| addr.to_string()),
        node_id: replication.map(|(_, id)| id.clone()),
    };
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
