"""Counters for what happened to every span the app handed to the SDK; drops are counted by reason."""

from __future__ import annotations

import threading
from typing import Any, Dict

#: Reasons a span can be dropped; stats() always lists all of them.
DROP_REASONS = (
    "queue_full",         # the in-memory queue was at max_queue_size when the span was submitted
    "sampled",            # not selected by sample_rate
    "before_send",        # before_send returned None
    "before_send_error",  # before_send raised; dropped rather than sent unredacted
    "rejected",           # the server refused it (4xx, or listed as rejected in a 207)
    "spool_overflow",     # the offline spool was full, the oldest spooled spans were dropped
    "spool_corrupt",      # a spooled line could not be read back (e.g. torn write on crash)
    "network_error",      # the server stayed unreachable and the spool is disabled
    "unserializable",     # could not be encoded as JSON (e.g. a cycle added by before_send)
    "shutdown",           # submitted after shutdown(), or still queued at the shutdown deadline without a spool
)


class Stats:
    """Thread-safe counters: sent, spooled, and dropped by reason."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = 0
        self.spooled = 0
        self.dropped: Dict[str, int] = dict.fromkeys(DROP_REASONS, 0)

    def drop(self, reason: str, count: int = 1) -> None:
        """Count `count` spans dropped for `reason`."""
        with self._lock:
            self.dropped[reason] = self.dropped.get(reason, 0) + count

    def add_sent(self, count: int) -> None:
        """Count spans the server accepted."""
        with self._lock:
            self.sent += count

    def add_spooled(self, count: int) -> None:
        """Count spans written to the offline spool."""
        with self._lock:
            self.spooled += count

    def snapshot(self) -> Dict[str, Any]:
        """A copy of the counters."""
        with self._lock:
            return {"sent": self.sent, "spooled": self.spooled, "dropped": dict(self.dropped)}

    def reset_lock(self) -> None:
        """Replace the lock in a forked child (the parent's may have been held at fork time)."""
        self._lock = threading.Lock()
