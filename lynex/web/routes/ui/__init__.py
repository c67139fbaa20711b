"""The web dashboard: server-rendered pages (Jinja2, autoescaped) enhanced by vendored htmx.

``router()`` is everything the app mounts; ``UiState`` holds templates, the login limiter and
the live-tail hub; ``lifespan`` attaches the hub to the ingest pipeline once it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

from litestar import Litestar, Request, Response, Router
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.static_files import create_static_files_router

from lynex.errors import NotFound
from lynex.web.routes.ui import accounts, alerts, overview, settings, spans, timeline, usage
from lynex.web.routes.ui.web import (
    SECURITY_HEADERS, WEB_DIR, Forbidden, LoginRequired, UiState, current_session, page, redirect,
)

__all__ = ["UiState", "lifespan", "router"]


@contextlib.asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Runs after the core lifespan has started the pipeline: attach the live tail to it."""
    hub = app.state.ui.live
    hub.attach(app.state.services.pipeline, asyncio.get_running_loop())
    try:
        yield
    finally:
        hub.close()


def _error_page(request: Request, status: int, title: str, message: str) -> Response:
    session = current_session(request) if status != 401 else None
    return page(request, "error.html", status, session=session, title=title, message=message)


def _login_required(request: Request, _: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    from urllib.parse import quote
    return redirect(request, f"/login?next={quote(target, safe='')}")


def _forbidden(request: Request, exc: Exception) -> Response:
    return _error_page(request, 403, "Not allowed", str(exc))


def _not_found(request: Request, exc: Exception) -> Response:
    message = str(exc) if isinstance(exc, NotFound) else "No such page."
    return _error_page(request, 404, "Not found", message)


def _bad_request(request: Request, exc: Exception) -> Response:
    detail = getattr(exc, "detail", "") or "The request was malformed."
    return _error_page(request, 400, "Bad request", str(detail))


def _http_error(request: Request, exc: HTTPException) -> Response:
    return _error_page(request, exc.status_code, "Error", str(exc.detail))


def _static_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def router() -> list:
    """Route handlers of the dashboard, with its security headers and error pages."""
    pages = Router(
        path="/",
        route_handlers=[*accounts.ROUTES, *settings.ROUTES, *overview.ROUTES, *timeline.ROUTES, *spans.ROUTES,
                      *alerts.ROUTES, *usage.ROUTES],
        response_headers=SECURITY_HEADERS,
        exception_handlers={
            LoginRequired: _login_required,
            Forbidden: _forbidden,
            NotFound: _not_found,
            NotFoundException: _not_found,
            ValidationException: _bad_request,
            HTTPException: _http_error,
        },
        include_in_schema=False,
    )
    static = create_static_files_router(
        path="/static", directories=[WEB_DIR / "static"], after_request=_static_headers,
        cache_control=CacheControlHeader(max_age=86400, public=True))
    return [pages, static]
