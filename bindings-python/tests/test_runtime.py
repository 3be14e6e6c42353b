"""The GIL is released during calls (threads overlap), the client survives fork, payloads round-trip."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable

import pytest

import vectorizer
from vectorizer import Client

from conftest import StubServer, fixture_text

CALLERS = 4


def test_concurrent_calls_overlap(stub: Callable[..., StubServer]) -> None:
    # Each request blocks until all CALLERS requests are in flight: holding the GIL in one call
    # would keep the others from starting, and the barrier would break after its timeout.
    barrier = threading.Barrier(CALLERS, timeout=20)

    def handle(method: str, path: str, _: bytes) -> tuple[int, str]:
        barrier.wait()
        return 200, '{"status": "ok", "version": "1.2.0"}'

    server = stub(handle)
    client = Client(server.url, timeout=30)
    results: list[str] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            results.append(client.health(server.url).status)
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(CALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and results == ["ok"] * CALLERS


def test_client_works_in_a_forked_child(stub: Callable[..., StubServer]) -> None:
    server = stub(lambda m, p, b: (200, fixture_text("v1_2_master.json")))
    client = Client(server.url)
    assert client.get_replication_status().stats is not None
    pid = os.fork()
    if pid == 0:
        try:
            ok = client.get_replication_status().role is vectorizer.ReplicationRole.MASTER
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    # Poll the child with a deadline: a child stuck on a lock inherited from the parent must fail
    # the test, not hang the suite.
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child did not finish within 60 s")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0
    assert client.get_replication_status().enabled is True


def test_points_and_payloads_round_trip(stub: Callable[..., StubServer]) -> None:
    def handle(method: str, path: str, body: bytes) -> tuple[int, str]:
        if path == "/api/v1/replication/status":
            return 200, fixture_text("disabled.json")
        if method == "PUT":
            return 200, json.dumps({"offset": 3, "affected": len(json.loads(body)["vectors"])})
        return 200, json.dumps({"id": "a/b", "vector": [0.5, 1.0], "payload": {"n": [1, 2.5, None, True, "s"]}})

    server = stub(handle)
    client = Client(server.url)
    payload = {"n": [1, 2.5, None, True, "s"], "nested": {"k": (1, 2)}}
    write = client.upsert("c", [{"id": "a/b", "vector": [0.5, 1.0], "payload": payload}, {"id": "x", "vector": [1, 2]}])
    assert (write.offset, write.affected) == (3, 2)
    sent = json.loads(next(b for m, _, b in server.seen if m == "PUT"))
    assert sent["vectors"][0] == {"id": "a/b", "vector": [0.5, 1.0], "payload": {"n": [1, 2.5, None, True, "s"], "nested": {"k": [1, 2]}}}
    assert sent["vectors"][1]["payload"] is None
    record = client.get("c", "a/b")
    assert ("GET", "/api/v1/collections/c/vectors/a%2Fb") in [(m, p) for m, p, _ in server.seen]
    assert record.payload == {"n": [1, 2.5, None, True, "s"]}
    assert record.vector == [0.5, 1.0]


def test_async_client_runs_calls_concurrently(stub: Callable[..., StubServer]) -> None:
    import asyncio

    barrier = threading.Barrier(CALLERS, timeout=20)

    def handle(method: str, path: str, _: bytes) -> tuple[int, str]:
        if path == "/api/v1/replication/status":
            barrier.wait()
            return 200, fixture_text("v1_2_replica.json")
        return 404, '{"error": {"code": "not_found", "message": "no route"}}'

    server = stub(handle)

    async def main() -> list[vectorizer.ReplicationStatus]:
        client = vectorizer.AsyncClient(server.url, timeout=30)
        return await asyncio.gather(*(client.get_replication_status(server.url) for _ in range(CALLERS)))

    statuses = asyncio.run(main())
    assert [s.role for s in statuses] == [vectorizer.ReplicationRole.REPLICA] * CALLERS
