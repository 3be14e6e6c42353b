"""The stub's result classes match sdk-types (via typeshare's generated Python models).

`bindings-python/generated/sdk_types.py` is regenerated from `sdk-types` by scripts/sdk/gen-types.sh
(and checked against git). Here every class of the stub must have exactly the generated fields,
with compatible types (timestamps become `datetime`, payloads `dict`).
"""

from __future__ import annotations

import ast

import vectorizer

from conftest import REPO

GENERATED = REPO / "bindings-python/generated/sdk_types.py"
STUB = REPO / "bindings-python/python/vectorizer/_vectorizer.pyi"
TIMESTAMPS = {"last_sync", "last_heartbeat", "link_down_since", "created_at", "at"}
CLASSES = [
    "HealthResponse", "HnswParams", "CollectionInfo", "WriteResponse", "PointRecord", "ScoredPoint",
    "SnapshotInfo", "SyncProgress", "ReplicationStats", "ReplicaInfo", "ReplicationStatus",
    "CollectionDigest", "DigestResponse", "ClusterMember", "FailoverInfo", "ClusterView",
]
ENUMS = {
    "Metric", "ReplicaStatus", "ReplicationRole", "ClusterFailoverMode", "ControllerRole", "ClusterMemberRole",
    "MemberHealth",
}
BASE = {"str": "str", "int": "int", "bool": "bool", "float": "float", "Payload": "dict[str, Any]"}


def generated_fields() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for node in ast.parse(GENERATED.read_text()).body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = {
                f.target.id: ast.unparse(f.annotation)
                for f in node.body
                if isinstance(f, ast.AnnAssign) and isinstance(f.target, ast.Name)
            }
    return out


def stub_fields() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for node in ast.parse(STUB.read_text()).body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = {
                f.name: ast.unparse(f.returns)
                for f in node.body
                if isinstance(f, ast.FunctionDef) and f.returns is not None and any(
                    isinstance(d, ast.Name) and d.id == "property" for d in f.decorator_list)
            }
    return out


def expected_stub_type(field: str, generated: str) -> str:
    optional = generated.startswith("Optional[")
    inner = generated[len("Optional["):-1] if optional else generated
    if field in TIMESTAMPS:
        inner = "datetime"
    elif inner.startswith("List["):
        inner = f"list[{BASE.get(inner[5:-1], inner[5:-1])}]"
    else:
        inner = BASE.get(inner, inner)
    return f"{inner} | None" if optional else inner


def test_stub_classes_match_generated_models() -> None:
    generated, stub = generated_fields(), stub_fields()
    for name in CLASSES:
        want = {f: expected_stub_type(f, t) for f, t in generated[name].items()}
        assert stub[name] == want, name


def test_enums_match_generated_enums() -> None:
    tree = ast.parse(GENERATED.read_text())
    checked: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in ENUMS:
            values = {ast.literal_eval(a.value) for a in node.body if isinstance(a, ast.Assign)}
            assert values == {m.value for m in getattr(vectorizer, node.name)}, node.name
            checked.add(node.name)
    assert checked == ENUMS


def test_runtime_objects_expose_the_stub_fields() -> None:
    status = vectorizer.parse_replication_status((REPO / "tests/fixtures/replication/v1_2_replica.json").read_text())
    assert status.stats is not None
    for obj, name in [(status, "ReplicationStatus"), (status.stats, "ReplicationStats")]:
        for field in stub_fields()[name]:
            getattr(obj, field)
