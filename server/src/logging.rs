//! Log output: `tracing` events to stderr, as text or one JSON object per line.
//!
//! Invariant: nothing but the ready line is ever written to stdout (the test harness and process
//! supervisors parse it).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Why the logger could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("log.level: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("cannot install the logger: {0}")]
    Install(Box<dyn std::error::Error + Send + Sync>),
}

/// Installs the global subscriber.
pub fn init(config: &LogConfig) -> Result<(), LoggingError> {
    let filter = EnvFilter::try_new(&config.level)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(LoggingError::Install)
}
