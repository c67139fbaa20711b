"""Plumbing for the raw ASGI handlers of the busiest endpoints (``/v1/ingest``, ``/v1/traces``).

Litestar routes to them and wraps them in its exception handling; the per-request Request /
signature / Response machinery is skipped because at full ingest rate it was a fifth of the
event loop. These helpers give them the same limits and answers the Litestar routes have, and
``read_body`` gives Litestar routes taking raw bodies (Langfuse) the same size limits.
"""

from __future__ import annotations

from litestar import Request
from litestar.types import Receive, Scope, Send

from lynex.ingest.decode import BodyError


class Disconnected(Exception):
    """The client went away before sending its whole body: nothing to answer."""


def request_headers(scope: Scope) -> dict[str, str]:
    """Header names lowercased → values (the last one wins for a repeated header)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def receive_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The request body, refusing (413) as soon as it passes ``limit`` bytes (or declares so)."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, f"body is {declared} bytes; the limit is {limit} (max_body_bytes)")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyError(413, f"body is over the limit of {limit} bytes (max_body_bytes)")
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_body(request: Request, limit: int) -> bytes:
    """``receive_body`` for a Litestar route's request."""
    return await receive_body(request.receive, request.headers.get("content-length"), limit)


async def send_response(send: Send, status: int, body: bytes, media_type: str,
                        headers: dict[str, str] | None = None) -> None:
    raw = [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]
    if headers:
        raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
