"""Shared test helpers: repository paths, a scripted loopback HTTP server, a real `vectorizer` process."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "replication"

Handler = Callable[[str, str, bytes], tuple[int, str]]


class StubServer:
    """Loopback HTTP server answering each request with `handler(method, path, body)`."""

    def __init__(self, handler: Handler) -> None:
        self.seen: list[tuple[str, str, bytes]] = []
        outer = self

        class RequestHandler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                outer.seen.append((self.command, self.path, body))
                status, reply = handler(self.command, self.path, body)
                data = reply.encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stub() -> Iterator[Callable[[Handler], StubServer]]:
    servers: list[StubServer] = []

    def start(handler: Handler) -> StubServer:
        server = StubServer(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


class Vectorizer:
    """A real `vectorizer serve` process on an ephemeral loopback port."""

    def __init__(self, binary: str) -> None:
        self.dir = tempfile.TemporaryDirectory()
        self.proc = subprocess.Popen(
            [binary, "serve", "--data-dir", self.dir.name, "--http-addr", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        self.pump = threading.Thread(target=self._pump, args=(lines,), daemon=True)
        self.pump.start()
        try:
            addr = lines.get(timeout=60)
        except queue.Empty:
            self.close()
            raise RuntimeError("vectorizer did not print its ready line within 60 s") from None
        self.url = f"http://{addr}"

    def _pump(self, lines: "queue.Queue[str]") -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == "ready":
                lines.put(event["http_addr"])

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.pump.join(10)  # the pipe reaches EOF once the process is gone
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.dir.cleanup()


@pytest.fixture
def vectorizer_node() -> Iterator[Vectorizer]:
    binary = os.environ.get("VECTORIZER_BIN")
    if not binary:
        pytest.skip("VECTORIZER_BIN is not set")
    node = Vectorizer(binary)
    yield node
    node.close()
