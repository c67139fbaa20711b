"""Event timeline: spans newest first with filters in the URL, keyset pages, and a live tail (SSE)."""

from __future__ import annotations

import asyncio

import anyio
from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from lynex.storage import aggregates
from lynex.storage.query import QueryError
from lynex.web.routes.ui.filters import RANGES, TIMELINE_FILTERS, parse_view
from lynex.web.routes.ui.messages import preview
from lynex.web.routes.ui.web import is_partial, page, require_session, services, ui

PAGE_SIZE = 50
KEEPALIVE_S = 15.0
STREAM_MAX_S = 600.0  # EventSource reconnects by itself; bounded streams never pin a shutdown
KINDS = ("llm", "tool", "retrieval", "embedding", "agent", "chain", "guardrail", "evaluator", "custom")
ERROR_CLASSES = ("rate_limit", "timeout", "context_length", "auth", "content_filter", "server",
                 "invalid_request", "other")


def timeline_rows(rows: list[dict]) -> list[dict]:
    for row in rows:
        row["preview"] = preview(row.pop("input_preview", None))
    return rows


@get("/p/{project_id:str}/spans", sync_to_thread=True)
def timeline_page(request: Request, project_id: FromPath[str]) -> Response:
    session = require_session(request)
    svc = services(request)
    project = svc.meta.project(project_id)
    view = parse_view(request.query_params, TIMELINE_FILTERS, "all")
    cursor = request.query_params.get("cursor") or None
    base = f"/p/{project.id}"
    try:
        result = svc.queries.list_spans(project.id, view.flt, PAGE_SIZE, cursor, aggregates.TIMELINE_COLUMNS)
    except QueryError as exc:
        view.errors.append(str(exc))
        result = svc.queries.list_spans(project.id, view.flt, PAGE_SIZE, None, aggregates.TIMELINE_COLUMNS)
    rows = timeline_rows(result.rows)
    next_url = view.url(base + "/spans", cursor=result.next_cursor) if result.next_cursor else None
    context = dict(session=session, project=project, nav="spans", view=view, rows=rows, base=base,
                   next_url=next_url, first_page=cursor is None, ranges=list(RANGES), kinds=KINDS,
                   error_classes=ERROR_CLASSES, live_url=f"{base}/live" + view.url("", range=None, since=None,
                                                                                   until=None))
    if is_partial(request) and request.query_params.get("fragment") == "rows":
        return page(request, "_partials/timeline_rows.html", **context)
    return page(request, "timeline.html", **context)


@get("/p/{project_id:str}/live")
async def live_tail(request: Request, project_id: FromPath[str]) -> ServerSentEvent:
    """New spans matching the timeline's filters, as rendered table rows (event ``span``)."""
    session = require_session(request)
    svc = services(request)
    project = svc.meta.project(project_id)
    view = parse_view(request.query_params, TIMELINE_FILTERS, "all")
    flt = view.flt
    flt.since = flt.until = None  # the tail is what arrives from now on
    state = ui(request)
    sub = state.live.subscribe(project.id)
    base = f"/p/{project.id}"

    async def stream():
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_MAX_S
        try:
            yield ServerSentEventMessage(comment="live tail connected", retry=2000)
            while loop.time() < deadline:
                try:
                    table = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    yield ServerSentEventMessage(comment="keep-alive")
                    continue
                if table is None:  # server stopping
                    return
                rows = await anyio.to_thread.run_sync(aggregates.new_rows, table, project.id, flt)
                if rows:
                    html = state.render("_partials/timeline_rows.html", rows=timeline_rows(rows), base=base,
                                        live=True, next_url=None, view=view, user=session.user)
                    yield ServerSentEventMessage(event="span", data=html)
        finally:
            state.live.unsubscribe(sub)

    return ServerSentEvent(stream(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


ROUTES = [timeline_page, live_tail]
