"""The Client: validated config + sampling + before_send + transport. One current client per process.

`init()` swaps the current client; everything else (spans, decorators, integrations) asks for it at the
moment it records, so code decorated at import time works whether init() ran before or after.
"""

from __future__ import annotations

import atexit
import random
import threading
from typing import Any, Dict, List, Optional

from ._errors import guard, warn_once
from .config import Config
from .stats import Stats
from .transport import Transport


class Client:
    """Records spans for one project: decides sampling, runs before_send, hands spans to the transport."""

    enabled = True

    def __init__(self, config: Config, transport: Optional[Transport] = None) -> None:
        self.config = config
        self.stats = Stats()
        self.transport = transport if transport is not None else Transport(config, self.stats)
        self._rng = random.Random()

    def sample(self) -> bool:
        """Decide whether a new trace is recorded (children inherit the decision)."""
        rate = self.config.sample_rate
        return rate >= 1.0 or self._rng.random() < rate

    def capture(self, span: Dict[str, Any], sampled: bool = True) -> bool:
        """Queue a finished span (wire format); False when it was dropped (and counted)."""
        if not sampled:
            self.stats.drop("sampled")
            return False
        cfg = self.config
        if cfg.environment is not None and "environment" not in span:
            span["environment"] = cfg.environment
        if cfg.release is not None and "release" not in span:
            span["release"] = cfg.release
        if cfg.before_send is not None:
            try:
                edited = cfg.before_send(span)
            except Exception as exc:
                # Dropping is the safe side: before_send is often a redaction step.
                self.stats.drop("before_send_error")
                warn_once("before_send", f"lynex_sdk: before_send raised {exc!r}; the span was dropped")
                return False
            if not isinstance(edited, dict):
                self.stats.drop("before_send")
                return False
            span = edited
        return self.transport.submit(span)

    def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for queued spans to be sent or spooled."""
        return self.transport.flush(timeout)

    def shutdown(self, timeout: float) -> bool:
        """Flush within `timeout` and stop the background worker."""
        return self.transport.shutdown(timeout)

    def stats_snapshot(self) -> Dict[str, Any]:
        """Counters plus queue and spool sizes."""
        out = self.stats.snapshot()
        out["queued"] = self.transport.queued()
        out["spool_bytes"] = self.transport.spool_bytes()
        out["enabled"] = True
        return out


class NoopClient:
    """Stands in when the SDK is not initialised, disabled, or misconfigured: records nothing."""

    enabled = False

    def __init__(self, config: Optional[Config] = None) -> None:
        self.config = config if config is not None else Config(enabled=False)

    def sample(self) -> bool:
        return False

    def capture(self, span: Dict[str, Any], sampled: bool = True) -> bool:
        return False

    def flush(self, timeout: float) -> bool:
        return True

    def shutdown(self, timeout: float) -> bool:
        return True

    def stats_snapshot(self) -> Dict[str, Any]:
        out = Stats().snapshot()
        out.update(queued=0, spool_bytes=0, enabled=False)
        return out


_current: "Client | NoopClient" = NoopClient()
_lock = threading.Lock()
_atexit_registered = False


def get_client() -> "Client | NoopClient":
    """The client spans are recorded with right now."""
    return _current


def init(**options: Any) -> "Client | NoopClient":
    """Build a Client from options + LYNEX_* env and make it current; on bad config warn once and no-op."""
    global _current, _atexit_registered
    client: "Client | NoopClient" = NoopClient()
    with guard():
        config, problems = Config.resolve(**options)
        if problems:
            for problem in problems:
                warn_once(f"config:{problem}", f"lynex_sdk is disabled: {problem}")
            client = NoopClient(config)
        elif not config.enabled:
            client = NoopClient(config)
        else:
            client = Client(config)
    with _lock:
        previous, _current = _current, client
        if not _atexit_registered:
            atexit.register(_shutdown_at_exit)
            _atexit_registered = True
    with guard():
        previous.shutdown(timeout=min(1.0, client.config.shutdown_timeout))
    return client


def set_client(client: "Client | NoopClient") -> "Client | NoopClient":
    """Make `client` current and return the previous one (tests, advanced setups)."""
    global _current
    with _lock:
        previous, _current = _current, client
    return previous


def _shutdown_at_exit() -> None:
    with guard():
        client = _current
        client.shutdown(timeout=client.config.shutdown_timeout)


def problems_for(**options: Any) -> List[str]:
    """What is wrong with these options (empty list when they are fine)."""
    return Config.resolve(**options)[1]
