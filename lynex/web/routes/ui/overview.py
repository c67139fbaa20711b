"""Overview of one project: requests, latency, tokens, cost, errors over a window, with filters."""

from __future__ import annotations

import datetime as dt
import json

from litestar import Request, Response, get
from litestar.params import FromPath

from lynex.storage import aggregates
from lynex.web.routes.ui.filters import OVERVIEW_FILTERS, RANGES, parse_view
from lynex.web.routes.ui.web import page, redirect, require_session, services, utc_now


@get("/p/{project_id:str}", sync_to_thread=True)
def project_home(request: Request, project_id: FromPath[str]) -> Response:
    require_session(request)
    return redirect(request, f"/p/{project_id}/overview")


@get("/p/{project_id:str}/overview", sync_to_thread=True)
def overview_page(request: Request, project_id: FromPath[str]) -> Response:
    session = require_session(request)
    svc = services(request)
    project = svc.meta.project(project_id)
    now = utc_now()
    view = parse_view(request.query_params, OVERVIEW_FILTERS, "24h", now)
    since = view.since or (now - dt.timedelta(days=1))
    until = view.until or now
    if since >= until:
        since = until - dt.timedelta(hours=1)
    flt = view.flt
    flt.since = flt.until = None  # the window is passed on its own
    ov = aggregates.overview(svc.queries, project.id, flt, since, until)
    chart = ov.chart_data()
    if svc.alerts is not None:  # alert firing/resolved marks on the charts
        # snapped to their bucket's x, so a mark in the newest bucket is not past the axis end
        chart["alerts"] = [{"t": int(e["at"]) - int(e["at"]) % ov.bucket_s, "kind": e["kind"]}
                           for e in svc.alerts.annotations(project.id, since, until)]
    base = f"/p/{project.id}"
    return page(request, "overview.html", session=session, project=project, nav="overview", view=view, ov=ov,
                ranges=list(RANGES), chart_json=json.dumps(chart), base=base,
                spans_url=view.url(base + "/spans", range=view.range))


ROUTES = [project_home, overview_page]
