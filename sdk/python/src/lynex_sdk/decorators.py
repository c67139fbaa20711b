"""`@observe`: time a function as a span, nested under the caller's span via contextvars.

Handles plain and async functions, generators and async generators. For generators the span stays
current only while the generator body runs (each step), never leaking into the consumer's code.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, AsyncGenerator, Callable, Dict, Generator, List, Optional, Tuple, TypeVar, overload

from ._errors import guard, report_internal_error
from .client import get_client
from .context import current_span_var, reset_var
from .span import Span

F = TypeVar("F", bound=Callable[..., Any])
#: Yielded items kept as a generator's output.
MAX_GENERATOR_ITEMS = 1000


@overload
def observe(fn: F) -> F: ...


@overload
def observe(fn: None = None, *, name: Optional[str] = None, kind: str = "custom", capture_input: bool = True,
            capture_output: bool = True) -> Callable[[F], F]: ...


def observe(fn: Optional[F] = None, *, name: Optional[str] = None, kind: str = "custom",
            capture_input: bool = True, capture_output: bool = True) -> Any:
    """Record each call of the decorated function as a span (child of the current span, if any).

    `@observe` or `@observe(name="retrieve", kind="retrieval", capture_input=False)`.
    """
    def decorate(func: F) -> F:
        try:
            return _wrap(func, name or getattr(func, "__qualname__", None) or "span", kind,
                         capture_input, capture_output)
        except Exception as exc:  # never break the decorated function
            report_internal_error(exc)
            return func

    return decorate(fn) if fn is not None else decorate


def _wrap(func: F, span_name: str, kind: str, capture_input: bool, capture_output: bool) -> F:
    names, varargs, skip_first = _parameter_names(func)

    def start() -> Optional[Span]:
        return Span(span_name, kind) if get_client().enabled else None

    def record_input(span: Span, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
        if capture_input:
            span.set_input(_bind(names, varargs, skip_first, args, kwargs))

    def finish(span: Span, result: Any = None, error: Optional[BaseException] = None) -> None:
        with guard():
            if error is not None:
                span.set_error(error)
            elif capture_output:
                span.set_output(result)
            span.end()

    if inspect.isasyncgenfunction(func):
        @functools.wraps(func)
        async def async_gen_wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
            span = _safe(start)
            if span is None:
                async for item in func(*args, **kwargs):
                    yield item
                return
            _safe(record_input, span, args, kwargs)
            agen = func(*args, **kwargs)
            items: List[Any] = []
            send: Any = None
            throw: Optional[BaseException] = None
            try:
                while True:
                    token = current_span_var.set(span)
                    try:
                        item = await (agen.athrow(throw) if throw is not None else agen.asend(send))
                    finally:
                        reset_var(current_span_var, token, None)
                    throw = None
                    if len(items) < MAX_GENERATOR_ITEMS:
                        items.append(item)
                    try:
                        send = yield item
                    except GeneratorExit:
                        await agen.aclose()
                        raise
                    except BaseException as exc:
                        throw = exc
            except StopAsyncIteration:
                finish(span, _join(items))
            except GeneratorExit:
                finish(span, _join(items))
                raise
            except BaseException as exc:
                finish(span, error=exc)
                raise

        return async_gen_wrapper  # type: ignore[return-value]

    if inspect.isgeneratorfunction(func):
        @functools.wraps(func)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            span = _safe(start)
            if span is None:
                return (yield from func(*args, **kwargs))
            _safe(record_input, span, args, kwargs)
            gen = func(*args, **kwargs)
            items: List[Any] = []
            send: Any = None
            throw: Optional[BaseException] = None
            try:
                while True:
                    token = current_span_var.set(span)
                    try:
                        item = gen.throw(throw) if throw is not None else gen.send(send)
                    finally:
                        reset_var(current_span_var, token, None)
                    throw = None
                    if len(items) < MAX_GENERATOR_ITEMS:
                        items.append(item)
                    try:
                        send = yield item
                    except GeneratorExit:
                        gen.close()
                        raise
                    except BaseException as exc:
                        throw = exc
            except StopIteration as stop:
                finish(span, _join(items))
                return stop.value
            except GeneratorExit:
                finish(span, _join(items))
                raise
            except BaseException as exc:
                finish(span, error=exc)
                raise

        return gen_wrapper  # type: ignore[return-value]

    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            span = _safe(start)
            if span is None:
                return await func(*args, **kwargs)
            _safe(record_input, span, args, kwargs)
            token = current_span_var.set(span)
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                finish(span, error=exc)
                raise
            finally:
                reset_var(current_span_var, token, None)
            finish(span, result)
            return result

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        span = _safe(start)
        if span is None:
            return func(*args, **kwargs)
        _safe(record_input, span, args, kwargs)
        token = current_span_var.set(span)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            finish(span, error=exc)
            raise
        finally:
            reset_var(current_span_var, token, None)
        finish(span, result)
        return result

    return wrapper  # type: ignore[return-value]


def _safe(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:
        report_internal_error(exc)
        return None


def _parameter_names(func: Callable[..., Any]) -> Tuple[List[str], Optional[str], bool]:
    """Positional parameter names, the *args name, and whether the first one is self/cls."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return [], "args", False
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    varargs = next((p.name for p in params if p.kind == p.VAR_POSITIONAL), None)
    skip_first = bool(names) and names[0] in ("self", "cls")
    return names, varargs, skip_first


def _bind(names: List[str], varargs: Optional[str], skip_first: bool, args: Tuple[Any, ...],
          kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The call's arguments by parameter name (cheap: no inspect.Signature.bind on the hot path)."""
    bound: Dict[str, Any] = {}
    for i, value in enumerate(args):
        if i < len(names):
            bound[names[i]] = value
        else:
            bound.setdefault(varargs or "args", []).append(value)
    if skip_first and names:
        bound.pop(names[0], None)
    bound.update(kwargs)
    return bound


def _join(items: List[Any]) -> Any:
    """A generator's output: the concatenated text when it yielded strings, else the list of items."""
    if items and all(isinstance(i, str) for i in items):
        return "".join(items)
    return items
