"""Where the index is written: tantivy's writer, run in-thread or in a process of its own.

Indexing is the most expensive thing Lynex does per span after receiving it (text preparation
in Python, then tantivy's tokenizing: ~50 µs of CPU for a 2 KB chat span). In the server process
that work holds the GIL the request path needs — at 20k spans/s it tripled the p99 of
ingest acknowledgements. So the server runs it in a *writer process*, niced, which yields the
CPU to ingest whenever the box is short of it: search then lags (and catches up) instead of
ingest slowing down. The server keeps everything else (queue, gaps, watermark, deletes, and a
reader that sees each commit after ``Index.reload()``).

Both variants take the same calls from :class:`lynex.search.index.SearchIndex`:

* ``add(table)`` — rows with project_id, seq, start_time, name, model, input, output, metadata;
  returns how many rows could not be indexed (skipped, counted);
* ``delete(spec)`` — a :data:`DeleteSpec` (queries cannot cross processes; specs can);
* ``delete_all()``, ``commit()``, ``close()``.

A writer process that dies raises :class:`WriterGone`; the index then starts a new one and
re-feeds everything above its watermark (uncommitted documents died with the process).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import socket
from pathlib import Path
from typing import Union

import msgspec
import pyarrow as pa
import tantivy

from lynex import ipc, memory, priority
from lynex.search import text as _text
from lynex.search.query import QueryBuilder
from lynex.search.schema import analyzers, schema

log = logging.getLogger(__name__)

# Columns a table handed to ``add`` must have (start_time as a timestamp or int µs).
INDEX_COLUMNS = ["project_id", "seq", "start_time", "name", "model", "input", "output", "metadata"]

# ("above", seq): documents with a greater seq · ("seqs", [seq, …]) · ("project", project_id)
# · ("project_before", project_id, start_time µs): the project's documents that started earlier.
DeleteSpec = Union[tuple[str, int], tuple[str, list[int]], tuple[str, str], tuple[str, str, int]]

_spec_encoder = msgspec.msgpack.Encoder()
_spec_decoder = msgspec.msgpack.Decoder(list)


class WriterGone(Exception):
    """The writer process died: documents not committed yet are lost and must be re-fed."""


class _Core:
    """The tantivy writer and how rows become documents (the same in both variants)."""

    def __init__(self, index_dir: Path, heap_bytes: int, threads: int, max_chars: int):
        self._schema = schema()
        self._q = QueryBuilder(self._schema, analyzers())
        self._index = tantivy.Index(self._schema, path=str(index_dir), reuse=True)
        for name, analyzer in self._q.analyzers.items():
            self._index.register_tokenizer(name, analyzer)
        self._writer = self._index.writer(heap_bytes, threads)
        self.max_chars = max_chars

    def add(self, table: pa.Table) -> int:
        cols = {name: table.column(name).to_pylist() for name in INDEX_COLUMNS if name != "start_time"}
        starts = table.column("start_time").cast(pa.int64()).to_pylist()
        Document, prepared, add = tantivy.Document, _text.prepared, self._writer.add_document
        failed = 0
        for i, seq in enumerate(cols["seq"]):
            try:
                words, chars = prepared(cols["name"][i], cols["model"][i], cols["input"][i],
                                        cols["output"][i], cols["metadata"][i], self.max_chars)
                doc = Document(project_id=cols["project_id"][i], words=words)
                doc.add_integer("seq", seq)
                doc.add_integer("start_time", starts[i] or 0)
                if chars:
                    for run in chars.split("\n"):  # separate values: no phrase across runs
                        doc.add_text("chars", run)
                add(doc)
            except Exception:
                failed += 1
                log.exception("search index: span seq %s could not be indexed; skipped", seq)
        return failed

    def query(self, spec: DeleteSpec) -> tantivy.Query:
        kind = spec[0]
        if kind == "above":
            return self._q.range("seq", int(spec[1]) + 1, None)
        if kind == "seqs":
            return tantivy.Query.term_set_query(self._schema, "seq", [int(s) for s in spec[1]])
        if kind == "project":
            return self._q.project(spec[1])
        if kind == "project_before":
            return tantivy.Query.boolean_query([
                (tantivy.Occur.Must, self._q.project(spec[1])),
                (tantivy.Occur.Must, self._q.range("start_time", None, int(spec[2]) - 1)),
            ])
        raise ValueError(f"unknown delete {spec!r}")

    def delete(self, spec: DeleteSpec) -> None:
        self._writer.delete_documents_by_query(self.query(spec))

    def delete_all(self) -> None:
        self._writer.delete_all_documents()

    def commit(self) -> None:
        self._writer.commit()

    def close(self) -> None:
        self._writer.wait_merging_threads()  # consumes the writer


class LocalWriter:
    """The writer in the calling thread (tests, tools, ``writer_process=False``); ``nice`` is not
    applied here: tantivy's threads inherit the calling thread's priority."""

    def __init__(self, index_dir: Path, heap_bytes: int, threads: int, max_chars: int, nice: int = 0):
        self._core = _Core(index_dir, heap_bytes, threads, max_chars)

    def add(self, table: pa.Table) -> int:
        return self._core.add(table.select(INDEX_COLUMNS))

    def delete(self, spec: DeleteSpec) -> None:
        self._core.delete(spec)

    def delete_all(self) -> None:
        self._core.delete_all()

    def commit(self) -> None:
        self._core.commit()

    def close(self) -> None:
        self._core.close()


def _process_main(sock: socket.socket, index_dir: str, heap_bytes: int, threads: int, max_chars: int,
                  nice: int) -> None:
    """Loop of the writer process: one request, one reply, until the socket closes."""
    priority.lower(nice)
    core = None
    while True:
        try:
            tag, meta, payloads = ipc.receive(sock)
        except (EOFError, OSError):
            break
        try:
            if core is None:  # opened on the first request, so that an error reaches the parent
                core = _Core(Path(index_dir), heap_bytes, threads, max_chars)
            reply = b""
            if tag == b"A":
                failed = core.add(ipc.read_table(payloads[0]))
                del payloads
                memory.trim()
                reply = str(failed).encode()
            elif tag == b"D":
                core.delete(tuple(_spec_decoder.decode(meta)))
            elif tag == b"X":
                core.delete_all()
            elif tag == b"C":
                core.commit()
            elif tag == b"Q":
                core.close()
                core = None
            elif tag != b"O":  # "O": open only
                raise ValueError(f"unknown request {tag!r}")
        except Exception as exc:
            ipc.send_error(sock, exc)
            continue
        ipc.send(sock, b"K", meta=reply)
        if tag == b"Q":
            break


class WriterProcess:
    """The writer in a child process; calls block until the child has done them."""

    def __init__(self, index_dir: Path, heap_bytes: int, threads: int, max_chars: int, nice: int = 0):
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # spawn, not fork: the parent has threads and a DuckDB handle that must not be inherited.
        self._proc = mp.get_context("spawn").Process(
            target=_process_main, args=(child, str(index_dir), heap_bytes, threads, max_chars, nice),
            name="lynex-search-writer", daemon=True)
        self._proc.start()
        child.close()
        self._sock = parent
        try:
            self._call(b"O")
        except Exception:
            self._kill()
            raise

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def _call(self, tag: bytes, payloads: list = (), meta: bytes = b"") -> bytes:
        try:
            ipc.send(self._sock, tag, payloads, meta)
            reply_tag, reply, _ = ipc.receive(self._sock)
        except (EOFError, OSError) as exc:
            self._kill()
            raise WriterGone(f"search writer process exited ({self._proc.exitcode})") from exc
        if reply_tag == ipc.ERROR:
            raise RuntimeError(f"search writer: {reply.decode('utf-8', 'replace')}")
        return reply

    def add(self, table: pa.Table) -> int:
        return int(self._call(b"A", [ipc.table_bytes(table.select(INDEX_COLUMNS))]) or 0)

    def delete(self, spec: DeleteSpec) -> None:
        self._call(b"D", meta=_spec_encoder.encode(list(spec)))

    def delete_all(self) -> None:
        self._call(b"X")

    def commit(self) -> None:
        self._call(b"C")

    def close(self) -> None:
        try:
            self._call(b"Q")
        finally:
            self._sock.close()
            self._proc.join(timeout=30)
            if self._proc.is_alive():
                self._kill()

    def _kill(self) -> None:
        self._sock.close()
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join(timeout=5)
