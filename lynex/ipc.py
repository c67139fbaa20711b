"""Moving Arrow tables and byte payloads between Lynex's processes (enrichment worker, search
writer) without pushing tens of megabytes through a socket.

Each payload is written into an anonymous memory file (``memfd``) whose descriptor is passed over
a ``SOCK_SEQPACKET`` socket pair together with a small message (a one-byte tag, the payload
sizes, and optional metadata bytes); the reader maps the file. Tables read from a mapping point
straight into it (no copy, no chunked reads under the GIL) and the memory is freed when the last
table using it is gone. Where memfd is missing, an unlinked temporary file does the same job.
"""

from __future__ import annotations

import mmap
import os
import socket
import struct
import tempfile

import pyarrow as pa

_SIZES = struct.Struct("<QQ")  # after the tag: the sizes of the (up to) two files passed
MAX_META = 60_000  # metadata (or an error message) travels in the packet itself
ERROR = b"E"  # the tag of an error reply; its metadata is the message


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


def send(sock: socket.socket, tag: bytes, payloads: list = (), meta: bytes = b"") -> None:
    """One message: ``tag``, up to two payloads (as memory files) and up to MAX_META bytes."""
    if len(meta) > MAX_META:
        raise ValueError(f"message metadata of {len(meta)} bytes exceeds {MAX_META}")
    fds = [_memfile(p) for p in payloads]
    try:
        sizes = [len(memoryview(p)) for p in payloads] + [0] * (2 - len(payloads))
        socket.send_fds(sock, [tag + _SIZES.pack(*sizes) + meta], fds)
    finally:
        for fd in fds:
            os.close(fd)


def send_error(sock: socket.socket, exc: BaseException) -> None:
    sock.send(ERROR + _SIZES.pack(0, 0) + repr(exc).encode("utf-8", "replace")[:MAX_META])


def receive(sock: socket.socket) -> tuple[bytes, bytes, list]:
    """(tag, metadata, mapped payloads) of the next message; EOFError when the peer is gone."""
    msg, fds, _, _ = socket.recv_fds(sock, MAX_META + 64, 2)
    if not msg:
        for fd in fds:
            os.close(fd)
        raise EOFError("the other side closed the connection")
    sizes = _SIZES.unpack_from(msg, 1)
    return msg[:1], msg[1 + _SIZES.size:], [_mapped(fd, size) for fd, size in zip(fds, sizes)]


def table_bytes(table: pa.Table) -> pa.Buffer:
    """``table`` as an Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def read_table(payload) -> pa.Table:
    """The table of an IPC stream payload (zero-copy over a mapping)."""
    return pa.ipc.open_stream(pa.py_buffer(payload)).read_all()
