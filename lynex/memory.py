"""Giving freed memory back to the OS.

glibc's malloc keeps freed heap memory for reuse; after a burst of large transient buffers
(request bodies, enrichment batches) that memory stays in the process's RSS even though Python
freed it. ``trim()`` asks glibc to return it. It is cheap (a walk of the free lists), so the
store writer calls it after each DuckDB flush and the enrichment worker after its batches.
Elsewhere (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    _malloc_trim = _libc.malloc_trim
    _malloc_trim.argtypes = [ctypes.c_size_t]
    _malloc_trim.restype = ctypes.c_int
except (OSError, AttributeError):  # not glibc
    _malloc_trim = None


def trim() -> None:
    """Return free heap memory to the OS (glibc only; a no-op elsewhere)."""
    if _malloc_trim is not None:
        _malloc_trim(0)
