"""Enrichment in a separate process, so it runs on another core instead of contending for the GIL.

The server process already spends its GIL on HTTP, validation and the ingest log; building
Arrow rows costs ~12 µs per span more. A worker process turns encoded records into an Arrow IPC
stream; the parent maps it back without copying. A worker that dies is replaced and the batch
retried; a batch that kills two workers is processed in-thread, where a bad record is isolated.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
from multiprocessing.connection import Connection

import msgspec
import pyarrow as pa

from lynex import memory
from lynex.ingest.processor import Enricher
from lynex.ingest.wal import Record
from lynex.storage.schema import COLUMN_NAMES

log = logging.getLogger(__name__)

_records_encoder = msgspec.msgpack.Encoder()
_records_decoder = msgspec.msgpack.Decoder(list[Record])


def _worker_main(conn: Connection, prices_file: str, max_text_bytes: int, search_max_chars: int) -> None:
    """Loop of the worker process: encoded records in, Arrow IPC stream (or an error) out."""
    from lynex.ingest.enrich.cost import load_price_table

    enricher = Enricher(load_price_table(prices_file), max_text_bytes, search_max_chars)
    batches = 0
    while True:
        try:
            batches += 1
            if batches % 8 == 0 or not conn.poll(0.5):  # hand batches' transient memory back
                memory.trim()
            payload = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            table = enricher.table(_records_decoder.decode(payload))
            # Stored columns and prepared search text travel as separate messages, so they land
            # in separate buffers: the memtable keeps the first; the second is freed once indexed.
            stored = _ipc(b"T", table.select(COLUMN_NAMES))
            extra = _ipc(b"S", table.drop_columns(COLUMN_NAMES)) if table.num_columns > len(COLUMN_NAMES) else None
        except Exception as exc:  # reported to the parent, which isolates the bad record
            conn.send_bytes(b"E" + repr(exc).encode("utf-8", "replace"))
            continue
        conn.send_bytes(stored)  # Arrow buffers: sent without a copy to bytes
        if search_max_chars:
            conn.send_bytes(extra)


def _ipc(tag: bytes, table: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    sink.write(tag)
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


class WorkerFailed(Exception):
    """The worker could not process this batch (it raised, or died twice)."""


class ProcessorWorker:
    """One enrichment process; ``table`` is called by the processor thread only."""

    def __init__(self, prices_file: str, max_text_bytes: int, search_max_chars: int = 0):
        self._args = (prices_file, max_text_bytes, search_max_chars)
        # spawn, not fork: the parent has threads and a DuckDB handle that must not be inherited.
        self._ctx = mp.get_context("spawn")
        self._proc: mp.Process | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self.restarts = 0

    def _start(self) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_worker_main, args=(child, *self._args), name="lynex-enricher",
                                 daemon=True)
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent

    def __enter__(self) -> "ProcessorWorker":
        self._start()
        return self

    def __exit__(self, *exc) -> None:
        if self._conn is not None:
            self._conn.close()
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
                    self._conn.send_bytes(payload)
                    reply = self._conn.recv_bytes()
                    extra = self._conn.recv_bytes() if reply[:1] == b"T" and self._args[2] else None
                    break
                except (EOFError, OSError, BrokenPipeError):
                    log.error("enrichment worker died (attempt %d); starting a new one", attempt)
                    self.restarts += 1
                    self.__exit__(None, None, None)
                    self._start()
            else:
                raise WorkerFailed("enrichment worker died twice on this batch")
        if reply[:1] == b"E":
            raise WorkerFailed(reply[1:].decode("utf-8", "replace"))
        table = pa.ipc.open_stream(pa.py_buffer(reply)[1:]).read_all()
        if extra is not None:
            search = pa.ipc.open_stream(pa.py_buffer(extra)[1:]).read_all()
            for name, column in zip(search.column_names, search.columns):
                table = table.append_column(name, column)
        return table
