"""Live tests against a real `vectorizer` process (`VECTORIZER_BIN`; skipped when unset)."""

from __future__ import annotations

import sys

import pytest

import vectorizer
from vectorizer import Client, Metric, ReplicationRole

from conftest import REPO, Vectorizer

sys.path.insert(0, str(REPO / "bindings-python" / "examples"))


def test_create_upsert_search_status(vectorizer_node: Vectorizer) -> None:
    client = Client(vectorizer_node.url)
    client.create_collection("live", 3, Metric.COSINE)
    with pytest.raises(vectorizer.ConflictError) as info:
        client.create_collection("live", 3)
    assert (info.value.code, info.value.status) == ("collection_exists", 409)
    write = client.upsert("live", [{"id": "a/1", "vector": [1, 0, 0], "payload": {"k": 1}}, {"id": "b", "vector": [0, 1, 0]}])
    assert write.affected == 2
    hits = client.search("live", [1, 0.1, 0], 2, with_payload=True)
    assert [h.id for h in hits] == ["a/1", "b"]
    assert hits[0].payload == {"k": 1} and hits[1].payload is None
    with pytest.raises(vectorizer.ValidationError) as bad:
        client.search("live", [1, 0], 2)
    assert bad.value.code == "dimension_mismatch" and isinstance(bad.value, ValueError)
    with pytest.raises(vectorizer.NotFoundError):
        client.get("live", "missing")
    status = client.get_replication_status()
    assert status.role is ReplicationRole.MASTER


def test_typed_example_runs(vectorizer_node: Vectorizer) -> None:
    import typed_usage

    typed_usage.run(vectorizer_node.url)
