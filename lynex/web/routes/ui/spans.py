"""Span detail (prompt/response viewer) and the trace view (tree + waterfall, paged subtrees)."""

from __future__ import annotations

import datetime as dt

from litestar import Request, Response, get
from litestar.params import FromPath

from lynex.errors import NotFound
from lynex.storage import aggregates
from lynex.storage.query import JSON_COLUMNS
from lynex.web.routes.ui.formats import from_epoch_us, iso
from lynex.web.routes.ui.messages import parse_json, pretty, to_messages
from lynex.web.routes.ui.tracetree import Outline
from lynex.web.routes.ui.web import is_partial, page, require_session, services

TRACE_BUDGET = 300  # rows rendered per request: a 10,000-span trace stays quick to render and to scroll
CHILD_PAGE = 100


def span_context(row: dict) -> dict:
    """What span.html needs: messages (or JSON), pretty payloads, the raw span as JSON."""
    values = {c: parse_json(row.get(c)) for c in JSON_COLUMNS}
    raw = {k: (values[k] if k in values else iso(v) if isinstance(v, dt.datetime) else v)
           for k, v in row.items() if k != "project_id"}
    return {
        "span": row,
        "input_messages": to_messages(values["input"], "user"),
        "output_messages": to_messages(values["output"], "assistant"),
        "input_json": pretty(values["input"]) if values["input"] is not None else None,
        "output_json": pretty(values["output"]) if values["output"] is not None else None,
        "metadata_json": pretty(values["metadata"]) if values["metadata"] not in (None, {}) else None,
        "params_json": pretty(values["model_parameters"]) if values["model_parameters"] not in (None, {}) else None,
        "raw_json": pretty(raw),
        "flags": row.get("flags") or [],
    }


def _span(request: Request, project_id: str, span_id: str) -> tuple:
    svc = services(request)
    project = svc.meta.project(project_id)
    row = svc.queries.get_span(project.id, span_id, from_epoch_us(request.query_params.get("at")))
    if row is None:
        raise NotFound(f"span '{span_id}' not found in project {project.name}")
    return project, row


@get("/p/{project_id:str}/spans/{span_id:str}", sync_to_thread=True)
def span_page(request: Request, project_id: FromPath[str], span_id: FromPath[str]) -> Response:
    session = require_session(request)
    project, row = _span(request, project_id, span_id)
    base = f"/p/{project.id}"
    context = dict(session=session, project=project, nav="spans", base=base, **span_context(row))
    if is_partial(request) and request.query_params.get("panel") == "1":
        return page(request, "_partials/span_detail.html", panel=True, **context)
    return page(request, "span.html", panel=False, **context)


def _outline(request: Request, project_id: str, trace_id: str):
    svc = services(request)
    project = svc.meta.project(project_id)
    spans = aggregates.trace_outline(svc.queries, project.id, trace_id)
    if not spans:
        raise NotFound(f"trace '{trace_id}' not found in project {project.name}")
    return project, spans, Outline.build(spans)


@get("/p/{project_id:str}/traces/{trace_id:str}", sync_to_thread=True)
def trace_page(request: Request, project_id: FromPath[str], trace_id: FromPath[str]) -> Response:
    session = require_session(request)
    project, spans, outline = _outline(request, project_id, trace_id)
    base = f"/p/{project.id}"
    selected_id = request.query_params.get("span") or outline.children[None][0]["id"]
    selected = (services(request).queries.get_span(project.id, selected_id, outline.spans[selected_id]["start_time"])
                if selected_id in outline.spans else None)
    errors = sum(1 for s in spans if s["status"] == "error")
    return page(request, "trace.html", session=session, project=project, nav="spans", base=base,
                trace_id=trace_id, rows=outline.rows(budget=TRACE_BUDGET, child_page=CHILD_PAGE),
                span_count=len(spans), error_count=errors, duration_ms=outline.duration_us / 1000.0,
                start=outline.start, selected_id=selected_id,
                detail=span_context(selected) if selected else None, panel=True)


@get("/p/{project_id:str}/traces/{trace_id:str}/more", sync_to_thread=True)
def trace_more(request: Request, project_id: FromPath[str], trace_id: FromPath[str]) -> Response:
    """The next rows under one parent (replaces the "more" row that asked for them)."""
    session = require_session(request)
    project, _, outline = _outline(request, project_id, trace_id)
    parent = request.query_params.get("parent") or None
    if parent is not None and parent not in outline.spans:
        raise NotFound(f"span '{parent}' is not in trace '{trace_id}'")
    try:
        offset = max(int(request.query_params.get("offset", "0")), 0)
    except ValueError:
        offset = 0
    depth = outline.depth_of(parent) + 1 if parent else 0
    rows = outline.rows(parent, offset, depth, budget=TRACE_BUDGET, child_page=CHILD_PAGE)
    return page(request, "_partials/trace_rows.html", session=session, project=project,
                base=f"/p/{project.id}", trace_id=trace_id, rows=rows, selected_id=None)


ROUTES = [span_page, trace_page, trace_more]
