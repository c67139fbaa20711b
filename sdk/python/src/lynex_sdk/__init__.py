"""Lynex SDK: record LLM calls, tool calls and agent steps as spans and ship them to a Lynex server.

    import lynex_sdk
    lynex_sdk.init(api_key="lx_...", host="http://127.0.0.1:8600")

    @lynex_sdk.observe(kind="agent")
    def answer(question): ...

Nothing here ever raises into the application: a misconfigured SDK warns once and does nothing.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from . import client as _client_mod
from ._errors import guard as _guard
from .client import Client, NoopClient, get_client
from .config import BeforeSend, Config
from .context import context, current_span, current_trace_id, wrap_thread_target
from .decorators import observe
from .span import Span, log, new_id, span

__all__ = [
    "BeforeSend", "Client", "Config", "NoopClient", "Span", "context", "current_span", "current_trace_id",
    "flush", "get_client", "init", "log", "new_id", "observe", "shutdown", "span", "stats", "wrap_anthropic",
    "wrap_openai", "wrap_thread_target",
]
__version__ = "0.1.0"


def init(api_key: Optional[str] = None, host: Optional[str] = None, *, environment: Optional[str] = None,
         release: Optional[str] = None, sample_rate: Optional[float] = None,
         before_send: Optional[BeforeSend] = None, capture_content: Optional[bool] = None,
         enabled: Optional[bool] = None, **options: Any) -> "Client | NoopClient":
    """Configure the SDK (arguments override LYNEX_API_KEY / LYNEX_HOST / LYNEX_ENVIRONMENT / LYNEX_RELEASE).

    Further options (spool_dir, spool_max_bytes, max_queue_size, flush_interval, request_timeout,
    shutdown_timeout, max_retries, ...) are the fields of `lynex_sdk.Config`.
    """
    return _client_mod.init(api_key=api_key, host=host, environment=environment, release=release,
                            sample_rate=sample_rate, before_send=before_send, capture_content=capture_content,
                            enabled=enabled, **options)


def flush(timeout: float = 2.0) -> bool:
    """Block at most `timeout` seconds until queued spans are sent or spooled; True if everything was."""
    with _guard():
        return bool(get_client().flush(timeout))
    return False


def shutdown(timeout: float = 2.0) -> bool:
    """Flush within `timeout` seconds and stop the background worker (also run automatically at exit)."""
    with _guard():
        return bool(get_client().shutdown(timeout))
    return False


def stats() -> Dict[str, Any]:
    """Counters: sent, spooled, dropped by reason, queued, spool_bytes, enabled."""
    with _guard():
        return get_client().stats_snapshot()
    return {}


def wrap_openai(client: Any, **options: Any) -> Any:
    """Instrument an `openai.OpenAI` / `AsyncOpenAI` client in place and return it."""
    from .integrations.openai import wrap_openai as _wrap

    return _wrap(client, **options)


def wrap_anthropic(client: Any, **options: Any) -> Any:
    """Instrument an `anthropic.Anthropic` / `AsyncAnthropic` client in place and return it."""
    from .integrations.anthropic import wrap_anthropic as _wrap

    return _wrap(client, **options)
