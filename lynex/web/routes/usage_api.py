"""GET /v1/usage — metered usage (scope ``read``: the key's project; ``admin``: every project)."""

from __future__ import annotations

import datetime as dt

from litestar import Request, Response, get

from lynex.billing.report import GROUPS, ReportError, to_csv
from lynex.storage.query import QueryError, parse_time
from lynex.web.auth import AuthFailure, bearer_token
from lynex.web.responses import json_response


def _caller_projects(request: Request, services) -> list[str] | None:
    """Projects the caller may see: None (all) for an admin key, else the key's own project."""
    token = bearer_token(request.headers)
    if not token:
        raise AuthFailure(401, "missing API key: send 'Authorization: Bearer <key>'")
    key = services.meta.authenticate(token)
    if key is None:
        raise AuthFailure(401, "invalid or revoked API key")
    wanted = request.query_params.get("project_id") or None
    if "admin" in key.scopes:
        return [wanted] if wanted else None
    if "read" not in key.scopes:
        raise AuthFailure(403, f"this API key lacks the 'read' scope (it has: {', '.join(key.scopes)})")
    if wanted and wanted != key.project_id:
        raise AuthFailure(403, "a 'read' key sees its own project's usage only; use an 'admin' key for others")
    return [key.project_id]


def _naive(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.timezone.utc).replace(tzinfo=None) if when.tzinfo else when


@get("/v1/usage", sync_to_thread=True)
def get_usage(request: Request) -> Response:
    """Usage in [since, until) (default: this billing month) grouped by project/key/model/day/month."""
    services = request.app.state.services
    billing = services.billing
    projects = _caller_projects(request, services)
    params = request.query_params
    since, until = billing.month_range()
    if params.get("since"):
        since = _naive(parse_time("since", params.get("since")))
    if params.get("until"):
        until = _naive(parse_time("until", params.get("until")))
    if since >= until:
        raise QueryError("since: must be before until")
    group_by = params.get("group_by") or "project"
    try:
        rows, totals = billing.report(since, until, group_by, projects)
    except ReportError as exc:
        raise QueryError(str(exc)) from None
    if params.get("format") == "csv":
        return Response(to_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="lynex-usage-{group_by}.csv"'})
    month, used, limit = billing.month_usage()
    return json_response({
        "since": since.isoformat() + "Z", "until": until.isoformat() + "Z", "group_by": group_by,
        "groups": list(GROUPS), "data": [r.as_dict() for r in rows], "totals": totals,
        "plan": billing.entitlement().as_dict() if projects is None else {"plan": billing.entitlement().plan.name},
        "quota": {"month": month, "spans_accepted": used, "spans_per_month": limit},
    })


ROUTES = [get_usage]
