"""Ambient state carried by contextvars: the current span and the attributes set by `lynex_sdk.context()`.

contextvars follow asyncio tasks automatically (a task copies the context it was created in); threads
start with an empty context, so `wrap_thread_target` carries the caller's context into a thread.
"""

from __future__ import annotations

import contextvars
import functools
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, Mapping, Optional, Tuple, TypeVar

from ._errors import guard
from .serialize import to_jsonable

if TYPE_CHECKING:
    from .span import Span

F = TypeVar("F", bound=Callable[..., Any])


class ContextAttrs:
    """Attributes applied to every span started inside a `lynex_sdk.context(...)` block (immutable)."""

    __slots__ = ("session_id", "user_id", "tags", "metadata")

    def __init__(self, session_id: Optional[str] = None, user_id: Optional[str] = None,
                 tags: Tuple[str, ...] = (), metadata: Optional[Dict[str, Any]] = None) -> None:
        self.session_id = session_id
        self.user_id = user_id
        self.tags = tags
        self.metadata = metadata or {}

    def merged(self, session_id: Optional[str], user_id: Optional[str], tags: Optional[Iterable[str]],
               metadata: Optional[Mapping[str, Any]]) -> "ContextAttrs":
        """A new ContextAttrs: inner ids win, tags are unioned in order, metadata keys are overridden."""
        new_tags = self.tags
        if tags:
            new_tags = tuple(dict.fromkeys(self.tags + tuple(str(t) for t in tags)))
        new_meta = self.metadata
        if metadata:
            new_meta = {**self.metadata, **to_jsonable(dict(metadata))}
        return ContextAttrs(str(session_id) if session_id is not None else self.session_id,
                            str(user_id) if user_id is not None else self.user_id, new_tags, new_meta)


EMPTY_ATTRS = ContextAttrs()
current_span_var: "contextvars.ContextVar[Optional[Span]]" = contextvars.ContextVar("lynex_span", default=None)
attrs_var: "contextvars.ContextVar[ContextAttrs]" = contextvars.ContextVar("lynex_attrs", default=EMPTY_ATTRS)


@contextmanager
def context(session_id: Optional[str] = None, user_id: Optional[str] = None,
            tags: Optional[Iterable[str]] = None, metadata: Optional[Mapping[str, Any]] = None) -> Iterator[None]:
    """Apply session_id / user_id / tags / metadata to every span started inside the block."""
    token = None
    with guard():
        token = attrs_var.set(attrs_var.get().merged(session_id, user_id, tags, metadata))
    try:
        yield
    finally:
        if token is not None:
            with guard():
                reset_var(attrs_var, token, EMPTY_ATTRS)


def current_span() -> "Optional[Span]":
    """The span the calling code runs inside, or None."""
    return current_span_var.get()


def current_trace_id() -> Optional[str]:
    """The trace id of the current span, or None."""
    span = current_span_var.get()
    return span.trace_id if span is not None else None


def wrap_thread_target(fn: F) -> F:
    """Return `fn` bound to the caller's current context, so spans it starts in a thread nest correctly.

    Use it for `threading.Thread(target=wrap_thread_target(work))` or `executor.submit(wrap_thread_target(f))`.
    Each call runs in its own copy of the captured context, so the wrapper may run in many threads at once.
    """
    captured = contextvars.copy_context()

    @functools.wraps(fn)
    def run_in_context(*args: Any, **kwargs: Any) -> Any:
        return captured.copy().run(fn, *args, **kwargs)

    return run_in_context  # type: ignore[return-value]


def reset_var(var: "contextvars.ContextVar[Any]", token: "contextvars.Token[Any]", default: Any) -> None:
    """Reset `var` to what it was before `token`; works even when exited in another context."""
    try:
        var.reset(token)
    except ValueError:
        # A block exited in another context than it was entered (e.g. spanning tasks): restore by value.
        old = token.old_value
        var.set(default if old is contextvars.Token.MISSING else old)
