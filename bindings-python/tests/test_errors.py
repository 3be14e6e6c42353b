"""Every error class surfaces as its exception subclass with `code` and HTTP `status`."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import pytest

import vectorizer
from vectorizer import Client

from conftest import StubServer, fixture_text


def error(code: str, message: str = "m", master: str | None = None) -> str:
    extra = f', "master": "{master}"' if master else ""
    return f'{{"error": {{"code": "{code}", "message": "{message}"{extra}}}}}'


def node(stub: Callable[..., StubServer], status: int, body: str) -> StubServer:
    def handle(method: str, path: str, _: bytes) -> tuple[int, str]:
        if path == "/api/v1/replication/status":
            return 200, fixture_text("disabled.json")
        return status, body

    return stub(handle)


@pytest.mark.parametrize(
    ("status", "code", "cls", "builtin"),
    [
        (404, "collection_not_found", vectorizer.NotFoundError, LookupError),
        (404, "point_not_found", vectorizer.NotFoundError, LookupError),
        (409, "collection_exists", vectorizer.ConflictError, None),
        (400, "dimension_mismatch", vectorizer.ValidationError, ValueError),
        (400, "invalid_argument", vectorizer.ValidationError, ValueError),
        (413, "payload_too_large", vectorizer.ValidationError, ValueError),
        (503, "unavailable", vectorizer.ServerError, None),
        (503, "no_quorum", vectorizer.NoQuorumError, None),
        (500, "internal", vectorizer.ServerError, None),
        (504, "write_concern_timeout", vectorizer.VectorizerTimeoutError, TimeoutError),
        (418, "from_a_future_server", vectorizer.ValidationError, ValueError),
    ],
)
def test_server_errors_map_to_classes(
    stub: Callable[..., StubServer], status: int, code: str, cls: type[Exception], builtin: type[Exception] | None
) -> None:
    server = node(stub, status, error(code, "details here"))
    with pytest.raises(cls) as info:
        Client(server.url).get_collection("c")
    assert isinstance(info.value, vectorizer.VectorizerError)
    assert info.value.code == code
    assert info.value.status == status
    assert "details here" in str(info.value)
    if builtin is ValueError:
        assert isinstance(info.value, ValueError)
    if builtin is TimeoutError:
        assert isinstance(info.value, TimeoutError)


def test_read_only_replica_after_one_retry(stub: Callable[..., StubServer]) -> None:
    server = node(stub, 409, error("read_only_replica", "replica", master="10.9.9.9:1"))
    with pytest.raises(vectorizer.ReadOnlyReplicaError) as info:
        Client(server.url, timeout=2).upsert("c", [{"id": "a", "vector": [1.0]}])
    assert isinstance(info.value, vectorizer.ConflictError)
    assert (info.value.code, info.value.status, info.value.master) == ("read_only_replica", 409, "10.9.9.9:1")
    assert sum(1 for m, _, _ in server.seen if m == "PUT") == 2


def test_unreachable_endpoint_is_a_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    client = Client(dead, timeout=2)
    with pytest.raises(vectorizer.VectorizerConnectionError) as info:
        client.health(dead)
    assert isinstance(info.value, ConnectionError)
    assert (info.value.code, info.value.status) == ("connection_failed", None)
    with pytest.raises(vectorizer.VectorizerConnectionError) as info:
        client.list_collections()
    assert info.value.code == "no_master"


def test_timeout_is_a_timeout_error(stub: Callable[..., StubServer]) -> None:
    release = threading.Event()

    def hang(method: str, path: str, _: bytes) -> tuple[int, str]:
        release.wait(30)
        return 200, "{}"

    server = stub(hang)
    try:
        with pytest.raises(vectorizer.VectorizerTimeoutError) as info:
            Client(server.url, timeout=0.3).health(server.url)
        assert isinstance(info.value, TimeoutError)
        assert info.value.code == "timeout"
    finally:
        release.set()


def test_bad_arguments_raise_value_errors() -> None:
    with pytest.raises(ValueError):
        Client("ftp://x")
    with pytest.raises(ValueError):
        Client([])
    with pytest.raises(ValueError):
        Client("http://h:1", timeout=-1)
    with pytest.raises(ValueError):
        Client("http://h:1", read_preference="nearest")
    client = Client("http://127.0.0.1:9")
    with pytest.raises(ValueError):
        client.create_collection("c", 3, "manhattan")
    with pytest.raises(ValueError):
        client.upsert("c", [{"id": "a", "vector": [1.0], "payload": {"x": object()}}])
    with pytest.raises(ValueError):
        client.upsert("c", [{"id": "a", "vector": [1.0], "payload": [1]}])
