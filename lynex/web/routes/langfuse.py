"""Langfuse-compatible ingestion, so Langfuse SDK v2 users switch by changing the host.

Auth: HTTP Basic with public key = anything (conventionally ``pk-lx-<key id>``; if it has that
form it must name the key) and secret key = a Lynex API key with the ``ingest`` scope.
``POST /api/public/ingestion`` answers 207 with per-event results, as Langfuse does.
"""

from __future__ import annotations

import base64
import binascii

import msgspec
from litestar import Request, Response, get, post

from lynex.ingest.dedup import RecentIds
from lynex.ingest.decode import JSON, BodyError, decode_batch, inflate
from lynex.ingest.langfuse import convert_batch
from lynex.ingest.pipeline import AtCapacity, StorageUnavailable
from lynex.storage.meta import ApiKey, MetaStore
from lynex.web.asgi import read_body
from lynex.web.auth import AuthFailure, require_key
from lynex.web.responses import error_response, json_response

_PUBLIC_PREFIX = "pk-lx-"


def langfuse_key(request: Request, meta: MetaStore, scope: str) -> ApiKey:
    """The Lynex key behind Langfuse's Basic auth (Bearer / x-lynex-api-key work too)."""
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return require_key(request.headers, meta, scope)
    try:
        public, _, secret = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthFailure(401, "malformed Basic credentials") from None
    key = meta.authenticate(secret) if secret else None
    if key is None:
        raise AuthFailure(401, "invalid credentials: use a Lynex API key as the Langfuse secret key")
    if public.startswith(_PUBLIC_PREFIX) and public[len(_PUBLIC_PREFIX):] != key.id:
        raise AuthFailure(401, f"public key '{public}' does not name this API key (expected {_PUBLIC_PREFIX}{key.id})")
    if scope not in key.scopes:
        raise AuthFailure(403, f"this API key lacks the '{scope}' scope (it has: {', '.join(key.scopes)})")
    return key


@post("/api/public/ingestion", request_max_body_size=None)
async def ingestion(request: Request) -> Response:
    """Accept a Langfuse ingestion batch; 207 with ``successes`` and ``errors`` per event."""
    services = request.app.state.services
    config = services.config
    try:
        key = langfuse_key(request, services.meta, "ingest")
        received = await read_body(request, config.max_body_bytes)
        body = inflate(received, request.headers.get("content-encoding"), config.max_decompressed_bytes)
        try:
            doc = msgspec.json.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise BodyError(400, f"body is not valid JSON: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("batch"), list):
            raise BodyError(400, "body must be an object {\"batch\": [events…]}")
        if len(doc["batch"]) > config.max_batch_spans:
            raise BodyError(413, f"{len(doc['batch'])} events in one batch; the limit is {config.max_batch_spans}")
    except (AuthFailure, BodyError) as exc:
        services.metrics.inc("lynex_langfuse_requests_refused_total", reason=f"http_{exc.status}")
        return error_response(exc.status, exc.message)

    recent = services.pipeline.recent
    converted = convert_batch(doc["batch"], lambda span_id: RecentIds.key(key.project_id, span_id) in recent)
    errors = [{"id": e.id, "status": e.status, "message": e.message, "error": e.message} for e in converted.errors]
    successes = [{"id": event_id, "status": 201} for event_id in converted.ok]
    if converted.spans:
        batch = decode_batch(msgspec.json.encode({"spans": converted.spans}), JSON, config.max_batch_spans)
        # The same monthly quota and metering as /v1/ingest: a refusal answers for the whole batch,
        # so the SDK retries it later instead of losing the refused part.
        ticket = services.billing.admit(key.project_id, key.id, batch, recent, len(received))
        result = None
        try:
            if ticket.refusal:
                services.metrics.inc("lynex_langfuse_requests_refused_total", reason="http_429")
                return error_response(429, ticket.refusal.message, {"Retry-After": str(ticket.refusal.retry_after_s)})
            result = await services.pipeline.ingest(key.project_id, batch)
        except AtCapacity:
            return error_response(503, "ingest buffer is full; retry after the Retry-After delay", {"Retry-After": "1"})
        except StorageUnavailable as exc:
            return error_response(503, f"storage unavailable, nothing was accepted: {exc}", {"Retry-After": "5"})
        finally:
            services.billing.settle(ticket, result)
        refused = {r.index: r.error for r in batch.rejected}
        for index, sources in enumerate(converted.sources):
            for event_id in sources:
                if index in refused:
                    errors.append({"id": event_id, "status": 400, "message": refused[index], "error": refused[index]})
                else:
                    successes.append({"id": event_id, "status": 201})
    return json_response({"successes": successes, "errors": errors}, 207)


@get("/api/public/projects", sync_to_thread=False)
def projects(request: Request) -> Response:
    """What ``Langfuse.auth_check()`` calls: the key's project."""
    services = request.app.state.services
    try:
        key = langfuse_key(request, services.meta, "ingest")
    except AuthFailure as exc:
        return error_response(exc.status, exc.message)
    project = services.meta.project(key.project_id)
    return json_response({"data": [{"id": project.id, "name": project.name}]})


@get("/api/public/health", sync_to_thread=False)
def health() -> Response:
    return json_response({"status": "OK", "version": "lynex"})


ROUTES = [ingestion, projects, health]
