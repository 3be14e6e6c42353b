"""Live tests against a real `vectorizer` process (`VECTORIZER_BIN`; skipped when unset)."""

from __future__ import annotations

import struct
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


def test_base64_vector_encoding_round_trips_exact_values(vectorizer_node: Vectorizer) -> None:
    client = Client(vectorizer_node.url, vector_encoding="base64")
    client.create_collection("b64", 4, Metric.EUCLIDEAN)
    # float32-exact values (Python floats are f64; these survive the f32 round trip unchanged).
    a = [0.5, -0.0, 1.25e-30, 3.0e38]
    b = [0.1, 0.2, 0.3, 0.4]
    assert client.upsert("b64", [{"id": "a", "vector": a, "payload": {"k": 1}}, {"id": "b", "vector": b}]).affected == 2
    got = client.get("b64", "a")
    assert [struct.pack("<f", x) for x in got.vector] == [struct.pack("<f", x) for x in a]
    assert got.payload == {"k": 1}
    assert [struct.pack("<f", x) for x in client.get("b64", "b").vector] == [struct.pack("<f", x) for x in b]
    hits = client.search("b64", b, 1, exact=True)
    assert hits[0].id == "b" and hits[0].score == 0.0
    with pytest.raises(vectorizer.ValidationError) as bad:
        client.upsert("b64", [{"id": "nan", "vector": [float("nan"), 0, 0, 0]}])
    assert bad.value.code == "invalid_argument"
    assert client.get_collection("b64").vector_count == 2
    with pytest.raises(vectorizer.ValidationError):
        Client(vectorizer_node.url, vector_encoding="json")


def test_typed_example_runs(vectorizer_node: Vectorizer) -> None:
    import typed_usage

    typed_usage.run(vectorizer_node.url)
