"""Fixtures: a fake ingest server, the real `lynex serve`, and the rule that no SDK error may be swallowed.

Every test runs with `lynex_sdk._errors.on_internal_error` recording; a test fails if the SDK swallowed
one of its own exceptions (the sentry-python habit: silent in production, loud in the SDK's tests).
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

import lynex_sdk
from lynex_sdk import _errors
from lynex_sdk.client import NoopClient, set_client


@pytest.fixture(autouse=True)
def no_internal_errors(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                       tmp_path: Path) -> Iterator[List[BaseException]]:
    """Record every error the SDK swallows; fail the test unless it is marked allow_internal_errors."""
    for var in ("LYNEX_API_KEY", "LYNEX_HOST", "LYNEX_ENVIRONMENT", "LYNEX_RELEASE", "LYNEX_ENABLED"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LYNEX_SPOOL_DIR", str(tmp_path / "default-spool"))  # never touch ~/.cache
    errors: List[BaseException] = []
    monkeypatch.setattr(_errors, "on_internal_error", errors.append)
    _errors.reset_warnings()
    yield errors
    previous = set_client(NoopClient())
    previous.shutdown(timeout=2.0)
    if request.node.get_closest_marker("allow_internal_errors") is None:
        assert not errors, f"the SDK swallowed internal errors: {errors!r}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_internal_errors: the test breaks the SDK on purpose")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeIngest:
    """A stdlib HTTP server on 127.0.0.1 speaking POST /v1/ingest; records every span it accepts.

    `responder(spans) -> (status, body_dict, headers)` decides the answer (default: 200, all accepted).
    `stop()` closes the port (connection refused); `start()` reopens the same port.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: List[Dict[str, Any]] = []
        self.spans: List[Dict[str, Any]] = []
        self.responder: Optional[Callable[[List[Dict[str, Any]]], Any]] = None
        self.hang = threading.Event()  # when set, requests are read but never answered
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                spans = json.loads(raw)["spans"]
                with fake._lock:
                    fake.requests.append({"path": self.path, "headers": dict(self.headers), "spans": spans})
                if fake.hang.is_set():
                    fake.hang_released.wait(30)
                    return
                status, body, headers = 200, {"accepted": len(spans), "rejected": []}, {}
                if fake.responder is not None:
                    status, body, headers = fake.responder(spans)
                if status in (200, 207):
                    rejected = {r["index"] for r in body.get("rejected", [])}
                    with fake._lock:
                        fake.spans.extend(s for i, s in enumerate(spans) if i not in rejected)
                data = json.dumps(body).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.hang_released = threading.Event()
        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self) -> None:
        self.hang_released.set()
        self.stop()

    def ids(self) -> List[str]:
        with self._lock:
            return [s["id"] for s in self.spans]

    def by_name(self, name: str) -> List[Dict[str, Any]]:
        with self._lock:
            return [s for s in self.spans if s.get("name") == name]


@pytest.fixture
def fake_ingest() -> Iterator[FakeIngest]:
    server = FakeIngest()
    yield server
    server.close()


@pytest.fixture
def sdk(fake_ingest: FakeIngest, tmp_path: Path) -> Callable[..., Any]:
    """init() the SDK against the fake ingest server with fast timings; returns a function taking overrides."""
    def start(**overrides: Any) -> Any:
        options: Dict[str, Any] = dict(api_key="lx_test", host=fake_ingest.url, flush_interval=0.05,
                                       spool_dir=str(tmp_path / "spool"), retry_backoff_base=0.05,
                                       retry_backoff_max=0.2, request_timeout=2.0)
        options.update(overrides)
        return lynex_sdk.init(**options)

    return start


# -- the real server ---------------------------------------------------------------------------------

class LynexServer:
    """`python -m lynex serve` in a subprocess on a free port with its own data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = data_dir / "server.log"
        out = subprocess.run([sys.executable, "-m", "lynex", "projects", "create", "sdk-tests", "--json",
                              "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"lynex projects create failed: {out.stderr}")
        self.project = json.loads(out.stdout.strip().splitlines()[-1])
        self.api_key: str = self.project["api_key"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "lynex", "serve", "--host", "127.0.0.1", "--port",
                                      str(self.port), "--data-dir", str(self.data_dir)],
                                     stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lynex serve exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"lynex serve not ready after {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def get(self, path: str) -> Any:
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.api_key}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def spans_of_trace(self, trace_id: str, expected: int, timeout: float = 20.0) -> List[Dict[str, Any]]:
        """Spans of a trace via GET /v1/spans?trace_id=, polling until `expected` are visible."""
        spans: List[Dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            spans, cursor = [], ""
            while True:
                page = self.get(f"/v1/spans?trace_id={trace_id}&limit=500" + (f"&cursor={cursor}" if cursor else ""))
                spans.extend(page["data"])
                cursor = page.get("next_cursor")
                if not cursor:
                    break
            if len(spans) >= expected:
                return spans
            time.sleep(0.2)
        return spans


@pytest.fixture(scope="session")
def lynex_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LynexServer]:
    try:
        import lynex  # noqa: F401
    except ImportError:
        pytest.skip("the lynex core is not installed (pip install -e .): skipping tests against `lynex serve`")
    server = LynexServer(tmp_path_factory.mktemp("lynex-data"))
    server.start()
    yield server
    server.stop()
