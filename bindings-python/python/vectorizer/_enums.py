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
