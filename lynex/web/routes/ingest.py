"""POST /v1/ingest — the wire contract v1 write path."""

from __future__ import annotations

import time

import anyio
from litestar import Request, Response, post

from lynex.ingest.decode import BodyError, content_format, decode_batch, inflate
from lynex.ingest.pipeline import AtCapacity, StorageUnavailable
from lynex.web.auth import AuthFailure, require_key
from lynex.web.responses import error_response, json_response

# Decoding a body this large would hold the event loop for milliseconds: do it in a thread.
_OFFLOAD_BYTES = 1 << 20


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, f"body is {declared} bytes; the limit is {limit} (max_body_bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"body is over the limit of {limit} bytes (max_body_bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


@post("/v1/ingest", request_max_body_size=None)
async def ingest_spans(request: Request) -> Response:
    """Accept a batch of spans: 200 all accepted, 207 some rejected (see DESIGN.md)."""
    started = time.perf_counter()
    services = request.app.state.services
    config = services.config
    metrics = services.metrics
    try:
        key = require_key(request, services.meta, "ingest")
        fmt = content_format(request.headers.get("content-type"))
        body = await read_body(request, config.max_body_bytes)
        encoding = request.headers.get("content-encoding")

        def decode():
            raw = inflate(body, encoding, config.max_decompressed_bytes)
            return decode_batch(raw, fmt, config.max_batch_spans)

        batch = await anyio.to_thread.run_sync(decode) if len(body) > _OFFLOAD_BYTES else decode()
    except AuthFailure as exc:
        metrics.inc("lynex_ingest_requests_refused_total", reason=f"http_{exc.status}")
        return error_response(exc.status, exc.message)
    except BodyError as exc:
        metrics.inc("lynex_ingest_requests_refused_total", reason=f"http_{exc.status}")
        return error_response(exc.status, exc.message)
    # The monthly quota is checked before anything is admitted; the outcome is metered either way.
    ticket = services.billing.admit(key.project_id, key.id, batch, services.pipeline.recent, len(body))
    result = None
    try:
        if ticket.refusal:
            metrics.inc("lynex_ingest_requests_refused_total", reason="http_429")
            return error_response(429, ticket.refusal.message, {"Retry-After": str(ticket.refusal.retry_after_s)})
        result = await services.pipeline.ingest(key.project_id, batch)
    except AtCapacity:
        return error_response(503, "ingest buffer is full; retry after the Retry-After delay",
                              {"Retry-After": "1"})
    except StorageUnavailable as exc:
        return error_response(503, f"storage unavailable, nothing was accepted: {exc}", {"Retry-After": "5"})
    finally:
        services.billing.settle(ticket, result)
    metrics.observe("lynex_ingest_request_seconds", time.perf_counter() - started)
    return json_response(result, 207 if result.rejected else 200)


ROUTES = [ingest_spans]
