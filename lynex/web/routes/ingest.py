"""POST /v1/ingest — the wire contract v1 write path.

The busiest endpoint by far (hundreds of 100-span requests a second), so it is a raw ASGI handler:
Litestar still routes to it and wraps it in its exception handling, but the per-request
Request/signature/Response machinery — a fifth of the event loop's time at full rate — is skipped.
Answers are byte-for-byte what the other routes send (``{"error": ..., "status": N}`` on errors).
"""

from __future__ import annotations

import time

import anyio
import msgspec
from litestar import asgi
from litestar.types import Receive, Scope, Send

from lynex.ingest.decode import BodyError, content_format, decode_batch, inflate
from lynex.ingest.pipeline import AtCapacity, StorageUnavailable
from lynex.web.asgi import Disconnected, receive_body, request_headers, send_response
from lynex.web.auth import AuthFailure, require_key

# Decoding a body this large would hold the event loop for milliseconds: do it in a thread.
_OFFLOAD_BYTES = 1 << 20
_encode = msgspec.json.encode


async def _answer(send: Send, status: int, content, headers: dict[str, str] | None = None) -> None:
    await send_response(send, status, _encode(content), "application/json", headers)


async def _error(send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    await _answer(send, status, {"error": message, "status": status}, headers)


@asgi("/v1/ingest", copy_scope=False)
async def ingest_spans(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept a batch of spans: 200 all accepted, 207 some rejected (see DESIGN.md)."""
    if scope["method"] != "POST":
        await _error(send, 405, f"method {scope['method']} not allowed; use POST", {"Allow": "POST"})
        return
    started = time.perf_counter()
    services = scope["litestar_app"].state.services
    config = services.config
    metrics = services.metrics
    headers = request_headers(scope)
    try:
        key = require_key(headers, services.meta, "ingest")
        fmt = content_format(headers.get("content-type"))
        body = await receive_body(receive, headers.get("content-length"), config.max_body_bytes)
        encoding = headers.get("content-encoding")

        def decode():
            raw = inflate(body, encoding, config.max_decompressed_bytes)
            return decode_batch(raw, fmt, config.max_batch_spans)

        batch = await anyio.to_thread.run_sync(decode) if len(body) > _OFFLOAD_BYTES else decode()
    except (AuthFailure, BodyError) as exc:
        metrics.inc("lynex_ingest_requests_refused_total", reason=f"http_{exc.status}")
        await _error(send, exc.status, exc.message)
        return
    except Disconnected:
        return
    # The monthly quota is checked before anything is admitted; the outcome is metered either way.
    ticket = services.billing.admit(key.project_id, key.id, batch, services.pipeline.recent, len(body))
    result = None
    try:
        if ticket.refusal:
            metrics.inc("lynex_ingest_requests_refused_total", reason="http_429")
            await _error(send, 429, ticket.refusal.message, {"Retry-After": str(ticket.refusal.retry_after_s)})
            return
        result = await services.pipeline.ingest(key.project_id, batch)
    except AtCapacity:
        await _error(send, 503, "ingest buffer is full; retry after the Retry-After delay", {"Retry-After": "1"})
        return
    except StorageUnavailable as exc:
        await _error(send, 503, f"storage unavailable, nothing was accepted: {exc}", {"Retry-After": "5"})
        return
    finally:
        services.billing.settle(ticket, result)
    metrics.observe("lynex_ingest_request_seconds", time.perf_counter() - started)
    await _answer(send, 207 if result.rejected else 200, result)


ROUTES = [ingest_spans]
