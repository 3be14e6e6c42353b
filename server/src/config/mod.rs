//! The node's configuration: built-in defaults -> TOML file -> `VECTORIZER__SECTION__KEY` environment
//! variables -> CLI flags, validated once at start-up.
//!
//! Invariant: a [`Config`] value only exists if every key was known and every value valid; each
//! rejection names the key (`storage.fsync`), the expected form, the value given and where it came from.
//!
//! Adding a section (e.g. `[replication]`, `[cluster]`): write a struct with
//! `#[serde(default, deny_unknown_fields)]`, a `Default` impl and `deserialize_with` helpers from
//! [`values`] on each field, add it as a field of [`Config`], and check cross-field rules in
//! [`Config::validate`]. Environment variables and flags need no extra code: they are merged as strings
//! by [`layers`] and typed by the same deserializers as the file.

pub mod cluster;
pub mod layers;
pub mod replication;
pub mod values;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use vectorizer_core::engine::EngineConfig;
use vectorizer_core::model::Limits;
use vectorizer_core::storage::Retention;

pub use cluster::ClusterSection;
pub use layers::{ENV_PREFIX, Layers};
pub use replication::ReplicationSection;
pub use values::{FsyncSetting, HostPort, ListenAddr, LogFormat, Secret};

/// Why the configuration was rejected. The process exits with code 2 on any of these.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    ReadFile { path: PathBuf, source: std::io::Error },

    #[error("config file {} is not valid TOML: {message}", path.display())]
    Syntax { path: PathBuf, message: String },

    #[error("{var}: configuration variables are named VECTORIZER__SECTION__KEY (e.g. VECTORIZER__STORAGE__FSYNC)")]
    EnvName { var: String },

    /// A key is unknown or its value invalid; `origin` says which source set it.
    #[error("{key}: {message}{}", origin.as_deref().map(|o| format!(" (set by {o})")).unwrap_or_default())]
    Invalid { key: String, message: String, origin: Option<String> },
}

/// The process's `VECTORIZER__*` environment variables (a non-UTF-8 value is an error naming it).
pub fn env_vars() -> Result<Vec<(String, String)>, ConfigError> {
    let mut vars = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str().filter(|n| n.starts_with(ENV_PREFIX)).map(str::to_owned) else {
            continue;
        };
        match value.into_string() {
            Ok(value) => vars.push((name, value)),
            Err(_) => {
                return Err(ConfigError::Invalid {
                    key: name.clone(),
                    message: "the value is not valid UTF-8".into(),
                    origin: Some(format!("environment variable {name}")),
                });
            }
        }
    }
    Ok(vars)
}

/// Values given on the command line; they override every other source.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<String>,
    pub http_addr: Option<String>,
    pub log_format: Option<String>,
    pub fsync: Option<String>,
    /// `--repl-addr` (replication.addr; implies replication.enabled unless it is set explicitly).
    pub repl_addr: Option<String>,
    /// `--replica-of` (replication.replica_of; implies replication.enabled likewise).
    pub replica_of: Option<String>,
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub http: HttpConfig,
    pub storage: StorageConfig,
    pub limits: LimitsConfig,
    pub index: IndexConfig,
    pub runtime: RuntimeConfig,
    pub log: LogConfig,
    pub replication: ReplicationSection,
    pub cluster: ClusterSection,
}

/// `[http]`: the REST API listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address; port 0 picks a free port (the ready line reports the real one).
    pub addr: ListenAddr,
    /// Largest accepted request body.
    #[serde(deserialize_with = "values::usize")]
    pub max_body_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { addr: ListenAddr(([127, 0, 0, 1], 15002).into()), max_body_bytes: 64 * 1024 * 1024 }
    }
}

/// `[storage]`: data directory, durability, log segments, snapshots and retention.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(deserialize_with = "values::path")]
    pub data_dir: PathBuf,
    pub fsync: FsyncSetting,
    #[serde(deserialize_with = "values::u64")]
    pub segment_bytes: u64,
    #[serde(deserialize_with = "values::u64")]
    pub snapshot_every_ops: u64,
    #[serde(deserialize_with = "values::u64")]
    pub snapshot_every_secs: u64,
    #[serde(deserialize_with = "values::usize")]
    pub snapshots_to_keep: usize,
    #[serde(deserialize_with = "values::u64")]
    pub retention_bytes: u64,
    #[serde(deserialize_with = "values::u64")]
    pub retention_secs: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        let engine = EngineConfig::new("./data");
        Self {
            data_dir: engine.data_dir,
            fsync: FsyncSetting(engine.fsync),
            segment_bytes: engine.segment_bytes,
            snapshot_every_ops: engine.snapshot_every_ops,
            snapshot_every_secs: engine.snapshot_every_secs,
            snapshots_to_keep: engine.snapshots_to_keep,
            retention_bytes: engine.retention.max_bytes,
            retention_secs: engine.retention.max_age.as_secs(),
        }
    }
}

/// `[limits]`: input limits enforced before anything reaches the log.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    #[serde(deserialize_with = "values::usize")]
    pub max_payload_bytes: usize,
    #[serde(deserialize_with = "values::usize")]
    pub max_batch: usize,
    #[serde(deserialize_with = "values::usize")]
    pub max_search_limit: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let l = Limits::default();
        Self { max_payload_bytes: l.max_payload_bytes, max_batch: l.max_batch, max_search_limit: l.max_search_limit }
    }
}

/// `[index]`: background HNSW linking.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexConfig {
    /// Threads linking new vectors into the graphs; defaults to the number of CPUs.
    #[serde(deserialize_with = "values::usize")]
    pub threads: usize,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self { threads: EngineConfig::new("").index_threads }
    }
}

/// `[runtime]`: the threads that serve HTTP requests, replication streams and the cluster's
/// consensus (the async runtime's workers and its blocking pool; not the HNSW linkers).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Time slice asked of the OS for each of these threads, in microseconds (Linux >= 6.12;
    /// ignored elsewhere); 0 keeps the OS default (1.4 ms on a 2-CPU Linux machine). A short slice
    /// lets a thread woken by a request or a replicated write preempt a busy thread at once
    /// instead of waiting for that thread's slice to end: `docs/PERFORMANCE.md`.
    #[serde(deserialize_with = "values::u64")]
    pub time_slice_us: u64,
}

/// Default `runtime.time_slice_us`: the shortest slice Linux grants.
pub const DEFAULT_TIME_SLICE_US: u64 = 100;
/// Accepted non-zero `runtime.time_slice_us`: what Linux accepts (it clamps to 0.1..=100 ms).
pub const TIME_SLICE_US_RANGE: std::ops::RangeInclusive<u64> = 100..=100_000;

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self { time_slice_us: DEFAULT_TIME_SLICE_US }
    }
}

/// `[log]`: logs go to stderr.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter: `info`, `debug`, `vectorizer_core=debug,info`, ...
    #[serde(deserialize_with = "values::string")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, level: "info".into() }
    }
}

/// Smallest accepted `storage.segment_bytes`: smaller segments would rotate on almost every write.
pub const MIN_SEGMENT_BYTES: u64 = 4096;

impl Config {
    /// Builds the configuration from the optional file, the environment variables `env` and the
    /// CLI `overrides`, then validates it.
    pub fn load<I>(file: Option<&Path>, env: I, overrides: &Overrides) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut layers = match file {
            Some(path) => Layers::from_file(path)?,
            None => Layers::default(),
        };
        layers.apply_env(env)?;
        let flags = [
            ("storage", "data_dir", "--data-dir", &overrides.data_dir),
            ("http", "addr", "--http-addr", &overrides.http_addr),
            ("log", "format", "--log-format", &overrides.log_format),
            ("storage", "fsync", "--fsync", &overrides.fsync),
            ("replication", "addr", "--repl-addr", &overrides.repl_addr),
            ("replication", "replica_of", "--replica-of", &overrides.replica_of),
        ];
        for (section, key, flag, value) in flags {
            if let Some(value) = value {
                layers.set(section, key, value.clone(), format!("command-line flag {flag}"))?;
            }
        }
        Self::from_layers(&layers)
    }

    /// Types and validates merged layers.
    pub fn from_layers(layers: &Layers) -> Result<Self, ConfigError> {
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(layers.table().clone())).map_err(|e| {
                let key = e.path().to_string();
                let origin = layers.origin(&key).map(str::to_owned);
                let key = if key == "." { "configuration".to_owned() } else { key };
                ConfigError::Invalid { key, message: e.into_inner().message().trim().to_owned(), origin }
            })?;
        let mut config = config;
        config.resolve_cluster(layers)?;
        config.validate(layers)?;
        Ok(config)
    }

    /// Cluster mode: checks `[cluster]`, then takes this node's addresses from its
    /// `[[cluster.nodes]]` entry where `http.addr` / `replication.addr` are not given, announces
    /// them, names the replication node after the cluster id, and turns replication on (the
    /// controller decides whom to follow, so `replication.replica_of` is refused).
    fn resolve_cluster(&mut self, layers: &Layers) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            origin: layers.origin(key).map(str::to_owned),
            message,
        };
        if !self.cluster.is_enabled() {
            return Ok(());
        }
        self.cluster
            .validate(self.replication.auth_secret.as_ref())
            .map_err(|(key, message)| invalid(&key, message))?;
        let Some(me) = self.cluster.me().cloned() else {
            return Err(invalid("cluster.node_id", "not found in [[cluster.nodes]]".into()));
        };
        if self.replication.enabled == Some(false) {
            return Err(invalid("replication.enabled", "must not be false in cluster mode ([cluster] is set)".into()));
        }
        if self.replication.replica_of.is_some() {
            return Err(invalid(
                "replication.replica_of",
                "not allowed in cluster mode: the controller decides which node each replica follows".into(),
            ));
        }
        let id = me.id.to_string();
        if self.replication.node_id.as_deref().is_some_and(|n| n != id) {
            return Err(invalid(
                "replication.node_id",
                format!("must equal cluster.node_id ({id}) in cluster mode, or be left unset"),
            ));
        }
        self.replication.enabled = Some(true);
        self.replication.node_id = Some(id);
        if layers.origin("http.addr").is_none()
            && let Ok(addr) = me.http.0.parse()
        {
            self.http.addr = ListenAddr(addr);
        }
        if self.replication.addr.is_none() {
            self.replication.addr = me.repl.0.parse().ok().map(ListenAddr);
        }
        self.replication.announce_http.get_or_insert_with(|| me.http.clone());
        self.replication.announce_repl.get_or_insert_with(|| me.repl.clone());
        Ok(())
    }

    /// Rules a single field's type cannot express.
    fn validate(&self, layers: &Layers) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            message,
            origin: layers.origin(key).map(str::to_owned),
        };
        let at_least = |key: &str, value: u64, min: u64| {
            if value < min { Err(invalid(key, format!("must be at least {min}, got {value}"))) } else { Ok(()) }
        };
        at_least("http.max_body_bytes", self.http.max_body_bytes as u64, 1)?;
        if self.storage.data_dir.as_os_str().is_empty() {
            return Err(invalid("storage.data_dir", "must not be empty".into()));
        }
        at_least("storage.segment_bytes", self.storage.segment_bytes, MIN_SEGMENT_BYTES)?;
        at_least("storage.snapshots_to_keep", self.storage.snapshots_to_keep as u64, 1)?;
        at_least("limits.max_payload_bytes", self.limits.max_payload_bytes as u64, 1)?;
        at_least("limits.max_batch", self.limits.max_batch as u64, 1)?;
        at_least("limits.max_search_limit", self.limits.max_search_limit as u64, 1)?;
        at_least("index.threads", self.index.threads as u64, 1)?;
        let slice = self.runtime.time_slice_us;
        if slice != 0 && !TIME_SLICE_US_RANGE.contains(&slice) {
            return Err(invalid(
                "runtime.time_slice_us",
                format!(
                    "must be 0 (the OS default) or between {} and {} microseconds, got {slice}",
                    TIME_SLICE_US_RANGE.start(),
                    TIME_SLICE_US_RANGE.end()
                ),
            ));
        }
        self.replication.validate().map_err(|(key, message)| invalid(key, message))?;
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(invalid(
                "log.level",
                format!(
                    "expected a log filter such as \"info\" or \"vectorizer_core=debug,info\", got {:?}: {e}",
                    self.log.level
                ),
            ));
        }
        Ok(())
    }

    /// The engine's share of the configuration. The log's retention is `replication.backlog_*` where
    /// set (the partial-sync window), else `storage.retention_*`.
    pub fn engine_config(&self) -> EngineConfig {
        let s = &self.storage;
        let r = &self.replication;
        EngineConfig {
            data_dir: s.data_dir.clone(),
            fsync: s.fsync.0,
            segment_bytes: s.segment_bytes,
            limits: Limits {
                max_payload_bytes: self.limits.max_payload_bytes,
                max_batch: self.limits.max_batch,
                max_search_limit: self.limits.max_search_limit,
            },
            snapshot_every_ops: s.snapshot_every_ops,
            snapshot_every_secs: s.snapshot_every_secs,
            snapshots_to_keep: s.snapshots_to_keep,
            retention: Retention {
                max_bytes: r.backlog_bytes.unwrap_or(s.retention_bytes),
                max_age: Duration::from_secs(r.backlog_secs.unwrap_or(s.retention_secs)),
            },
            index_threads: self.index.threads,
        }
    }
}

#[cfg(test)]
mod tests;
