"""Vectorizer Python SDK: a typed, master-aware client built on the Rust client.

`Client` (blocking, releases the GIL) and `AsyncClient` (asyncio) accept one endpoint or a list of
endpoints of one cluster; writes go to the discovered master, reads follow `read_preference`.
Results are typed objects (`ReplicationStatus`, `ReplicaInfo`, ...); `None` where the wire has
`null`; timestamps are timezone-aware `datetime`s. Errors derive from `VectorizerError`.
Every write accepts `w=` (`1`, `"majority"`, `"all"` or a `WriteConcern`) and `timeout_ms=`.
"""

from ._async import AsyncClient
from ._enums import (
    ClusterFailoverMode,
    ClusterMemberRole,
    ControllerRole,
    MemberHealth,
    Metric,
    ReplicaStatus,
    ReplicationRole,
    WriteConcern,
)
from ._errors import (
    ConflictError,
    NoQuorumError,
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
    ClusterMember,
    ClusterView,
    CollectionDigest,
    CollectionInfo,
    DigestResponse,
    FailoverInfo,
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
    "ClusterFailoverMode",
    "ClusterMember",
    "ClusterMemberRole",
    "ClusterView",
    "CollectionDigest",
    "CollectionInfo",
    "DigestResponse",
    "ConflictError",
    "ControllerRole",
    "FailoverInfo",
    "HealthResponse",
    "HnswParams",
    "MemberHealth",
    "Metric",
    "NoQuorumError",
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
    "WriteConcern",
    "WriteResponse",
    "__version__",
    "api_methods",
    "parse_replica_list",
    "parse_replication_status",
]
