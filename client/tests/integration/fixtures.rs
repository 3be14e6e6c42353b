//! Migration tests: every recorded status response parses to the right typed values, both through
//! `parse_replication_status` and through a real HTTP exchange with `Client`.

use vectorizer_client::types::{ReplicaStatus, ReplicationRole, ReplicationStatus};
use vectorizer_client::{Client, parse_replication_status};

use crate::support::{StubServer, fixture};

/// Parses `name` both ways and checks that they agree.
async fn parse_both(name: &str) -> ReplicationStatus {
    let text = fixture(name);
    let parsed = parse_replication_status(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let served = text.clone();
    let server = StubServer::start(move |_| (200, served.clone())).await;
    let client = Client::connect([&server.url]).expect("client");
    let fetched = client.get_replication_status(Some(&server.url)).await.expect("fetch");
    assert_eq!(parsed, fetched, "{name}: HTTP path and parser disagree");
    parsed
}

#[tokio::test]
async fn pre_1_2_response_has_null_stats_and_replicas() {
    let s = parse_both("pre_1_2.json").await;
    assert_eq!(s.role, ReplicationRole::Master);
    assert!(s.enabled);
    assert!(s.stats.is_none());
    assert!(s.replicas.is_none());
}

#[tokio::test]
async fn v1_2_master_spec_example_parses_verbatim() {
    let s = parse_both("v1_2_master.json").await;
    let stats = s.stats.expect("stats");
    assert_eq!(stats.role, ReplicationRole::Master);
    assert_eq!(stats.lag_ms, 0);
    assert_eq!(stats.bytes_sent, 1_048_576);
    assert_eq!(stats.bytes_received, 0);
    assert_eq!(stats.last_sync.as_deref(), Some("2024-10-24T12:00:00Z"));
    assert_eq!(stats.operations_pending, 0);
    assert_eq!(stats.snapshot_size, 524_288);
    assert_eq!(stats.connected_replicas, Some(2));
    assert_eq!(stats.epoch, None);
    let replicas = s.replicas.expect("replicas");
    assert_eq!(replicas.len(), 1);
    let r = &replicas[0];
    assert_eq!((r.id.as_str(), r.host.as_str(), r.port), ("replica-1", "192.168.1.10", 6381));
    assert_eq!(r.status, ReplicaStatus::Connected);
    assert_eq!(r.lag_ms, 5);
    assert_eq!(r.last_heartbeat, "2024-10-24T12:00:00Z");
    assert_eq!(r.operations_synced, 1000);
    assert_eq!(r.acked_offset, None);
}

#[tokio::test]
async fn v1_2_replica_response_has_null_replicas_and_link_status() {
    let s = parse_both("v1_2_replica.json").await;
    assert_eq!(s.role, ReplicationRole::Replica);
    assert!(s.replicas.is_none());
    let stats = s.stats.expect("stats");
    assert_eq!(stats.role, ReplicationRole::Replica);
    assert_eq!(stats.lag_ms, 12);
    assert_eq!(stats.bytes_received, 2_097_152);
    assert_eq!(stats.operations_pending, 3);
    assert_eq!(stats.connected_replicas, None);
    assert_eq!(stats.status, Some(ReplicaStatus::Connected));
    assert_eq!(stats.master.as_deref(), Some("127.0.0.1:7400"));
    assert_eq!((stats.epoch, stats.applied_offset, stats.master_offset), (Some(2), Some(1500), Some(1503)));
    assert_eq!(stats.sync_progress, None);
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let s = parse_both("extra_fields.json").await;
    let stats = s.stats.expect("stats");
    assert_eq!(stats.lag_ms, 7);
    assert_eq!(stats.last_sync, None);
    assert_eq!(stats.connected_replicas, Some(1));
    let replicas = s.replicas.expect("replicas");
    assert_eq!(replicas[0].status, ReplicaStatus::Lagging);
    assert_eq!(replicas[0].lag_ms, 1500);
    assert_eq!(replicas[0].last_heartbeat, "2024-10-24T12:00:00.250+00:00");
}

#[tokio::test]
async fn disabled_replication_has_nulls() {
    let s = parse_both("disabled.json").await;
    assert_eq!(s.role, ReplicationRole::Master);
    assert!(!s.enabled);
    assert!(s.stats.is_none() && s.replicas.is_none());
}

#[test]
fn a_response_missing_a_spec_field_is_a_typed_error_not_a_panic() {
    let err = parse_replication_status(r#"{"role":"master"}"#).expect_err("must fail");
    assert_eq!(err.code(), "invalid_response");
    let err = parse_replication_status(r#"{"role":"leader","enabled":true,"stats":null,"replicas":null}"#)
        .expect_err("unknown role");
    assert_eq!(err.code(), "invalid_response");
}
