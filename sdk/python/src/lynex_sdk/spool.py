"""Bounded, append-only on-disk spool for spans the server could not take right now.

Layout: one directory per (host, api key); segment files `<time_ns>-<pid>-<seq>.jsonl`, one encoded span
per line. A sender claims a whole segment by renaming it (atomic, so two processes never send the same
segment), deletes it once the server acknowledged it, and writes any unsent rest back. The directory is
bounded in bytes: past the bound the oldest segments are deleted and their spans counted as
`spool_overflow`. Redelivery after a crash may resend a span; the server de-duplicates by span id.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import List, Optional, Tuple

from .stats import Stats

SEGMENT_SUFFIX = ".jsonl"
CLAIM_MARK = ".sending"
#: Another process may still be appending to a segment younger than this; leave it alone.
SETTLE_SECONDS = 2.0
#: A claim older than this whose owner cannot be checked is considered abandoned.
STALE_CLAIM_SECONDS = 600.0


class Claim:
    """A segment taken by this process for sending."""

    __slots__ = ("path", "original")

    def __init__(self, path: str, original: str) -> None:
        self.path = path
        self.original = original


class Spool:
    """The spool directory; every method is thread-safe, and process-safe through atomic renames."""

    def __init__(self, directory: str, max_bytes: int, stats: Stats) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._stats = stats
        self._segment_max = max(64 * 1024, min(4 * 1024 * 1024, max_bytes // 8))
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._seq = 0
        self._current: Optional[str] = None
        self._current_size = 0
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self._reclaim_stale()

    def after_fork(self) -> None:
        """Reset per-process state in a forked child."""
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._current = None
        self._current_size = 0

    def append(self, lines: List[bytes]) -> int:
        """Append encoded spans; returns how many were stored (the rest count as spool_overflow)."""
        if not lines:
            return 0
        data = b"\n".join(lines) + b"\n"
        with self._lock:
            if len(data) > self.max_bytes:
                self._stats.drop("spool_overflow", len(lines))
                return 0
            self._make_room(len(data))
            if self._current is None or self._current_size + len(data) > self._segment_max:
                self._seq += 1
                name = f"{time.time_ns():020d}-{self._pid}-{self._seq:06d}{SEGMENT_SUFFIX}"
                self._current, self._current_size = os.path.join(self.directory, name), 0
            with open(self._current, "ab") as fh:
                fh.write(data)
            self._current_size += len(data)
        self._stats.add_spooled(len(lines))
        return len(lines)

    def claim(self) -> Optional[Claim]:
        """Take the oldest settled segment for sending, or None when there is nothing to send."""
        with self._lock:
            now = time.time()
            for name, path, size, mtime in self._segments():
                if name.endswith(CLAIM_MARK):
                    continue
                mine = f"-{self._pid}-" in name
                if not mine and now - mtime < SETTLE_SECONDS:
                    continue
                if path == self._current:
                    self._current = None  # stop appending to what is being sent
                claimed = f"{path}.{self._pid}{CLAIM_MARK}"
                try:
                    os.rename(path, claimed)
                except OSError:
                    continue  # another process took it
                return Claim(claimed, path)
        return None

    def read(self, claim: Claim) -> List[bytes]:
        """The spans of a claimed segment; unreadable lines are skipped and counted as spool_corrupt."""
        with open(claim.path, "rb") as fh:
            raw = fh.read().split(b"\n")
        lines: List[bytes] = []
        corrupt = 0
        for line in raw:
            if not line:
                continue
            try:
                if isinstance(json.loads(line), dict):
                    lines.append(line)
                    continue
            except ValueError:
                pass
            corrupt += 1
        if corrupt:
            self._stats.drop("spool_corrupt", corrupt)
        return lines

    def done(self, claim: Claim) -> None:
        """The claimed segment was delivered: delete it."""
        _unlink(claim.path)

    def release(self, claim: Claim, unsent: List[bytes]) -> None:
        """Give back a claimed segment, keeping only the spans not yet delivered, at its old place in order."""
        with self._lock:
            if unsent:
                tmp = claim.original + ".tmp"
                with open(tmp, "wb") as fh:
                    fh.write(b"\n".join(unsent) + b"\n")
                os.replace(tmp, claim.original)
            _unlink(claim.path)

    def pending_bytes(self) -> int:
        """Bytes currently held in the spool (all processes)."""
        with self._lock:
            return sum(size for _, _, size, _ in self._segments())

    def has_pending(self) -> bool:
        """True when some segment waits to be sent."""
        with self._lock:
            return any(not name.endswith(CLAIM_MARK) for name, _, _, _ in self._segments())

    def _segments(self) -> List[Tuple[str, str, int, float]]:
        out = []
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        for name in names:
            if not (name.endswith(SEGMENT_SUFFIX) or name.endswith(CLAIM_MARK)):
                continue
            path = os.path.join(self.directory, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            out.append((name, path, st.st_size, st.st_mtime))
        out.sort()
        return out

    def _make_room(self, incoming: int) -> None:
        segments = self._segments()
        total = sum(size for _, _, size, _ in segments)
        for name, path, size, _ in segments:
            if total + incoming <= self.max_bytes:
                return
            if name.endswith(CLAIM_MARK):
                continue  # being sent right now; it leaves the spool soon
            try:
                with open(path, "rb") as fh:
                    count = fh.read().count(b"\n")
                os.unlink(path)
            except OSError:
                continue
            if path == self._current:
                self._current = None
            total -= size
            self._stats.drop("spool_overflow", count)

    def _reclaim_stale(self) -> None:
        """Put back segments claimed by processes that died while sending them."""
        now = time.time()
        for name, path, _, mtime in self._segments():
            if not name.endswith(CLAIM_MARK):
                continue
            original, _, rest = path[: -len(CLAIM_MARK)].rpartition(".")
            owner = int(rest) if rest.isdigit() else -1
            if owner == self._pid:
                continue
            if _pid_alive(owner) and now - mtime < STALE_CLAIM_SECONDS:
                continue
            try:
                os.rename(path, original)
            except OSError:
                pass


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return True  # os.kill(pid, 0) would terminate the process on Windows; rely on age instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists but owned by someone else
    return True


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
