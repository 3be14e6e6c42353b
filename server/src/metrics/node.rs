//! Engine and replication metrics, computed at scrape time from one read of each source.
//!
//! Invariant: every replication number comes from ONE `Replication::status()` document taken at the
//! start of the scrape (the same function that answers `GET /api/v1/replication/status`), converted
//! only in unit (`lag_ms` -> seconds, RFC 3339 -> Unix seconds) or by a difference of two of its own
//! fields (`lag_operations` = `master_offset` - `acked_offset`). Nothing is cached between scrapes
//! and nothing is estimated. Series that the status reports as null are absent, not zero.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use vectorizer_core::cluster::Controller;
use vectorizer_core::engine::{Engine, SnapshotSummary};
use vectorizer_core::replication::Replication;
use vectorizer_sdk_types::{
    ClusterView, CollectionInfo, MemberHealth, ReplicaInfo, ReplicaStatus, ReplicationRole, ReplicationStats,
    ReplicationStatus, SyncProgress,
};

/// Every replica status, in the order the state-set series are written.
pub const ALL_STATUSES: [ReplicaStatus; 4] =
    [ReplicaStatus::Connected, ReplicaStatus::Syncing, ReplicaStatus::Lagging, ReplicaStatus::Disconnected];

/// What one scrape reports about the node, read once at the start of the scrape.
#[derive(Debug, Clone)]
pub struct NodeSnapshot {
    pub collections: Vec<CollectionInfo>,
    /// Offset of the newest operation in the log.
    pub last_offset: u64,
    /// fsyncs issued by the log since start.
    pub fsyncs: u64,
    /// The last snapshot written or loaded (the source of `stats.snapshot_size`).
    pub snapshot: Option<SnapshotSummary>,
    /// `GET /api/v1/replication/status` as of this scrape.
    pub replication: ReplicationStatus,
    /// Links dropped because a replica's backlog exceeded the cap (None without replication).
    pub buffer_overflows: Option<u64>,
    /// `GET /api/v1/cluster` as of this scrape (cluster mode only).
    pub cluster: Option<ClusterView>,
}

impl NodeSnapshot {
    /// Reads the engine and, when enabled, the replication runtime. Blocking (the master-side lag
    /// reads an append time from the log): call it on the blocking pool.
    pub fn take(engine: &Engine, replication: Option<&Replication>, cluster: Option<&Controller>) -> Self {
        let replication_status = match replication {
            Some(r) => r.status(),
            None => engine.replication_status(),
        };
        Self {
            collections: engine.list_collections().collections,
            last_offset: engine.last_offset(),
            fsyncs: engine.fsync_count(),
            snapshot: engine.last_snapshot(),
            replication: replication_status,
            buffer_overflows: replication
                .map(|r| r.shared().counters.buffer_overflows.load(std::sync::atomic::Ordering::Relaxed)),
            cluster: cluster.map(Controller::view),
        }
    }
}

/// Label pairs of one series.
type Labels = Vec<(&'static str, String)>;

/// Writes metric families: a descriptor, then one sample per label set. Families without samples
/// are left out entirely.
struct Families<'a>(DescriptorEncoder<'a>);

impl Families<'_> {
    fn family<M: EncodeMetric>(
        &mut self,
        name: &str,
        help: &str,
        metric_type: MetricType,
        samples: Vec<(Labels, M)>,
    ) -> fmt::Result {
        if samples.is_empty() {
            return Ok(());
        }
        // The same final period `Registry::register` gives the live families' help texts.
        let help = format!("{help}.");
        let mut metric = self.0.encode_descriptor(name, &help, None, metric_type)?;
        for (labels, sample) in &samples {
            sample.encode(metric.encode_family(labels)?)?;
        }
        Ok(())
    }

    /// A gauge family.
    fn gauges<V: EncodeGaugeValue + fmt::Debug>(
        &mut self,
        name: &str,
        help: &str,
        samples: Vec<(Labels, V)>,
    ) -> fmt::Result {
        let samples = samples.into_iter().map(|(l, v)| (l, ConstGauge::new(v))).collect();
        self.family(name, help, MetricType::Gauge, samples)
    }

    /// A gauge without labels, absent when `value` is None.
    fn gauge<V: EncodeGaugeValue + fmt::Debug>(&mut self, name: &str, help: &str, value: Option<V>) -> fmt::Result {
        self.gauges(name, help, value.map(|v| (Vec::new(), v)).into_iter().collect())
    }

    /// A counter family; `name` is without the `_total` suffix the encoder appends.
    fn counters(&mut self, name: &str, help: &str, samples: Vec<(Labels, u64)>) -> fmt::Result {
        let samples = samples.into_iter().map(|(l, v)| (l, ConstCounter::new(v))).collect();
        self.family(name, help, MetricType::Counter, samples)
    }

    /// A counter without labels, absent when `value` is None.
    fn counter(&mut self, name: &str, help: &str, value: Option<u64>) -> fmt::Result {
        self.counters(name, help, value.map(|v| (Vec::new(), v)).into_iter().collect())
    }
}

impl Collector for NodeSnapshot {
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        let mut f = Families(encoder);
        self.encode_engine(&mut f)?;
        self.encode_replication(&mut f)?;
        if let Some(replicas) = &self.replication.replicas {
            let master_offset = self.replication.stats.as_ref().and_then(|s| s.master_offset);
            encode_replicas(&mut f, replicas, master_offset)?;
        }
        if let Some(view) = &self.cluster {
            encode_cluster(&mut f, view)?;
        }
        Ok(())
    }
}

impl NodeSnapshot {
    fn encode_engine(&self, f: &mut Families<'_>) -> fmt::Result {
        f.gauges(
            "vectorizer_build_info",
            "Always 1; the version label is the server's version",
            vec![(vec![("version", env!("CARGO_PKG_VERSION").to_owned())], 1u64)],
        )?;
        f.gauge("vectorizer_collections", "Collections on this node", Some(self.collections.len() as u64))?;
        f.gauge(
            "vectorizer_vectors",
            "Live points (vectors) over all collections",
            Some(self.collections.iter().map(|c| c.vector_count).sum::<u64>()),
        )?;
        let per_collection = |value: fn(&CollectionInfo) -> u64| {
            self.collections.iter().map(|c| (vec![("collection", c.name.clone())], value(c))).collect::<Vec<_>>()
        };
        f.gauges("vectorizer_collection_vectors", "Live points of one collection", per_collection(|c| c.vector_count))?;
        f.gauges(
            "vectorizer_collection_indexed_vectors",
            "Live points of one collection already linked into its HNSW graph (the rest are searched exactly)",
            per_collection(|c| c.indexed_count),
        )?;
        f.gauge(
            "vectorizer_log_last_offset",
            "Offset of the newest operation in this node's log",
            Some(self.last_offset),
        )?;
        f.counter("vectorizer_log_fsyncs", "fsync calls issued by the operation log since start", Some(self.fsyncs))?;
        let snap = self.snapshot.as_ref();
        f.gauge(
            "vectorizer_snapshot_size_bytes",
            "Size of the last snapshot this node wrote, loaded or received (0 = none yet); stats.snapshot_size",
            Some(snap.map_or(0, |s| s.bytes)),
        )?;
        f.gauge(
            "vectorizer_snapshot_duration_seconds",
            "Time spent writing the last snapshot (0 for one loaded at start-up or installed by a full sync)",
            Some(snap.map_or(0.0, |s| s.duration.as_secs_f64())),
        )?;
        f.gauge(
            "vectorizer_snapshot_offset",
            "Log offset covered by the last snapshot (0 = none yet)",
            Some(snap.map_or(0, |s| s.offset)),
        )?;
        f.gauge(
            "vectorizer_snapshot_timestamp_seconds",
            "When the last snapshot was written, Unix seconds (0 = none yet)",
            Some(snap.map_or(0.0, |s| s.created_at_ms as f64 / 1000.0)),
        )
    }

    fn encode_replication(&self, f: &mut Families<'_>) -> fmt::Result {
        let status = &self.replication;
        f.gauge(
            "vectorizer_replication_enabled",
            "1 when replication runs on this node",
            Some(u64::from(status.enabled)),
        )?;
        let role = |r: ReplicationRole| (vec![("role", role_label(r).to_owned())], u64::from(status.role == r));
        f.gauges(
            "vectorizer_replication_role",
            "1 for the node's current role (master or replica), 0 for the other",
            vec![role(ReplicationRole::Master), role(ReplicationRole::Replica)],
        )?;
        f.counter(
            "vectorizer_replication_buffer_overflows",
            "Replica links dropped because the replica's unacknowledged backlog exceeded replica_buffer_bytes",
            self.buffer_overflows,
        )?;
        let Some(stats) = &status.stats else { return Ok(()) };
        encode_stats(f, stats)
    }
}

fn encode_stats(f: &mut Families<'_>, stats: &ReplicationStats) -> fmt::Result {
    f.gauge(
        "vectorizer_replication_epoch",
        "Replication epoch (incremented by each promotion); stats.epoch",
        stats.epoch,
    )?;
    f.gauge(
        "vectorizer_replication_master_offset",
        "Master: offset of its last operation. Replica: last master offset it has heard of; stats.master_offset",
        stats.master_offset,
    )?;
    f.gauge(
        "vectorizer_replication_applied_offset",
        "Offset of the last operation applied on this node; stats.applied_offset",
        stats.applied_offset,
    )?;
    f.gauge(
        "vectorizer_replication_lag_seconds",
        "Master: max lag over connected replicas. Replica: time since it was last known caught up; stats.lag_ms / 1000",
        Some(ms_to_seconds(stats.lag_ms)),
    )?;
    f.gauge(
        "vectorizer_replication_operations_pending",
        "Master: master offset - min acknowledged offset over connected replicas. Replica: master offset heard - applied offset; stats.operations_pending",
        Some(stats.operations_pending),
    )?;
    f.counter(
        "vectorizer_replication_sent_bytes",
        "Bytes written to replication sockets (master: to replicas; replica: to its master), persisted; stats.bytes_sent",
        Some(stats.bytes_sent),
    )?;
    f.counter(
        "vectorizer_replication_received_bytes",
        "Bytes read from replication sockets, persisted; stats.bytes_received",
        Some(stats.bytes_received),
    )?;
    f.counter(
        "vectorizer_replication_full_syncs",
        "Completed full syncs (master: served; replica: performed); stats.full_syncs",
        stats.full_syncs,
    )?;
    f.counter(
        "vectorizer_replication_partial_syncs",
        "Completed partial syncs (CONTINUE); stats.partial_syncs",
        stats.partial_syncs,
    )?;
    f.counter(
        "vectorizer_replication_ops_discarded_on_rejoin",
        "Operations discarded when this node rejoined a newer master after a failover (beyond the fork point, never acknowledged at majority), persisted; stats.ops_discarded_on_rejoin",
        stats.ops_discarded_on_rejoin,
    )?;
    f.gauge(
        "vectorizer_replication_last_sync_timestamp_seconds",
        "When the last full or partial sync completed, Unix seconds; stats.last_sync (absent until the first)",
        stats.last_sync.as_deref().and_then(rfc3339_seconds),
    )?;
    f.gauge(
        "vectorizer_replication_connected_replicas",
        "Master: replicas whose status is not Disconnected; stats.connected_replicas",
        stats.connected_replicas,
    )?;
    if let Some(link) = stats.status {
        f.gauges(
            "vectorizer_replication_link_status",
            "Replica: 1 for the current status of the link to the master, 0 for the others; stats.status",
            status_set(Vec::new(), link),
        )?;
    }
    f.gauge(
        "vectorizer_replication_link_down_since_timestamp_seconds",
        "Replica: when the link to the master went down, Unix seconds (absent while up); stats.link_down_since",
        stats.link_down_since.as_deref().and_then(rfc3339_seconds),
    )?;
    encode_progress(f, "vectorizer_replication", Vec::new(), stats.sync_progress)
}

/// Cluster mode: the controller as this node sees it (`GET /api/v1/cluster`).
fn encode_cluster(f: &mut Families<'_>, view: &ClusterView) -> fmt::Result {
    let flag = |b: bool| i64::from(b);
    f.gauge("vectorizer_cluster_term", "Controller (Raft) term this node knows; cluster.term", Some(view.term as i64))?;
    f.gauge("vectorizer_cluster_epoch", "Committed replication epoch; cluster.epoch", Some(view.epoch as i64))?;
    f.gauge(
        "vectorizer_cluster_master_id",
        "Committed master's node id (absent before the first master); cluster.master_id",
        view.master_id.map(|m| m as i64),
    )?;
    f.gauge(
        "vectorizer_cluster_leader_id",
        "Controller leader this node knows (absent while none); cluster.leader_id",
        view.leader_id.map(|m| m as i64),
    )?;
    f.gauge(
        "vectorizer_cluster_writes_allowed",
        "1 while this node is the master and holds a valid lease (accepts writes); cluster.writes_allowed",
        Some(flag(view.writes_allowed)),
    )?;
    f.gauge(
        "vectorizer_cluster_fenced",
        "1 while a master change is in progress; cluster.fenced",
        Some(flag(view.fenced)),
    )?;
    f.gauges(
        "vectorizer_cluster_member_healthy",
        "1 when the member answered its last probe in time, by member id; cluster.members[].health",
        view.members
            .iter()
            .map(|m| (vec![("member", m.id.to_string())], flag(m.health == MemberHealth::Healthy)))
            .collect(),
    )?;
    f.gauge(
        "vectorizer_cluster_last_failover_timestamp_seconds",
        "When the last master change was decided, Unix seconds (absent before the first); cluster.last_failover.at",
        view.last_failover.as_ref().and_then(|l| rfc3339_seconds(&l.at)),
    )
}

fn encode_replicas(f: &mut Families<'_>, replicas: &[ReplicaInfo], master_offset: Option<u64>) -> fmt::Result {
    let id = |r: &ReplicaInfo| vec![("replica", r.id.clone())];
    let each = |value: &dyn Fn(&ReplicaInfo) -> Option<u64>| {
        replicas.iter().filter_map(|r| value(r).map(|v| (id(r), v))).collect::<Vec<_>>()
    };
    f.gauges(
        "vectorizer_replica_info",
        "Always 1 per replica the master knows; host and port as the replica announced them",
        replicas
            .iter()
            .map(|r| (vec![("replica", r.id.clone()), ("host", r.host.clone()), ("port", r.port.to_string())], 1u64))
            .collect(),
    )?;
    f.gauges(
        "vectorizer_replica_status",
        "1 for the replica's current status (Connected, Syncing, Lagging, Disconnected), 0 for the others; replicas[].status",
        replicas.iter().flat_map(|r| status_set(id(r), r.status)).collect(),
    )?;
    f.gauges(
        "vectorizer_replica_lag_seconds",
        "0 if the replica acknowledged the master's last offset, else time since the oldest operation it has not acknowledged was appended; replicas[].lag_ms / 1000",
        replicas.iter().map(|r| (id(r), ms_to_seconds(r.lag_ms))).collect(),
    )?;
    f.gauges(
        "vectorizer_replica_lag_operations",
        "Operations the replica has not acknowledged: stats.master_offset - replicas[].acked_offset",
        each(&|r| Some(master_offset?.saturating_sub(r.acked_offset?))),
    )?;
    f.gauges(
        "vectorizer_replica_acked_offset",
        "Last offset the replica acknowledged as applied; replicas[].acked_offset",
        each(&|r| r.acked_offset),
    )?;
    f.counters(
        "vectorizer_replica_synced_operations",
        "Operations acknowledged by the replica, persisted; replicas[].operations_synced",
        each(&|r| Some(r.operations_synced)),
    )?;
    f.counters(
        "vectorizer_replica_sent_bytes",
        "Bytes the master wrote to this replica's sockets, persisted; replicas[].bytes_sent",
        each(&|r| r.bytes_sent),
    )?;
    f.counters(
        "vectorizer_replica_full_syncs",
        "Full syncs served to this replica, persisted; replicas[].full_syncs",
        each(&|r| r.full_syncs),
    )?;
    f.counters(
        "vectorizer_replica_partial_syncs",
        "Partial syncs served to this replica, persisted; replicas[].partial_syncs",
        each(&|r| r.partial_syncs),
    )?;
    f.gauges(
        "vectorizer_replica_last_heartbeat_timestamp_seconds",
        "When the last frame from the replica arrived, Unix seconds; replicas[].last_heartbeat",
        replicas.iter().filter_map(|r| rfc3339_seconds(&r.last_heartbeat).map(|t| (id(r), t))).collect(),
    )?;
    for r in replicas {
        encode_progress(f, "vectorizer_replica", id(r), r.sync_progress)?;
    }
    Ok(())
}

/// Full-sync transfer progress (only while a full sync runs).
fn encode_progress(f: &mut Families<'_>, prefix: &str, labels: Labels, progress: Option<SyncProgress>) -> fmt::Result {
    let Some(p) = progress else { return Ok(()) };
    f.gauges(
        &format!("{prefix}_sync_transferred_bytes"),
        "Full sync in progress: snapshot bytes transferred so far; sync_progress.bytes_done",
        vec![(labels.clone(), p.bytes_done)],
    )?;
    f.gauges(
        &format!("{prefix}_sync_snapshot_bytes"),
        "Full sync in progress: size of the snapshot being transferred; sync_progress.bytes_total",
        vec![(labels, p.bytes_total)],
    )
}

/// One series per status, 1 for `current` and 0 for the others (a state set).
fn status_set(labels: Labels, current: ReplicaStatus) -> Vec<(Labels, u64)> {
    ALL_STATUSES
        .iter()
        .map(|s| {
            let mut l = labels.clone();
            l.push(("status", status_label(*s).to_owned()));
            (l, u64::from(*s == current))
        })
        .collect()
}

/// The `status` label value: the wire name (`Connected`, ...).
pub fn status_label(status: ReplicaStatus) -> &'static str {
    match status {
        ReplicaStatus::Connected => "Connected",
        ReplicaStatus::Syncing => "Syncing",
        ReplicaStatus::Lagging => "Lagging",
        ReplicaStatus::Disconnected => "Disconnected",
    }
}

/// The `role` label value: the wire name (`master`, `replica`).
pub fn role_label(role: ReplicationRole) -> &'static str {
    match role {
        ReplicationRole::Master => "master",
        ReplicationRole::Replica => "replica",
    }
}

/// Milliseconds as seconds (exact for every value the API can report, < 2^53).
pub fn ms_to_seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// An RFC 3339 timestamp of the API as Unix seconds (millisecond precision).
pub fn rfc3339_seconds(text: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_millis() as f64 / 1000.0)
}
