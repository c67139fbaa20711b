"""POST /v1/traces — OTLP/HTTP trace export (protobuf or JSON, optionally gzip).

Answers follow the OTLP/HTTP spec: 200 with an ``ExportTraceServiceResponse`` in the request's
encoding (``partial_success`` names what was refused), errors as a ``google.rpc.Status`` body,
429/503 with Retry-After so exporters retry. Auth is the same API key as ``/v1/ingest``.

Like ``/v1/ingest`` this is a raw ASGI handler: exporters send many 100–512-span requests, and
Litestar's per-request Request/Response machinery would cost as much as a small conversion.
"""

from __future__ import annotations

import time

import anyio
from litestar import asgi
from litestar.types import Receive, Scope, Send

from lynex.ingest.decode import BodyError, inflate
from lynex.ingest.otlp import JSON, decode_otlp, otlp_format
from lynex.ingest.otlp.wire import encode_response, encode_status, media_type
from lynex.ingest.pipeline import AtCapacity, StorageUnavailable
from lynex.web.auth import AuthFailure, require_key
from lynex.web.asgi import Disconnected, receive_body, request_headers, send_response

# Spans are converted after they are logged (in the enrichment process), so decoding here costs
# ~2 µs per span, about what a native body costs: offloaded to a thread at the same size as
# /v1/ingest, where the event loop would otherwise stall for milliseconds.
_OFFLOAD_BYTES = 1 << 20


async def _send(send: Send, fmt: str, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    await send_response(send, status, body, media_type(fmt), headers)


async def _error(send: Send, fmt: str, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    await _send(send, fmt, status, encode_status(fmt, status, message), headers)


@asgi("/v1/traces", copy_scope=False)
async def export_traces(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept an OTLP trace export; see docs/otlp.md for how attributes map to span fields."""
    fmt = JSON
    if scope["method"] != "POST":
        await _error(send, fmt, 405, f"method {scope['method']} not allowed; use POST", {"Allow": "POST"})
        return
    started = time.perf_counter()
    services = scope["litestar_app"].state.services
    config, metrics = services.config, services.metrics
    headers = request_headers(scope)
    try:
        fmt = otlp_format(headers.get("content-type"))
        if not services.ready:  # the OTLP listener can be up before the lifespan finished
            await _error(send, fmt, 503, "Lynex is starting; retry shortly", {"Retry-After": "1"})
            return
        key = require_key(headers, services.meta, "ingest")
        body = await receive_body(receive, headers.get("content-length"), config.max_body_bytes)
        encoding = headers.get("content-encoding")

        def decode():
            raw = inflate(body, encoding, config.max_decompressed_bytes)
            return decode_otlp(raw, fmt, config.max_batch_spans)

        otlp = await anyio.to_thread.run_sync(decode) if len(body) > _OFFLOAD_BYTES else decode()
    except (AuthFailure, BodyError) as exc:
        metrics.inc("lynex_otlp_requests_refused_total", reason=f"http_{exc.status}")
        await _error(send, fmt, exc.status, exc.message)
        return
    except Disconnected:
        return
    if otlp.batch is not None and otlp.batch.accepted:
        # The same monthly quota and metering as /v1/ingest.
        ticket = services.billing.admit(key.project_id, key.id, otlp.batch, services.pipeline.recent, len(body))
        result = None
        try:
            if ticket.refusal:
                metrics.inc("lynex_otlp_requests_refused_total", reason="http_429")
                await _error(send, fmt, 429, ticket.refusal.message,
                             {"Retry-After": str(ticket.refusal.retry_after_s)})
                return
            result = await services.pipeline.ingest(key.project_id, otlp.batch)
        except AtCapacity:
            await _error(send, fmt, 503, "ingest buffer is full; retry after the Retry-After delay",
                         {"Retry-After": "1"})
            return
        except StorageUnavailable as exc:
            await _error(send, fmt, 503, f"storage unavailable, nothing was accepted: {exc}", {"Retry-After": "5"})
            return
        finally:
            services.billing.settle(ticket, result)
    elif otlp.batch is not None and otlp.batch.rejected:
        metrics.inc("lynex_ingest_spans_rejected_total", len(otlp.batch.rejected), reason="invalid")
    metrics.inc("lynex_otlp_spans_received_total", otlp.total)
    metrics.observe("lynex_otlp_request_seconds", time.perf_counter() - started)
    await _send(send, fmt, 200, encode_response(fmt, otlp.rejected, otlp.error_message()))


ROUTES = [export_traces]
