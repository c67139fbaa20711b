"""The background worker that ships spans: bounded queue, batching, gzip, retries, spool, fork safety.

The calling thread only appends to a deque (`submit` never blocks and returns False when full). One daemon
thread drains it in batches (100 spans, 1 MiB or every flush_interval), POSTs them to /v1/ingest, and
on failure backs off (exponential, jittered, honouring Retry-After) while batches go to the disk spool,
which is drained once the server answers again.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import random
import threading
import time
import weakref
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Tuple, Union
from urllib.parse import urlsplit

from ._errors import guard, logger, report_internal_error, warn_once
from .config import Config
from .spool import Spool
from .stats import Stats

USER_AGENT = "lynex-sdk-python"
#: Longest a retry of one batch may sleep in line; longer waits go through the spool instead.
MAX_INLINE_RETRY_SLEEP = 2.0


class _Marker:
    """Put in the queue by flush(): set once everything queued before it has been handled."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = threading.Event()


Item = Union[Dict[str, Any], _Marker]


class Transport:
    """Ships span dicts to the Lynex server from one background thread."""

    def __init__(self, config: Config, stats: Stats, spool: Optional[Spool] = None) -> None:
        self._cfg = config
        self._stats = stats
        self._spool = spool if spool is not None else _open_spool(config, stats)
        url = urlsplit(config.ingest_url)
        self._https = url.scheme == "https"
        self._netloc_host = url.hostname or "127.0.0.1"
        self._port = url.port
        self._path = url.path
        self._headers = {
            "Authorization": f"Bearer {config.api_key}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **dict(config.extra_headers),
        }
        if config.gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._rng = random.Random()
        self._closed = False
        self._init_process_state()
        ref = weakref.ref(self)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=lambda: _call_after_fork(ref))

    def _init_process_state(self) -> None:
        self._pid = os.getpid()
        self._queue: Deque[Item] = deque()
        self._wake = threading.Event()
        self._start_lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._stopping = False
        self._conn: Optional[http.client.HTTPConnection] = None
        self._inflight: List[bytes] = []
        self._failures = 0
        self._backoff_until = 0.0

    # -- calling-thread side -------------------------------------------------------------------

    def submit(self, span: Dict[str, Any]) -> bool:
        """Queue one span for sending; never blocks; False (and counted) when it cannot be taken."""
        if self._pid != os.getpid():
            self._after_fork()
        if self._closed:
            self._stats.drop("shutdown")
            return False
        queue = self._queue
        if len(queue) >= self._cfg.max_queue_size:
            self._stats.drop("queue_full")
            return False
        queue.append(span)
        if self._thread is None:
            self._start()
        if len(queue) >= self._cfg.batch_max_spans and not self._wake.is_set():
            self._wake.set()
        return True

    def queued(self) -> int:
        """Spans waiting in memory."""
        return sum(1 for item in list(self._queue) if not isinstance(item, _Marker))

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is sent or spooled; returns False at the deadline."""
        if self._pid != os.getpid():
            self._after_fork()
        if self._thread is None and not self._queue:
            return True
        marker = _Marker()
        self._queue.append(marker)
        if self._thread is None:
            self._start()
        self._wake.set()
        return marker.event.wait(max(0.0, timeout))

    def shutdown(self, timeout: float) -> bool:
        """Flush within `timeout`, stop the worker; whatever is still unsent at the deadline is spooled."""
        if self._stopping:
            return not self._queue and not self._inflight  # already shut down
        deadline = time.monotonic() + max(0.0, timeout)
        self._closed = True
        flushed = self.flush(timeout)
        self._stopping = True
        self._wake.set()
        if not flushed:
            self._evacuate()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
        return flushed

    def spool_bytes(self) -> int:
        """Bytes waiting in the offline spool."""
        return self._spool.pending_bytes() if self._spool is not None else 0

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            thread = threading.Thread(target=self._run, name="lynex-sdk-worker", daemon=True)
            thread.start()
            self._thread = thread

    def _after_fork(self) -> None:
        """In a forked child: the parent's thread, queue contents and locks are not ours; start fresh."""
        self._init_process_state()
        self._stats.reset_lock()
        if self._spool is not None:
            self._spool.after_fork()

    def _evacuate(self) -> None:
        """At the shutdown deadline: move queued and in-flight spans to the spool so a later run sends them."""
        with guard():
            lines = list(self._inflight)
            dropped = 0
            while True:
                try:
                    item = self._queue.popleft()
                except IndexError:
                    break
                if isinstance(item, _Marker):
                    item.event.set()
                elif self._spool is None:
                    dropped += 1
                else:
                    data = self._encode(item)
                    if data is not None:
                        lines.append(data)
            if self._spool is not None and lines:
                self._spool.append(lines)
            elif self._spool is None:
                self._stats.drop("shutdown", dropped + len(lines))

    # -- worker side -------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self._next_wait())
            self._wake.clear()
            try:
                self._drain_queue()
                if not self._stopping:
                    self._drain_spool()
            except Exception as exc:  # keep the worker alive whatever happens
                report_internal_error(exc)
            if self._stopping and not self._queue:
                break
        with guard():
            if self._conn is not None:
                self._conn.close()

    def _next_wait(self) -> float:
        wait = self._cfg.flush_interval
        if self._spool is None and self._backoff_until:
            wait = min(wait, max(0.01, self._backoff_until - time.monotonic()))
        return wait

    def _circuit_open(self) -> bool:
        return time.monotonic() < self._backoff_until

    def _drain_queue(self) -> None:
        batch: List[bytes] = []
        size = 0
        max_spans, max_bytes = self._cfg.batch_max_spans, self._cfg.batch_max_bytes
        while True:
            if self._spool is None and self._circuit_open() and not self._stopping:
                return  # no spool: the queue itself buffers until the backoff ends
            try:
                item = self._queue.popleft()
            except IndexError:
                break
            if isinstance(item, _Marker):
                self._ship(batch)
                batch, size = [], 0
                item.event.set()
                continue
            data = self._encode(item)
            if data is None:
                continue
            if batch and size + len(data) > max_bytes:
                self._ship(batch)
                batch, size = [], 0
            batch.append(data)
            size += len(data) + 1
            if len(batch) >= max_spans:
                self._ship(batch)
                batch, size = [], 0
        self._ship(batch)

    def _encode(self, span: Dict[str, Any]) -> Optional[bytes]:
        try:
            return json.dumps(span, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")
        except (TypeError, ValueError) as exc:  # e.g. a cycle introduced by before_send
            self._stats.drop("unserializable")
            warn_once("unserializable", f"lynex_sdk dropped a span that is not JSON-serializable: {exc}")
            return None

    def _ship(self, batch: List[bytes]) -> None:
        """Deliver a batch from the queue, or put it in the spool when the server is unavailable."""
        if not batch:
            return
        if self._circuit_open():
            self._park(batch)
            return
        self._inflight = batch
        try:
            if not self._deliver(batch):
                self._park(batch)
        finally:
            self._inflight = []

    def _park(self, batch: List[bytes]) -> None:
        if self._spool is not None:
            self._spool.append(batch)
        else:
            self._stats.drop("network_error", len(batch))

    def _drain_spool(self) -> None:
        """Send one spooled segment if the server is healthy and the queue is not waiting on us."""
        spool = self._spool
        if spool is None or self._circuit_open() or len(self._queue) >= self._cfg.batch_max_spans:
            return
        claim = spool.claim()
        if claim is None:
            return
        lines: List[bytes] = []
        try:
            lines = spool.read(claim)
            step = self._cfg.batch_max_spans
            while lines:
                batch = _take_batch(lines, step, self._cfg.batch_max_bytes)
                if not self._deliver(batch):
                    break
                lines = lines[len(batch):]
        finally:
            if lines:
                spool.release(claim, lines)
            else:
                spool.done(claim)
        if not lines and spool.has_pending():
            self._wake.set()  # more to send: come straight back

    def _deliver(self, batch: List[bytes]) -> bool:
        """POST a batch with retries; True when the server has decided on every span (accepted or rejected)."""
        attempt = 0
        while True:
            status, retry_after, body = self._post(batch)
            if status is not None and 200 <= status < 300:
                self._on_success(batch, status, body)
                return True
            if status == 413 and len(batch) > 1:
                half = len(batch) // 2
                return self._deliver(batch[:half]) and self._deliver(batch[half:])
            if status is not None and 400 <= status < 500 and status != 429:
                self._on_rejected(batch, status)
                return True
            # Connection error, 429, or 5xx: worth retrying.
            delay = retry_after if retry_after is not None else self._backoff(attempt)
            if attempt >= self._cfg.max_retries or delay > MAX_INLINE_RETRY_SLEEP or self._stopping:
                self._failures += 1
                wait = max(delay, self._backoff(self._failures))
                self._backoff_until = time.monotonic() + wait
                logger.debug("lynex_sdk: server unavailable (status %s); backing off %.1fs", status, wait)
                return False
            attempt += 1
            time.sleep(delay)

    def _on_success(self, batch: List[bytes], status: int, body: bytes) -> None:
        self._failures = 0
        self._backoff_until = 0.0
        rejected = 0
        if status == 207:
            rejected = _count_rejected(body, len(batch))
            if rejected:
                self._stats.drop("rejected", rejected)
                warn_once("207", f"lynex_sdk: the server rejected {rejected} span(s): {body[:500]!r}")
        self._stats.add_sent(len(batch) - rejected)

    def _on_rejected(self, batch: List[bytes], status: int) -> None:
        self._failures = 0
        self._backoff_until = 0.0
        self._stats.drop("rejected", len(batch))
        hint = {401: "check the API key (LYNEX_API_KEY)", 403: "the API key lacks the 'ingest' scope",
                413: "a single span is larger than the server accepts"}.get(status, "")
        warn_once(f"http{status}", f"lynex_sdk: the server refused spans with HTTP {status}. {hint}".strip())

    def _backoff(self, attempt: int) -> float:
        cap = min(self._cfg.retry_backoff_max, self._cfg.retry_backoff_base * (2.0 ** min(attempt, 30)))
        return cap / 2 + self._rng.uniform(0, cap / 2)  # "equal jitter"

    def _post(self, batch: List[bytes]) -> Tuple[Optional[int], Optional[float], bytes]:
        """One POST; returns (status or None on connection error, Retry-After seconds, body)."""
        body = b'{"spans":[' + b",".join(batch) + b"]}"
        if self._cfg.gzip:
            body = gzip.compress(body, compresslevel=5)
        for fresh in (False, True):
            reused = self._conn is not None
            conn = self._connection()
            try:
                conn.request("POST", self._path, body=body, headers=self._headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self._drop_connection()
                return resp.status, _retry_after(resp.getheader("Retry-After")), data
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                if reused and not fresh:
                    continue  # a kept-alive connection went stale (server restarted): retry once at once
                logger.debug("lynex_sdk: POST %s failed: %r", self._path, exc)
                return None, None, b""
        return None, None, b""  # pragma: no cover

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._netloc_host, self._port, timeout=self._cfg.request_timeout)
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with guard():
                conn.close()


def _call_after_fork(ref: "weakref.ReferenceType[Transport]") -> None:
    transport = ref()
    if transport is not None:
        with guard():
            transport._after_fork()


def _open_spool(config: Config, stats: Stats) -> Optional[Spool]:
    directory = config.resolved_spool_dir()
    if directory is None:
        return None
    try:
        return Spool(directory, config.spool_max_bytes, stats)
    except OSError as exc:
        warn_once("spool", f"lynex_sdk: offline spool disabled, cannot use {directory!r}: {exc}")
        return None


def _take_batch(lines: List[bytes], max_spans: int, max_bytes: int) -> List[bytes]:
    size = 0
    for i, line in enumerate(lines[:max_spans]):
        size += len(line) + 1
        if i and size > max_bytes:
            return lines[:i]
    return lines[:max_spans]


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _count_rejected(body: bytes, batch_size: int) -> int:
    try:
        rejected = json.loads(body).get("rejected") or []
        return min(len(rejected), batch_size)
    except (ValueError, AttributeError):
        return 0
