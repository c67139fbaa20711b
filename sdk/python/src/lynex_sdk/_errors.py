"""Internal error handling: the SDK swallows its own failures and never lets them reach the host app.

Every place where SDK code runs on the application's behalf goes through `guard()` or
`report_internal_error()`. The SDK's own test suite sets `on_internal_error` so that a swallowed
error fails the test (the sentry-python habit): a bug here must be loud in CI and silent in production.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Callable, Optional, Set, Type

logger = logging.getLogger("lynex_sdk")
logger.addHandler(logging.NullHandler())

#: Test hook: called with every exception the SDK swallowed. None in production.
on_internal_error: Optional[Callable[[BaseException], None]] = None

_warned: Set[str] = set()
_warned_lock = threading.Lock()


def report_internal_error(exc: BaseException) -> None:
    """Log a swallowed SDK exception (debug level) and hand it to the test hook, if any."""
    try:
        logger.debug("lynex_sdk internal error (swallowed)", exc_info=exc)
        hook = on_internal_error
        if hook is not None:
            hook(exc)
    except Exception:  # the hook itself must not break the host either
        pass


class _Guard:
    """Stateless, reentrant context manager (a class, not @contextmanager: it sits on hot paths)."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> bool:
        if exc is not None and isinstance(exc, Exception):
            report_internal_error(exc)
            return True  # swallowed
        return False


_GUARD = _Guard()


def guard() -> _Guard:
    """`with guard():` runs a block of SDK code; any Exception is reported and swallowed, never raised."""
    return _GUARD


def warn_once(key: str, message: str) -> None:
    """Log `message` at WARNING the first time `key` is seen in this process."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning(message)


def reset_warnings() -> None:
    """Forget which warnings were shown (tests)."""
    with _warned_lock:
        _warned.clear()
