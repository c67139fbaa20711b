"""Login throttling: failed attempts counted per client address and per account, in memory.

In memory is enough for one process (the appliance has exactly one); a restart forgets counts,
which only ever lets an attacker try a few more passwords per restart.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable


class LoginLimiter:
    """Sliding-window counter of failures; ``retry_after`` > 0 means refuse the attempt."""

    def __init__(self, per_address: int = 20, per_account: int = 5, window_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic):
        self.limits = {"addr": per_address, "acct": per_account}
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, address: str, account: str) -> list[tuple[str, str]]:
        return [("addr", address), ("acct", account.strip().lower())]

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times

    def retry_after(self, address: str, account: str) -> float:
        """Seconds until another attempt is allowed (0 when allowed now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in self._keys(address, account):
                times = self._recent(key, now)
                if len(times) >= self.limits[key[0]]:
                    wait = max(wait, times[0] + self.window_s - now)
        return wait

    def failed(self, address: str, account: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) > 100_000:  # bound memory under a spray of addresses
                self._failures.clear()
            for key in self._keys(address, account):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, address: str, account: str) -> None:
        with self._lock:
            self._failures.pop(("acct", account.strip().lower()), None)
