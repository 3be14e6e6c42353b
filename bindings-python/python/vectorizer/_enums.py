"""Enumerations of the wire protocol (values are the exact JSON strings)."""

from __future__ import annotations

from enum import Enum


class ReplicationRole(str, Enum):
    """Role of a node."""

    MASTER = "master"
    REPLICA = "replica"


class ReplicaStatus(str, Enum):
    """Health of a replication link."""

    CONNECTED = "Connected"
    SYNCING = "Syncing"
    LAGGING = "Lagging"
    DISCONNECTED = "Disconnected"


class Metric(str, Enum):
    """Distance function of a collection."""

    COSINE = "cosine"
    DOT = "dot"
    EUCLIDEAN = "euclidean"
