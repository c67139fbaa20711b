"""POST /v1/traces — OTLP/HTTP trace export (protobuf or JSON, optionally gzip).

Answers follow the OTLP/HTTP spec: 200 with an ``ExportTraceServiceResponse`` in the request's
encoding (``partial_success`` names what was refused), errors as a ``google.rpc.Status`` body,
429/503 with Retry-After so exporters retry. Auth is the same API key as ``/v1/ingest``.
"""

from __future__ import annotations

import time

import anyio
from litestar import Request, Response, post

from lynex.ingest.decode import BodyError, inflate
from lynex.ingest.otlp import JSON, decode_otlp, otlp_format
from lynex.ingest.otlp.wire import encode_response, encode_status, media_type
from lynex.ingest.pipeline import AtCapacity, StorageUnavailable
from lynex.web.auth import AuthFailure, require_key
from lynex.web.routes.ingest import read_body

_OFFLOAD_BYTES = 64 << 10  # converting ~50+ spans takes milliseconds: keep the loop free for other requests


def _error(fmt: str, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(content=encode_status(fmt, status, message), status_code=status,
                    media_type=media_type(fmt), headers=headers)


@post("/v1/traces", request_max_body_size=None)
async def export_traces(request: Request) -> Response:
    """Accept an OTLP trace export; see docs/otlp.md for how attributes map to span fields."""
    started = time.perf_counter()
    services = request.app.state.services
    config, metrics = services.config, services.metrics
    fmt = JSON
    try:
        fmt = otlp_format(request.headers.get("content-type"))
        if not services.ready:  # the OTLP listener can be up before the lifespan finished
            return _error(fmt, 503, "Lynex is starting; retry shortly", {"Retry-After": "1"})
        key = require_key(request, services.meta, "ingest")
        body = await read_body(request, config.max_body_bytes)
        encoding = request.headers.get("content-encoding")

        def decode():
            raw = inflate(body, encoding, config.max_decompressed_bytes)
            return decode_otlp(raw, fmt, config.max_batch_spans)

        otlp = await anyio.to_thread.run_sync(decode) if len(body) > _OFFLOAD_BYTES else decode()
    except (AuthFailure, BodyError) as exc:
        metrics.inc("lynex_otlp_requests_refused_total", reason=f"http_{exc.status}")
        return _error(fmt, exc.status, exc.message)
    if otlp.batch is not None and otlp.batch.accepted:
        # The same monthly quota and metering as /v1/ingest.
        ticket = services.billing.admit(key.project_id, key.id, otlp.batch, services.pipeline.recent, len(body))
        result = None
        try:
            if ticket.refusal:
                return _error(fmt, 429, ticket.refusal.message, {"Retry-After": str(ticket.refusal.retry_after_s)})
            result = await services.pipeline.ingest(key.project_id, otlp.batch)
        except AtCapacity:
            return _error(fmt, 503, "ingest buffer is full; retry after the Retry-After delay", {"Retry-After": "1"})
        except StorageUnavailable as exc:
            return _error(fmt, 503, f"storage unavailable, nothing was accepted: {exc}", {"Retry-After": "5"})
        finally:
            services.billing.settle(ticket, result)
    elif otlp.batch is not None and otlp.batch.rejected:
        services.metrics.inc("lynex_ingest_spans_rejected_total", len(otlp.batch.rejected), reason="invalid")
    metrics.inc("lynex_otlp_spans_received_total", otlp.total)
    metrics.observe("lynex_otlp_request_seconds", time.perf_counter() - started)
    return Response(content=encode_response(fmt, otlp.rejected, otlp.error_message()), status_code=200,
                    media_type=media_type(fmt))


ROUTES = [export_traces]
