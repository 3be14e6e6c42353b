//! The command line: `vectorizer serve [flags]`, `vectorizer openapi`, `vectorizer --version`.
//!
//! Flags are kept as text and validated by the configuration layer, so a bad flag is reported exactly
//! like a bad file or environment value (naming the configuration key).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Overrides;

/// Vectorizer: a vector database server.
#[derive(Debug, Parser)]
#[command(name = "vectorizer", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node: recover the data directory, then serve the REST API until SIGTERM/SIGINT.
    Serve(ServeArgs),
    /// Print the OpenAPI document of the REST API (the content of docs/openapi.json) to stdout.
    Openapi,
}

/// Flags of `vectorizer serve`; each overrides the file and the environment.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Data directory (storage.data_dir; default ./data).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// REST API listen address (http.addr; default 127.0.0.1:15002; port 0 = any free port).
    #[arg(long, value_name = "ADDR")]
    pub http_addr: Option<String>,
    /// TOML configuration file.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Log format on stderr: text or json (log.format).
    #[arg(long, value_name = "text|json")]
    pub log_format: Option<String>,
    /// When writes are fsynced: always, os or every_ms:N (storage.fsync).
    #[arg(long, value_name = "always|os|every_ms:N")]
    pub fsync: Option<String>,
    /// Replication listen address (replication.addr; default 127.0.0.1:7001); turns replication on
    /// unless replication.enabled is set.
    #[arg(long, value_name = "ADDR")]
    pub repl_addr: Option<String>,
    /// Follow this master (its replication address, replication.replica_of); turns replication on
    /// unless replication.enabled is set.
    #[arg(long, value_name = "HOST:PORT")]
    pub replica_of: Option<String>,
}

impl ServeArgs {
    /// The flags that override other configuration sources.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            data_dir: self.data_dir.clone(),
            http_addr: self.http_addr.clone(),
            log_format: self.log_format.clone(),
            fsync: self.fsync.clone(),
            repl_addr: self.repl_addr.clone(),
            replica_of: self.replica_of.clone(),
        }
    }
}
