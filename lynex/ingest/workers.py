"""Enrichment in a separate process, so it runs on another core instead of contending for the GIL.

The server process already spends its GIL on HTTP, validation and the ingest log; building
Arrow rows costs ~12 µs per span more. A worker process turns encoded records into Arrow tables;
a worker that dies is replaced and the batch retried; a batch that kills two workers is
processed in-thread, where a bad record is isolated. Batches travel as memory files
(lynex.ipc): the parent's tables point straight into the worker's output.

A batch is *submitted* and its table *collected* later, so the processor thread can keep a
worker's socket holding the next batch while the current one is enriched (a worker never waits
for the server to publish a table and send more), and several workers can run side by side.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import select
import socket

import msgspec
import pyarrow as pa

from lynex import ipc, memory, priority
from lynex.ingest.processor import Enricher
from lynex.ingest.wal import Record

log = logging.getLogger(__name__)

_records_encoder = msgspec.msgpack.Encoder()
_records_decoder = msgspec.msgpack.Decoder(list[Record])


# Enrichment is on the way to "queryable" (seconds), not to the acknowledgement (milliseconds):
# a little below the server's priority the scheduler serves the request path first. Measured on
# a quiet 2-core box at 20k spans/s (bench/ingest.py, 2 × 30 s each): ack p99 54 → 43 ms,
# queryable p99 765 → 856 ms.
WORKER_NICE = 5


def _worker_main(sock: socket.socket, prices_file: str, max_text_bytes: int) -> None:
    """Loop of the worker process: records in, an Arrow IPC stream (or an error) out."""
    from lynex.ingest.enrich.cost import load_price_table

    priority.lower(WORKER_NICE)
    enricher = Enricher(load_price_table(prices_file), max_text_bytes)
    batches = 0
    while True:
        batches += 1
        if batches % 8 == 0 or not select.select([sock], [], [], 0.5)[0]:  # every 8 batches, or idle:
            memory.trim()  # hand the batches' transient memory back
        try:
            _, _, (payload,) = ipc.receive(sock)
        except (EOFError, OSError):
            return
        try:
            out = ipc.table_bytes(enricher.table(_records_decoder.decode(payload)))
        except Exception as exc:  # reported to the parent, which isolates the bad record
            ipc.send_error(sock, exc)
            continue
        finally:
            del payload
        ipc.send(sock, b"T", [out])


class WorkerFailed(Exception):
    """The worker could not process this batch (it raised, or died twice)."""


class Pending:
    """A batch submitted to a worker whose table is still to be collected."""

    __slots__ = ("worker", "payload", "generation")

    def __init__(self, worker: "ProcessorWorker", payload: bytes, generation: int):
        self.worker, self.payload, self.generation = worker, payload, generation

    def result(self) -> pa.Table:
        return self.worker.collect(self)


class ProcessorWorker:
    """One enrichment process, used by one thread (the processor): ``submit`` then ``collect``,
    in submission order (the worker answers in order)."""

    def __init__(self, prices_file: str, max_text_bytes: int):
        self._args = (prices_file, max_text_bytes)
        # spawn, not fork: the parent has threads and a DuckDB handle that must not be inherited.
        self._ctx = mp.get_context("spawn")
        self._proc: mp.Process | None = None
        self._sock: socket.socket | None = None
        self._generation = 0  # which process the socket talks to: a batch sent to an older one is resent
        self.restarts = 0

    def _start(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        proc = self._ctx.Process(target=_worker_main, args=(child, *self._args), name="lynex-enricher",
                                 daemon=True)
        proc.start()
        child.close()
        self._proc, self._sock = proc, parent
        self._generation += 1

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

    def submit(self, records: list[Record]) -> Pending:
        """Send a batch; its table is collected (in submission order) with ``Pending.result``."""
        pending = Pending(self, _records_encoder.encode(records), self._generation)
        try:
            ipc.send(self._sock, b"R", [pending.payload])
        except OSError:  # the worker is gone: collect replaces it and sends the batch again
            pending.generation = -1
        return pending

    def collect(self, pending: Pending) -> pa.Table:
        """The table of the oldest batch not collected yet (``pending``); a worker that died is
        replaced and the batches it had not answered are sent again, each in its turn."""
        for attempt in (1, 2):
            try:
                if pending.generation != self._generation:
                    ipc.send(self._sock, b"R", [pending.payload])
                    pending.generation = self._generation
                tag, meta, parts = ipc.receive(self._sock)
                break
            except (EOFError, OSError):
                log.error("enrichment worker died (attempt %d); starting a new one", attempt)
                self.restarts += 1
                self.__exit__(None, None, None)
                self._start()
        else:
            raise WorkerFailed("enrichment worker died twice on this batch")
        if tag == ipc.ERROR:
            raise WorkerFailed(meta.decode("utf-8", "replace"))
        return ipc.read_table(parts[0])

    def table(self, records: list[Record]) -> pa.Table:
        """Enrich one batch and wait for it."""
        return self.collect(self.submit(records))
