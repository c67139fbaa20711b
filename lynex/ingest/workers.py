"""Enrichment in a separate process, so it runs on another core instead of contending for the GIL.

The server process already spends its GIL on HTTP, validation and the ingest log; building
Arrow rows costs ~12 µs per span more. A worker process turns encoded records into Arrow tables;
a worker that dies is replaced and the batch retried; a batch that kills two workers is
processed in-thread, where a bad record is isolated.

Transport: batches are tens of MB, so they do not travel through the socket. Each side writes
its payload into an anonymous memory file (``memfd``) and passes the file descriptor over a
``SOCK_SEQPACKET`` socket pair; the reader maps it. The parent's tables point straight into the
mapping (no copy, no chunked reads under the GIL); the memory is freed when the last table
using it is gone. Where memfd is missing an unlinked temporary file does the same job.
"""

from __future__ import annotations

import logging
import mmap
import multiprocessing as mp
import os
import select
import socket
import struct
import tempfile
import threading

import msgspec
import pyarrow as pa

from lynex import memory
from lynex.ingest.processor import Enricher
from lynex.ingest.wal import Record
from lynex.storage.schema import COLUMN_NAMES

log = logging.getLogger(__name__)

_records_encoder = msgspec.msgpack.Encoder()
_records_decoder = msgspec.msgpack.Decoder(list[Record])
_SIZES = struct.Struct("<QQ")  # after a one-byte tag: the sizes of the (up to) two files passed
_MAX_ERROR = 60_000  # an error message fits one packet


def _memfile(data) -> int:
    """A file descriptor of an anonymous in-memory file holding ``data`` (bytes or an Arrow buffer)."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("lynex-batch", os.MFD_CLOEXEC)
    else:  # pragma: no cover - non-Linux
        handle = tempfile.TemporaryFile()
        fd = os.dup(handle.fileno())
        handle.close()
    view = memoryview(data)
    written = 0
    while written < len(view):
        written += os.write(fd, view[written:])
    return fd


def _mapped(fd: int, size: int):
    """A read-only mapping of ``size`` bytes of ``fd`` (closed here); ``b""`` when empty."""
    try:
        return mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ) if size else b""
    finally:
        os.close(fd)


def _send(sock: socket.socket, tag: bytes, payloads: list) -> None:
    fds = [_memfile(p) for p in payloads]
    try:
        sizes = [len(memoryview(p)) for p in payloads] + [0] * (2 - len(payloads))
        socket.send_fds(sock, [tag + _SIZES.pack(*sizes)], fds)
    finally:
        for fd in fds:
            os.close(fd)


def _receive(sock: socket.socket) -> tuple[bytes, list]:
    """(tag, mapped payloads) of the next message; ``(b"E", [message])`` for an error; EOFError."""
    msg, fds, _, _ = socket.recv_fds(sock, _MAX_ERROR + 64, 2)
    if not msg:
        for fd in fds:
            os.close(fd)
        raise EOFError("the other side closed the connection")
    tag = msg[:1]
    if tag == b"E":
        return tag, [msg[1:]]
    sizes = _SIZES.unpack_from(msg, 1)
    return tag, [_mapped(fd, size) for fd, size in zip(fds, sizes)]


def _ipc(table: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _worker_main(sock: socket.socket, prices_file: str, max_text_bytes: int, search_max_chars: int) -> None:
    """Loop of the worker process: records in, Arrow IPC streams (or an error) out."""
    from lynex.ingest.enrich.cost import load_price_table

    enricher = Enricher(load_price_table(prices_file), max_text_bytes, search_max_chars)
    batches = 0
    while True:
        batches += 1
        if batches % 8 == 0 or not select.select([sock], [], [], 0.5)[0]:  # every 8 batches, or idle:
            memory.trim()  # hand the batches' transient memory back
        try:
            _, (payload,) = _receive(sock)
        except (EOFError, OSError):
            return
        try:
            table = enricher.table(_records_decoder.decode(payload))
            # Stored columns and prepared search text go as separate files, so they land in
            # separate mappings: the memtable keeps the first; the second is freed once indexed.
            payloads = [_ipc(table.select(COLUMN_NAMES))]
            if table.num_columns > len(COLUMN_NAMES):
                payloads.append(_ipc(table.drop_columns(COLUMN_NAMES)))
        except Exception as exc:  # reported to the parent, which isolates the bad record
            sock.send(b"E" + repr(exc).encode("utf-8", "replace")[:_MAX_ERROR])
            continue
        finally:
            del payload
        _send(sock, b"T", payloads)


class WorkerFailed(Exception):
    """The worker could not process this batch (it raised, or died twice)."""


class ProcessorWorker:
    """One enrichment process; ``table`` is called by the processor thread only."""

    def __init__(self, prices_file: str, max_text_bytes: int, search_max_chars: int = 0):
        self._args = (prices_file, max_text_bytes, search_max_chars)
        # spawn, not fork: the parent has threads and a DuckDB handle that must not be inherited.
        self._ctx = mp.get_context("spawn")
        self._proc: mp.Process | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self.restarts = 0

    def _start(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        proc = self._ctx.Process(target=_worker_main, args=(child, *self._args), name="lynex-enricher",
                                 daemon=True)
        proc.start()
        child.close()
        self._proc, self._sock = proc, parent

    def __enter__(self) -> "ProcessorWorker":
        self._start()
        return self

    def __exit__(self, *exc) -> None:
        if self._sock is not None:
            self._sock.close()
        if self._proc is not None:
            self._proc.join(timeout=5)
            if self._proc.is_alive():
                self._proc.kill()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def table(self, records: list[Record]) -> pa.Table:
        payload = _records_encoder.encode(records)
        with self._lock:
            for attempt in (1, 2):
                try:
                    _send(self._sock, b"R", [payload])
                    tag, parts = _receive(self._sock)
                    break
                except (EOFError, OSError):
                    log.error("enrichment worker died (attempt %d); starting a new one", attempt)
                    self.restarts += 1
                    self.__exit__(None, None, None)
                    self._start()
            else:
                raise WorkerFailed("enrichment worker died twice on this batch")
        if tag == b"E":
            raise WorkerFailed(parts[0].decode("utf-8", "replace"))
        table = pa.ipc.open_stream(pa.py_buffer(parts[0])).read_all()
        if len(parts) > 1 and parts[1]:
            search = pa.ipc.open_stream(pa.py_buffer(parts[1])).read_all()
            for name, column in zip(search.column_names, search.columns):
                table = table.append_column(name, column)
        return table
