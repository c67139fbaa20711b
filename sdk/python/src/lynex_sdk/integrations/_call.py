"""Shared machinery for provider integrations: one LLM call as a span, and stream pass-through proxies.

The wrappers must never change what the provider SDK returns or raises: SDK work happens in `guard()`
blocks around the real call, and streams are proxied item by item, forwarding every other attribute.
"""

from __future__ import annotations

import functools
import inspect
import time
from typing import Any, Callable, Dict, FrozenSet, Mapping, Optional, Protocol

from .._errors import guard, report_internal_error
from ..client import get_client
from ..span import Span, normalize_error

#: Request arguments that are transport options, not model parameters.
NON_PARAMETERS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout", "stream"})
WRAPPED_MARK = "__lynex_wrapped__"


class Accumulator(Protocol):
    """Assembles a stream's items into span fields; pure data handling."""

    def add(self, item: Any) -> bool:
        """Take one streamed item; True when it carried generated content (for time to first token)."""

    def result(self) -> Dict[str, Any]:
        """Span fields (output, usage, model, metadata, error) for what was streamed so far."""


def get(obj: Any, key: str, default: Any = None) -> Any:
    """obj[key] for mappings, obj.key for objects (provider SDK models); default when absent."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def model_parameters(kwargs: Mapping[str, Any], exclude: FrozenSet[str]) -> Dict[str, Any]:
    """Request arguments other than content, model and transport options; SDK sentinels skipped."""
    return {k: v for k, v in kwargs.items()
            if k not in exclude and k not in NON_PARAMETERS and type(v).__name__ not in ("NotGiven", "Omit")}


def error_fields(exc: BaseException) -> Dict[str, Any]:
    """Span fields for a failed provider call: error {type, message} and the HTTP status if any."""
    fields: Dict[str, Any] = {"error": normalize_error(exc)}
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        fields["metadata"] = {"status_code": status}
    return fields


class LLMCall:
    """One provider call being recorded as an `llm` span."""

    __slots__ = ("span", "_t0", "_ttft_done")

    def __init__(self, name: str, provider: str, request: Dict[str, Any]) -> None:
        self.span = Span(name, "llm")
        self.span.set_model(request.get("model"), provider)
        if "input" in request:
            self.span.set_input(request["input"])
        if request.get("model_parameters"):
            self.span.update(model_parameters=request["model_parameters"])
        self._t0 = time.perf_counter()
        self._ttft_done = False

    def first_token(self) -> None:
        """Note the time to first token (once)."""
        if not self._ttft_done:
            self._ttft_done = True
            self.span.update(ttft_ms=round((time.perf_counter() - self._t0) * 1000.0, 3))

    def finish(self, fields: Dict[str, Any]) -> None:
        """Apply converter output and record the span."""
        span = self.span
        if "model" in fields:
            span.set_model(fields["model"])
        if "output" in fields:
            span.set_output(fields["output"])
        if fields.get("usage"):
            span.set_usage(fields["usage"])
        if fields.get("metadata"):
            span.set_metadata(fields["metadata"])
        if fields.get("error"):
            span.set_error(fields["error"])
        span.end()

    def fail(self, exc: BaseException) -> None:
        """Record the span as failed with the provider's exception."""
        self.finish(error_fields(exc))


def start_call(name: str, provider: str, to_request: Callable[[Mapping[str, Any]], Dict[str, Any]],
               kwargs: Mapping[str, Any]) -> Optional[LLMCall]:
    """An LLMCall for this request, or None when the SDK is off or failed to set it up."""
    if not get_client().enabled:
        return None
    try:
        return LLMCall(name, provider, to_request(kwargs))
    except Exception as exc:
        report_internal_error(exc)
        return None


def instrument(owner: Any, attr: str, make_wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace `owner.attr` (a bound method) on this instance only; doing it twice is a no-op."""
    original = getattr(owner, attr, None)
    if original is None or getattr(original, WRAPPED_MARK, False):
        return
    wrapper = make_wrapper(original)
    functools.update_wrapper(wrapper, original)
    setattr(wrapper, WRAPPED_MARK, True)
    setattr(owner, attr, wrapper)


#: on_result(call, result, request kwargs, is_async) -> what the app gets back (the result or a stream proxy).
OnResult = Callable[[LLMCall, Any, Mapping[str, Any], bool], Any]


def traced(original: Callable[..., Any], name: str, provider: str,
           to_request: Callable[[Mapping[str, Any]], Dict[str, Any]], on_result: OnResult,
           prepare: Optional[Callable[[Dict[str, Any]], Dict[str, Any]]] = None) -> Callable[..., Any]:
    """Wrap a provider method (sync, or async: it returns an awaitable) so each call is an llm span.

    The provider's return value and exceptions pass through untouched; SDK failures are swallowed.
    """
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = start_call(name, provider, to_request, kwargs)
        if call is None:
            return original(*args, **kwargs)
        send = kwargs
        if prepare is not None:
            with guard():
                send = prepare(kwargs)
        try:
            result = original(*args, **send)
        except BaseException as exc:
            with guard():
                call.fail(exc)
            raise
        if inspect.isawaitable(result):
            return _awaited(call, result, kwargs, on_result)
        return _on_result(on_result, call, result, kwargs, False)

    return wrapper


async def _awaited(call: LLMCall, awaitable: Any, kwargs: Mapping[str, Any], on_result: OnResult) -> Any:
    try:
        result = await awaitable
    except BaseException as exc:
        with guard():
            call.fail(exc)
        raise
    return _on_result(on_result, call, result, kwargs, True)


def _on_result(on_result: OnResult, call: LLMCall, result: Any, kwargs: Mapping[str, Any], is_async: bool) -> Any:
    try:
        return on_result(call, result, kwargs, is_async)
    except Exception as exc:
        report_internal_error(exc)
        return result


class _StreamBase:
    """Common bookkeeping of the sync and async stream proxies."""

    def __init__(self, stream: Any, call: LLMCall, acc: Accumulator) -> None:
        object.__setattr__(self, "_lx_stream", stream)
        object.__setattr__(self, "_lx_call", call)
        object.__setattr__(self, "_lx_acc", acc)
        object.__setattr__(self, "_lx_done", False)
        object.__setattr__(self, "_lx_it", None)

    def _lx_observe(self, item: Any) -> None:
        with guard():
            if self._lx_acc.add(item):
                self._lx_call.first_token()

    def _lx_finish(self, exc: Optional[BaseException] = None) -> None:
        if self._lx_done:
            return
        object.__setattr__(self, "_lx_done", True)
        with guard():
            fields = self._lx_acc.result()
            if exc is not None:
                fields.update(error_fields(exc))
            self._lx_call.finish(fields)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_lx_"):  # not set yet (e.g. __del__ after a failed __init__)
            raise AttributeError(name)
        return getattr(self._lx_stream, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._lx_stream, name, value)

    def __repr__(self) -> str:
        return repr(self._lx_stream)

    def __del__(self) -> None:
        # A stream dropped without being read to the end or closed: record what was seen.
        try:
            self._lx_finish()
        except Exception:
            pass


class ObservedStream(_StreamBase):
    """Passes a provider's sync stream through unchanged while feeding each item to an accumulator."""

    def __iter__(self) -> "ObservedStream":
        return self

    def __next__(self) -> Any:
        it = self._lx_it
        if it is None:
            it = iter(self._lx_stream)
            object.__setattr__(self, "_lx_it", it)
        try:
            item = next(it)
        except StopIteration:
            self._lx_finish()
            raise
        except BaseException as exc:
            self._lx_finish(exc)
            raise
        self._lx_observe(item)
        return item

    def __enter__(self) -> "ObservedStream":
        enter = getattr(self._lx_stream, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            exit_ = getattr(self._lx_stream, "__exit__", None)
            return exit_(*exc_info) if exit_ is not None else None
        finally:
            self._lx_finish()

    def close(self) -> None:
        try:
            self._lx_stream.close()
        finally:
            self._lx_finish()


class AsyncObservedStream(_StreamBase):
    """Passes a provider's async stream through unchanged while feeding each item to an accumulator."""

    def __aiter__(self) -> "AsyncObservedStream":
        return self

    async def __anext__(self) -> Any:
        it = self._lx_it
        if it is None:
            it = self._lx_stream.__aiter__()
            object.__setattr__(self, "_lx_it", it)
        try:
            item = await it.__anext__()
        except StopAsyncIteration:
            self._lx_finish()
            raise
        except BaseException as exc:
            self._lx_finish(exc)
            raise
        self._lx_observe(item)
        return item

    async def __aenter__(self) -> "AsyncObservedStream":
        enter = getattr(self._lx_stream, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            exit_ = getattr(self._lx_stream, "__aexit__", None)
            return (await exit_(*exc_info)) if exit_ is not None else None
        finally:
            self._lx_finish()

    async def close(self) -> None:
        try:
            result = self._lx_stream.close()
            if inspect.isawaitable(result):
                await result
        finally:
            self._lx_finish()

    async def aclose(self) -> None:
        await self.close()
