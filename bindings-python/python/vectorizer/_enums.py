"""Enumerations of the wire protocol (values are the exact JSON strings)."""

from __future__ import annotations

from enum import StrEnum


class ReplicationRole(StrEnum):
    """Role of a node."""

    MASTER = "master"
    REPLICA = "replica"


class ReplicaStatus(StrEnum):
    """Health of a replication link."""

    CONNECTED = "Connected"
    SYNCING = "Syncing"
    LAGGING = "Lagging"
    DISCONNECTED = "Disconnected"


class Metric(StrEnum):
    """Distance function of a collection."""

    COSINE = "cosine"
    DOT = "dot"
    EUCLIDEAN = "euclidean"


class WriteConcern(StrEnum):
    """How many voting nodes must hold a write durable before it is acknowledged (``w=``)."""

    ONE = "1"
    MAJORITY = "majority"
    ALL = "all"


class ClusterFailoverMode(StrEnum):
    """How a cluster chooses a new master when the master fails."""

    AUTO = "auto"
    MANUAL = "manual"


class ControllerRole(StrEnum):
    """Role of a node in the cluster controller's Raft group."""

    LEADER = "leader"
    FOLLOWER = "follower"
    CANDIDATE = "candidate"
    LEARNER = "learner"
    SHUTDOWN = "shutdown"


class ClusterMemberRole(StrEnum):
    """Role of a cluster member in the data path, per the committed controller state."""

    MASTER = "master"
    REPLICA = "replica"


class MemberHealth(StrEnum):
    """Reachability of a cluster member as seen from the reporting node."""

    HEALTHY = "healthy"
    UNREACHABLE = "unreachable"
    UNKNOWN = "unknown"
