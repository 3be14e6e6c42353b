"""Typed use of every SDK method; checked with `mypy --strict` (scripts/sdk/test.sh) and run by the
live tests (`python examples/typed_usage.py URL`)."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

from vectorizer import (
    AsyncClient,
    Client,
    ClusterView,
    CollectionInfo,
    ConflictError,
    Metric,
    NotFoundError,
    ReplicaInfo,
    ReplicaStatus,
    ReplicationRole,
    ReplicationStatus,
    ScoredPoint,
    VectorizerError,
    WriteConcern,
    WriteResponse,
)


def lag_of(status: ReplicationStatus) -> int | None:
    # stats is None on pre-1.2 servers and when replication is disabled: narrow before use.
    if status.stats is None:
        return None
    last: datetime | None = status.stats.last_sync
    if last is not None:
        assert last.tzinfo is not None
    return status.stats.lag_ms


def unhealthy(status: ReplicationStatus) -> list[str]:
    replicas: list[ReplicaInfo] = status.replicas or []
    return [r.id for r in replicas if r.status is not ReplicaStatus.CONNECTED]


def run(url: str) -> None:
    client = Client(url, timeout=10.0)
    assert client.health().status == "ok"
    client.create_collection("typed", 2, Metric.DOT, m=8, ef_construction=64, ef_search=32)
    client.upsert("typed", [{"id": "p1", "vector": [1.0, 0.0], "payload": {"tag": "a"}}, {"id": "p2", "vector": [0.0, 1.0]}])
    info: CollectionInfo = client.get_collection("typed")
    assert info.metric is Metric.DOT and info.vector_count == 2
    assert [c.name for c in client.list_collections()] == ["typed"]
    point = client.get("typed", "p1")
    assert point.payload is not None and point.payload["tag"] == "a"
    hits: list[ScoredPoint] = client.search("typed", [1.0, 0.1], 2, with_payload=True)
    assert hits[0].id == "p1"
    durable: WriteResponse = client.upsert("typed", [{"id": "p3", "vector": [0.5, 0.5]}], w="majority", timeout_ms=5000)
    assert durable.affected == 1
    client.delete("typed", ["p2"], w=WriteConcern.ALL)
    client.delete("typed", ["p3"], w=1)
    try:
        view: ClusterView = client.get_cluster()
        print("cluster term:", view.term, "master:", view.master_id)
    except ConflictError as e:
        assert e.code == "replication_conflict"
    try:
        client.get("typed", "p2")
    except NotFoundError as e:
        assert e.code == "point_not_found" and e.status == 404
    status = client.get_replication_status()
    digest = client.get_digest()
    assert [c.name for c in digest.collections] == ["typed"] and digest.applied_offset > 0
    assert status.role is ReplicationRole.MASTER
    print("lag:", lag_of(status), "unhealthy:", unhealthy(status))
    try:
        print("replicas:", len(client.list_replicas()))
        print("snapshot bytes:", client.create_snapshot().bytes)
    except VectorizerError as e:
        print("not available here:", e.code)
    try:
        client.promote(url)  # a master cannot be promoted: a typed conflict
    except VectorizerError as e:
        print("promote:", e.code, e.status)
    try:
        client.replica_of(url, None)
    except VectorizerError as e:
        print("replica_of:", e.code, e.status)
    client.delete_collection("typed", w="all", timeout_ms=1000)

    async def use_async() -> ReplicationStatus:
        aclient = AsyncClient([url])
        await aclient.health()
        try:
            await aclient.get_cluster()
        except ConflictError:
            pass
        return await aclient.get_replication_status()

    assert asyncio.run(use_async()).role is ReplicationRole.MASTER


if __name__ == "__main__":
    run(sys.argv[1])
