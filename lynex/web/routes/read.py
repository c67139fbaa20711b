"""Read API (scope ``read``): spans with filters and cursor pagination, one span, one trace."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.params import FromPath

from lynex.storage.query import QueryError, SpanFilter, build_tree, parse_time, to_wire
from lynex.web.auth import require_key
from lynex.web.responses import error_response, json_response

_FILTERS = ("trace_id", "session_id", "user_id", "model", "provider", "status", "kind", "error_class",
            "environment", "release", "tag", "q")


def filter_from_query(params) -> SpanFilter:
    """Build a SpanFilter from query parameters; QueryError names the bad parameter."""
    flt = SpanFilter(**{name: params.get(name) or None for name in _FILTERS})
    for name in ("since", "until"):
        if params.get(name):
            setattr(flt, name, parse_time(name, params.get(name)))
    flt.validate()
    return flt


@get("/v1/spans", sync_to_thread=True)
def list_spans(request: Request) -> Response:
    services = request.app.state.services
    key = require_key(request.headers, services.meta, "read")
    flt = filter_from_query(request.query_params)
    raw_limit = request.query_params.get("limit", "50")
    if not raw_limit.isdigit():
        raise QueryError(f"limit: '{raw_limit}' is not a whole number")
    page = services.queries.list_spans(key.project_id, flt, int(raw_limit),
                                       request.query_params.get("cursor") or None)
    return json_response({"data": [to_wire(r) for r in page.rows], "next_cursor": page.next_cursor})


@get("/v1/spans/{span_id:str}", sync_to_thread=True)
def get_span(request: Request, span_id: FromPath[str]) -> Response:
    services = request.app.state.services
    key = require_key(request.headers, services.meta, "read")
    row = services.queries.get_span(key.project_id, span_id)
    if row is None:
        return error_response(404, f"span '{span_id}' not found in this project")
    return json_response(to_wire(row))


@get("/v1/traces/{trace_id:str}", sync_to_thread=True)
def get_trace(request: Request, trace_id: FromPath[str]) -> Response:
    services = request.app.state.services
    key = require_key(request.headers, services.meta, "read")
    rows = services.queries.trace_spans(key.project_id, trace_id)
    if not rows:
        return error_response(404, f"trace '{trace_id}' not found in this project")
    spans = [to_wire(r) for r in rows]
    return json_response({"trace_id": trace_id, "span_count": len(spans), "roots": build_tree(spans)})


ROUTES = [list_spans, get_span, get_trace]
