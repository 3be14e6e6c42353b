"""Migration tests: recorded status responses parse to typed values, via the parser and over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

import vectorizer
from vectorizer import ReplicaStatus, ReplicationRole, ReplicationStatus

from conftest import StubServer, fixture_text

UTC = timezone.utc


@pytest.fixture(params=["parser", "http"])
def load(request: pytest.FixtureRequest, stub: Callable[..., StubServer]) -> Callable[[str], ReplicationStatus]:
    def parse(name: str) -> ReplicationStatus:
        text = fixture_text(name)
        if request.param == "parser":
            return vectorizer.parse_replication_status(text)
        server = stub(lambda method, path, body: (200, text))
        return vectorizer.Client(server.url).get_replication_status(server.url)

    return parse


def test_pre_1_2_has_none_stats_and_replicas(load: Callable[[str], ReplicationStatus]) -> None:
    s = load("pre_1_2.json")
    assert s.role is ReplicationRole.MASTER
    assert s.enabled is True
    assert s.stats is None
    assert s.replicas is None


def test_v1_2_master_spec_example(load: Callable[[str], ReplicationStatus]) -> None:
    s = load("v1_2_master.json")
    assert s.stats is not None and s.replicas is not None
    assert s.stats.role is ReplicationRole.MASTER
    assert (s.stats.lag_ms, s.stats.bytes_sent, s.stats.bytes_received) == (0, 1048576, 0)
    assert s.stats.last_sync == datetime(2024, 10, 24, 12, 0, tzinfo=UTC)
    assert s.stats.last_sync.tzinfo is not None
    assert (s.stats.operations_pending, s.stats.snapshot_size, s.stats.connected_replicas) == (0, 524288, 2)
    assert s.stats.epoch is None and s.stats.status is None
    r = s.replicas[0]
    assert (r.id, r.host, r.port) == ("replica-1", "192.168.1.10", 6381)
    assert r.status is ReplicaStatus.CONNECTED and r.status == "Connected"
    assert r.lag_ms == 5 and r.operations_synced == 1000
    assert r.last_heartbeat == datetime(2024, 10, 24, 12, 0, tzinfo=UTC)
    assert r.acked_offset is None and r.sync_progress is None


def test_v1_2_replica(load: Callable[[str], ReplicationStatus]) -> None:
    s = load("v1_2_replica.json")
    assert s.role is ReplicationRole.REPLICA
    assert s.replicas is None
    assert s.stats is not None
    assert s.stats.role is ReplicationRole.REPLICA
    assert (s.stats.lag_ms, s.stats.bytes_received, s.stats.operations_pending) == (12, 2097152, 3)
    assert s.stats.connected_replicas is None
    assert s.stats.status is ReplicaStatus.CONNECTED
    assert s.stats.master == "127.0.0.1:7400"
    assert (s.stats.epoch, s.stats.applied_offset, s.stats.master_offset) == (2, 1500, 1503)
    assert s.stats.link_down_since is None and s.stats.last_error is None


def test_unknown_fields_are_ignored(load: Callable[[str], ReplicationStatus]) -> None:
    s = load("extra_fields.json")
    assert s.stats is not None and s.replicas is not None
    assert s.stats.lag_ms == 7 and s.stats.last_sync is None
    assert not hasattr(s, "cluster_id") and not hasattr(s.stats, "compression_ratio")
    r = s.replicas[0]
    assert r.status is ReplicaStatus.LAGGING
    assert r.last_heartbeat == datetime(2024, 10, 24, 12, 0, 0, 250000, tzinfo=UTC)
    assert r.last_heartbeat.utcoffset() == timedelta(0)


def test_disabled_replication(load: Callable[[str], ReplicationStatus]) -> None:
    s = load("disabled.json")
    assert s.enabled is False and s.stats is None and s.replicas is None


def test_broken_response_is_a_typed_error() -> None:
    with pytest.raises(vectorizer.ServerError) as info:
        vectorizer.parse_replication_status('{"role": "master"}')
    assert info.value.code == "invalid_response"
    assert info.value.status is None


def test_replica_list_parses() -> None:
    replicas = vectorizer.parse_replica_list('{"replicas": [], "extra": 1}')
    assert replicas == []
