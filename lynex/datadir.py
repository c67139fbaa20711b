"""The data directory and its lock: one Lynex server per data directory.

An ``flock`` rather than a pid file: the kernel drops it when the process dies, even by
``kill -9``, so a crashed server never blocks its own restart.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from lynex.errors import DataDirLocked


class DataDirLock:
    """Exclusive lock on ``<data dir>/server.lock`` for the life of the server."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.path = data_dir / "server.lock"
        self._fd: int | None = None

    def __enter__(self) -> "DataDirLock":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirLocked(
                f"another Lynex server (pid {holder}) is already using data directory {self.data_dir}; "
                "stop it first or pass a different --data-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def check(self) -> None:
        """Raise DataDirLocked now if a server holds the directory (for a friendly early error)."""
        with self:
            pass
