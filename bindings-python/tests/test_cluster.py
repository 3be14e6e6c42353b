"""Cluster mode: write options (`w=`, `timeout_ms=`), `NoQuorumError`, `get_cluster`, newer stats fields."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

import vectorizer
from vectorizer import (
    AsyncClient,
    Client,
    ClusterFailoverMode,
    ClusterMemberRole,
    ControllerRole,
    MemberHealth,
    WriteConcern,
)

from conftest import StubServer, Vectorizer, fixture_text

WRITE_OK = '{"offset": 9, "affected": 1}'
NO_QUORUM = '{"error": {"code": "no_quorum", "message": "this master holds no valid lease"}}'
CLUSTER_VIEW: dict[str, Any] = {
    "node_id": 2, "failover": "auto", "controller_role": "leader", "term": 4, "leader_id": 2,
    "epoch": 3, "master_id": 2, "fenced": False, "writes_allowed": True,
    "members": [
        {"id": 1, "http": "127.0.0.1:15001", "repl": "127.0.0.1:16001", "raft": "127.0.0.1:17001", "priority": 1,
         "role": "replica", "controller_leader": False, "health": "unreachable", "epoch": 2,
         "applied_offset": 120, "last_seen_ms_ago": 10400},
        {"id": 3, "http": "127.0.0.1:15003", "repl": "127.0.0.1:16003", "raft": "127.0.0.1:17003", "priority": 0,
         "role": "master", "controller_leader": True, "health": "unknown", "epoch": None,
         "applied_offset": None, "last_seen_ms_ago": None, "from_a_future_server": True},
    ],
    "last_failover": {"at": "2026-11-27T08:00:00Z", "reason": "master 1 renewed no lease for 10000 ms",
                      "old_master": 1, "new_master": 2, "epoch": 3, "new_master_applied_offset": 118,
                      "ops_discarded": None},
}


def master(stub: Callable[..., StubServer], write: tuple[int, str] = (200, WRITE_OK)) -> StubServer:
    def handle(method: str, path: str, _: bytes) -> tuple[int, str]:
        if path == "/api/v1/replication/status":
            return 200, fixture_text("v1_2_master.json")
        if path == "/api/v1/cluster":
            return 200, json.dumps(CLUSTER_VIEW)
        return write

    return stub(handle)


def writes(server: StubServer) -> list[str]:
    return [f"{m} {p}" for m, p, _ in server.seen if m != "GET"]


def test_write_options_become_query_parameters(stub: Callable[..., StubServer]) -> None:
    server = master(stub)
    client = Client(server.url)
    client.create_collection("c", 2, w="majority", timeout_ms=1500)
    client.upsert("c", [{"id": "p", "vector": [1.0, 0.0]}], w=WriteConcern.ALL)
    client.delete("c", ["p"], w=1, timeout_ms=7)
    client.delete_collection("c", w="1")
    client.upsert("c", [{"id": "p", "vector": [1.0, 0.0]}])
    asyncio.run(AsyncClient(server.url).upsert("c", [{"id": "q", "vector": [0.0, 1.0]}], w="all", timeout_ms=20))
    assert writes(server) == [
        "POST /api/v1/collections?w=majority&timeout_ms=1500",
        "PUT /api/v1/collections/c/vectors?w=all",
        "POST /api/v1/collections/c/vectors/delete?w=1&timeout_ms=7",
        "DELETE /api/v1/collections/c?w=1",
        "PUT /api/v1/collections/c/vectors",
        "PUT /api/v1/collections/c/vectors?w=all&timeout_ms=20",
    ]


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"w": 2}, "w"),
        ({"w": "two"}, "w"),
        ({"w": "MAJORITY"}, "w"),
        ({"w": True}, "w"),
        ({"w": 1.0}, "w"),
        ({"timeout_ms": 0}, "timeout_ms"),
        ({"timeout_ms": -1}, "timeout_ms"),
        ({"timeout_ms": 300_001}, "timeout_ms"),
        ({"timeout_ms": 1.5}, "timeout_ms"),
        ({"timeout_ms": True}, "timeout_ms"),
    ],
)
def test_bad_write_options_raise_before_sending(
    stub: Callable[..., StubServer], kwargs: dict[str, Any], argument: str
) -> None:
    server = master(stub)
    with pytest.raises(vectorizer.ValidationError) as info:
        Client(server.url).upsert("c", [{"id": "p", "vector": [1.0]}], **kwargs)
    assert isinstance(info.value, ValueError)
    assert (info.value.code, info.value.status) == ("invalid_argument", None)
    assert str(info.value).startswith(f"invalid argument {argument}:"), str(info.value)
    assert writes(server) == []


def test_no_quorum_is_a_server_error_raised_after_one_attempt(stub: Callable[..., StubServer]) -> None:
    server = master(stub, (503, NO_QUORUM))
    with pytest.raises(vectorizer.NoQuorumError) as info:
        Client(server.url).upsert("c", [{"id": "p", "vector": [1.0]}], w="majority")
    assert isinstance(info.value, vectorizer.ServerError)
    assert (info.value.code, info.value.status) == ("no_quorum", 503)
    assert len(writes(server)) == 1


def test_get_cluster_parses_a_typed_view(stub: Callable[..., StubServer]) -> None:
    server = master(stub)
    view = Client(server.url).get_cluster()
    assert isinstance(view, vectorizer.ClusterView)
    assert (view.node_id, view.term, view.leader_id, view.epoch, view.master_id) == (2, 4, 2, 3, 2)
    assert view.failover is ClusterFailoverMode.AUTO and view.controller_role is ControllerRole.LEADER
    assert view.writes_allowed and not view.fenced
    first, other = view.members
    assert (first.role, first.health, first.applied_offset) == (ClusterMemberRole.REPLICA, MemberHealth.UNREACHABLE, 120)
    assert (other.epoch, other.applied_offset, other.last_seen_ms_ago) == (None, None, None)
    assert view.last_failover is not None
    assert view.last_failover.at == datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)
    assert (view.last_failover.old_master, view.last_failover.ops_discarded) == (1, None)
    assert asyncio.run(AsyncClient(server.url).get_cluster(server.url)).node_id == 2
    assert "ClusterView(node_id=2" in repr(view)


def test_ops_discarded_on_rejoin_is_none_from_older_servers() -> None:
    old = vectorizer.parse_replication_status(fixture_text("v1_2_replica.json"))
    assert old.stats is not None and old.stats.ops_discarded_on_rejoin is None
    newer = json.loads(fixture_text("v1_2_replica.json"))
    newer["stats"]["ops_discarded_on_rejoin"] = 4
    parsed = vectorizer.parse_replication_status(json.dumps(newer))
    assert parsed.stats is not None and parsed.stats.ops_discarded_on_rejoin == 4


def test_live_write_concerns_and_cluster_view(vectorizer_node: Vectorizer) -> None:
    client = Client(vectorizer_node.url)
    # A single node without replication is the only voter: majority and all are reached at once.
    client.create_collection("wc", 2, w="majority", timeout_ms=5000)
    assert client.upsert("wc", [{"id": "p", "vector": [1.0, 0.0]}], w=WriteConcern.ALL).affected == 1
    assert client.get("wc", "p").id == "p"
    assert client.delete("wc", ["p"], w="all", timeout_ms=1).affected == 1
    client.delete_collection("wc", w=1)
    with pytest.raises(vectorizer.ConflictError) as info:
        client.get_cluster()
    assert (info.value.code, info.value.status) == ("replication_conflict", 409)
