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
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
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
