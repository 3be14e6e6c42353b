"""Vectorizer Python SDK: a typed, master-aware client built on the Rust client.

`Client` (blocking, releases the GIL) and `AsyncClient` (asyncio) accept one endpoint or a list of
endpoints of one cluster; writes go to the discovered master, reads follow `read_preference`.
Results are typed objects (`ReplicationStatus`, `ReplicaInfo`, ...); `None` where the wire has
`null`; timestamps are timezone-aware `datetime`s. Errors derive from `VectorizerError`.
"""

from ._async import AsyncClient
from ._enums import Metric, ReplicaStatus, ReplicationRole
from ._errors import (
    ConflictError,
    NotFoundError,
    ReadOnlyReplicaError,
    ServerError,
    ValidationError,
    VectorizerConnectionError,
    VectorizerError,
    VectorizerTimeoutError,
)
from ._vectorizer import (
    Client,
    CollectionDigest,
    CollectionInfo,
    DigestResponse,
    HealthResponse,
    HnswParams,
    PointRecord,
    ReplicaInfo,
    ReplicationStats,
    ReplicationStatus,
    ScoredPoint,
    SnapshotInfo,
    SyncProgress,
    WriteResponse,
    __version__,
    api_methods,
    parse_replica_list,
    parse_replication_status,
)

__all__ = [
    "AsyncClient",
    "Client",
    "CollectionDigest",
    "CollectionInfo",
    "DigestResponse",
    "ConflictError",
    "HealthResponse",
    "HnswParams",
    "Metric",
    "NotFoundError",
    "PointRecord",
    "ReadOnlyReplicaError",
    "ReplicaInfo",
    "ReplicaStatus",
    "ReplicationRole",
    "ReplicationStats",
    "ReplicationStatus",
    "ScoredPoint",
    "ServerError",
    "SnapshotInfo",
    "SyncProgress",
    "ValidationError",
    "VectorizerConnectionError",
    "VectorizerError",
    "VectorizerTimeoutError",
    "WriteResponse",
    "__version__",
    "api_methods",
    "parse_replica_list",
    "parse_replication_status",
]
