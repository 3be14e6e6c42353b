//! The `vectorizer` binary.
//!
//! Exit codes: 0 after a clean shutdown (or `--version`/`--help`), 2 for invalid usage or
//! configuration, 1 when the node cannot start or fails while running.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use vectorizer_server::cli::{Cli, Command, ServeArgs};
use vectorizer_server::config::{self, Config};
use vectorizer_server::{logging, openapi, serve};

/// Waiting for blocking engine tasks when the runtime is dropped, after the engine shut down.
const RUNTIME_DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve_command(&args),
        Command::Openapi => openapi_command(),
    }
}

/// `vectorizer openapi > docs/openapi.json` regenerates the committed document.
fn openapi_command() -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(openapi::json().as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vectorizer: cannot write the OpenAPI document to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve_command(args: &ServeArgs) -> ExitCode {
    let loaded = config::env_vars().and_then(|env| Config::load(args.config.as_deref(), env, &args.overrides()));
    let config = match loaded {
        Ok(config) => config,
        Err(e) => {
            eprintln!("vectorizer: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = logging::init(&config.log) {
        eprintln!("vectorizer: {e}");
        return ExitCode::from(2);
    }
    let runtime = match build_runtime(config.runtime.time_slice_us) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vectorizer: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(serve::run(config));
    runtime.shutdown_timeout(RUNTIME_DRAIN);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "vectorizer stopped with an error");
            eprintln!("vectorizer: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The async runtime. Each of its threads (workers and blocking pool), and the calling thread that
/// drives the server's main future, asks the OS for a time slice of `time_slice_us` (0: the OS
/// default), so a request or a replicated write that wakes one of them preempts a busy thread
/// (another node's, an HNSW linker) instead of queueing behind the rest of its slice.
fn build_runtime(time_slice_us: u64) -> std::io::Result<tokio::runtime::Runtime> {
    apply_time_slice(time_slice_us);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(move || apply_time_slice(time_slice_us))
        .build()
}

/// Sets the calling thread's time slice (0: the OS default, `set_time_slice`'s own meaning of 0);
/// a refusal is logged at debug level (the node works the same, only with the OS default slice).
fn apply_time_slice(time_slice_us: u64) {
    if let Err(error) = vectorizer_core::os_thread::set_time_slice(time_slice_us * 1000) {
        tracing::debug!(time_slice_us, %error, "could not set the thread's time slice");
    }
}
