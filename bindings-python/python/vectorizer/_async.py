"""`AsyncClient`: the asyncio face of `Client`.

Each call runs the blocking `Client` method in a worker thread (`asyncio.to_thread`); the native
call releases the GIL, so concurrent calls proceed in parallel. No logic lives here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from ._enums import Metric, WriteConcern
from ._vectorizer import (
    Client,
    ClusterView,
    CollectionInfo,
    DigestResponse,
    HealthResponse,
    PointRecord,
    ReplicaInfo,
    ReplicationStatus,
    ScoredPoint,
    SnapshotInfo,
    WriteResponse,
)


_W = WriteConcern | Literal[1, "1", "majority", "all"]


class AsyncClient:
    """Asynchronous client; same constructor and methods as `Client`, as coroutines."""

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        read_preference: str = "master",
        vector_encoding: str = "array",
    ) -> None:
        self._client = Client(
            url, api_key=api_key, timeout=timeout, read_preference=read_preference, vector_encoding=vector_encoding
        )

    @property
    def endpoints(self) -> list[str]:
        return self._client.endpoints

    async def master_endpoint(self) -> str:
        return await asyncio.to_thread(self._client.master_endpoint)

    async def health(self, endpoint: str | None = None) -> HealthResponse:
        return await asyncio.to_thread(self._client.health, endpoint)

    async def create_collection(
        self,
        name: str,
        dimension: int,
        metric: Metric | str | None = None,
        *,
        m: int | None = None,
        ef_construction: int | None = None,
        ef_search: int | None = None,
        w: _W | None = None,
        timeout_ms: int | None = None,
    ) -> WriteResponse:
        return await asyncio.to_thread(
            self._client.create_collection,
            name,
            dimension,
            metric,
            m=m,
            ef_construction=ef_construction,
            ef_search=ef_search,
            w=w,
            timeout_ms=timeout_ms,
        )

    async def list_collections(self) -> list[CollectionInfo]:
        return await asyncio.to_thread(self._client.list_collections)

    async def get_collection(self, name: str) -> CollectionInfo:
        return await asyncio.to_thread(self._client.get_collection, name)

    async def delete_collection(
        self, name: str, *, w: _W | None = None, timeout_ms: int | None = None
    ) -> WriteResponse:
        return await asyncio.to_thread(self._client.delete_collection, name, w=w, timeout_ms=timeout_ms)

    async def upsert(
        self,
        collection: str,
        points: Iterable[Mapping[str, Any]],
        *,
        w: _W | None = None,
        timeout_ms: int | None = None,
    ) -> WriteResponse:
        return await asyncio.to_thread(self._client.upsert, collection, list(points), w=w, timeout_ms=timeout_ms)

    async def get(self, collection: str, id: str) -> PointRecord:
        return await asyncio.to_thread(self._client.get, collection, id)

    async def delete(
        self, collection: str, ids: Sequence[str], *, w: _W | None = None, timeout_ms: int | None = None
    ) -> WriteResponse:
        return await asyncio.to_thread(self._client.delete, collection, ids, w=w, timeout_ms=timeout_ms)

    async def search(
        self,
        collection: str,
        vector: Sequence[float],
        limit: int = 10,
        *,
        with_payload: bool = False,
        exact: bool = False,
        ef_search: int | None = None,
    ) -> list[ScoredPoint]:
        return await asyncio.to_thread(
            self._client.search,
            collection,
            vector,
            limit,
            with_payload=with_payload,
            exact=exact,
            ef_search=ef_search,
        )

    async def create_snapshot(self) -> SnapshotInfo:
        return await asyncio.to_thread(self._client.create_snapshot)

    async def get_replication_status(self, endpoint: str | None = None) -> ReplicationStatus:
        return await asyncio.to_thread(self._client.get_replication_status, endpoint)

    async def list_replicas(self) -> list[ReplicaInfo]:
        return await asyncio.to_thread(self._client.list_replicas)

    async def promote(self, endpoint: str) -> ReplicationStatus:
        return await asyncio.to_thread(self._client.promote, endpoint)

    async def replica_of(self, endpoint: str, master: str | None) -> ReplicationStatus:
        return await asyncio.to_thread(self._client.replica_of, endpoint, master)

    async def get_digest(self, endpoint: str | None = None) -> DigestResponse:
        return await asyncio.to_thread(self._client.get_digest, endpoint)

    async def get_cluster(self, endpoint: str | None = None) -> ClusterView:
        return await asyncio.to_thread(self._client.get_cluster, endpoint)
