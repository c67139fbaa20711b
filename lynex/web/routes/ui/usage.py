"""Usage page: this month against the plan's limits, trends per day, spend by model and project,
CSV exports, and a printable monthly report per project for internal chargeback."""

from __future__ import annotations

import datetime as dt
import re

from litestar import Request, Response, get

from lynex.billing import quota
from lynex.billing.report import to_csv
from lynex.web.routes.ui.web import BadInput, current_session, page, require_session, services

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
REPORT_COLUMNS = ["project_id", "project", "spans_accepted", "spans_stored", "spans_rejected", "spans_over_quota",
                  "requests", "bytes_received", "input_tokens", "output_tokens", "cost_usd", "bytes_hot",
                  "bytes_local", "bytes_cold"]


def _month(request: Request) -> tuple[dt.datetime, dt.datetime, str]:
    """The month asked for (?month=YYYY-MM), default the billing clock's current one."""
    billing = services(request).billing
    text = request.query_params.get("month", "")
    if not text:
        start, end = billing.month_range()
    else:
        match = _MONTH.match(text)
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise BadInput(f"month: expected YYYY-MM, got {text!r}")
        start = dt.datetime(int(match.group(1)), int(match.group(2)), 1)
        end = quota.next_month(start)
    return start, end, start.strftime("%Y-%m")


def _bad_input(request: Request, exc: BadInput) -> Response:
    session = current_session(request)
    return page(request, "error.html", 400, session=session, title="Bad request", message=str(exc))


def _named(rows, names: dict[str, str]):
    out = []
    for row in rows:
        d = row.as_dict()
        d["project"] = names.get(d.get("project_id"), d.get("project_id"))
        out.append(d)
    return out


def _limit_rows(svc, used: int, ent) -> list[dict]:
    from lynex.accounts import Accounts
    limits = ent.limits
    users = [u for u in Accounts(svc.meta).users() if not u.disabled_at]
    rows = [("Spans this month", "spans_per_month", used, limits.spans_per_month),
            ("Projects", "projects", len(svc.meta.projects()), limits.projects),
            ("Seats (active accounts)", "seats", len(users), limits.seats),
            ("Retention (days kept)", "retention_days", svc.config.keep_days, limits.retention_days)]
    return [{"label": label, "name": name, "used": value, "limit": limit,
             "level": quota.warning_level(value, limit), "over": quota.over_limit(value, limit)}
            for label, name, value, limit in rows]


@get("/usage", sync_to_thread=True, exception_handlers={BadInput: _bad_input})
def usage_page(request: Request) -> Response:
    session = require_session(request)
    svc = services(request)
    billing = svc.billing
    start, end, month = _month(request)
    names = {p.id: p.name for p in svc.meta.projects()}
    days, day_totals = billing.report(start, end, "day", None)
    models, _ = billing.report(start, end, "model", None)
    projects, totals = billing.report(start, end, "project", None)
    current, used, _ = billing.month_usage()
    ent = billing.entitlement()
    peak = max([d.values["spans_stored"] or 0 for d in days] + [1])
    return page(request, "usage.html", session=session, nav="usage", month=month, current_month=current,
                previous=(start - dt.timedelta(days=1)).strftime("%Y-%m"),
                next=end.strftime("%Y-%m") if month != current else "",
                ent=ent, limits=_limit_rows(svc, used if month == current else (totals["spans_accepted"] or 0), ent),
                days=[r.as_dict() for r in days], peak=peak, models=[r.as_dict() for r in models],
                project_rows=sorted(_named(projects, names), key=lambda d: -(d["cost_usd"] or 0)), totals=totals)


@get("/usage.csv", sync_to_thread=True, exception_handlers={BadInput: _bad_input})
def usage_csv(request: Request) -> Response:
    """This month's usage as CSV, grouped by ?group_by= (day, model, project, key)."""
    require_session(request)
    svc = services(request)
    start, end, month = _month(request)
    group_by = request.query_params.get("group_by", "day")
    if group_by not in ("day", "model", "project", "key"):
        raise BadInput("group_by: one of day, model, project, key")
    rows, _ = svc.billing.report(start, end, group_by, None)
    return Response(to_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="lynex-usage-{month}-{group_by}.csv"',
                             "Cache-Control": "no-store"})


def _report(request: Request):
    svc = services(request)
    start, end, month = _month(request)
    names = {p.id: p.name for p in svc.meta.projects()}
    rows, totals = svc.billing.report(start, end, "project", None)
    return month, sorted(_named(rows, names), key=lambda d: d["project"]), totals


@get("/usage/report", sync_to_thread=True, exception_handlers={BadInput: _bad_input})
def report_page(request: Request) -> Response:
    """The monthly per-project report, laid out to print (chargeback)."""
    session = require_session(request)
    month, rows, totals = _report(request)
    return page(request, "usage_report.html", session=session, nav="usage", month=month, rows=rows, totals=totals,
                ent=services(request).billing.entitlement(), generated=dt.datetime.now(dt.timezone.utc))


@get("/usage/report.csv", sync_to_thread=True, exception_handlers={BadInput: _bad_input})
def report_csv(request: Request) -> Response:
    require_session(request)
    month, rows, totals = _report(request)
    from lynex.billing.report import UsageRow
    table = [UsageRow({}, r) for r in rows] + [UsageRow({}, {**totals, "project_id": "", "project": "TOTAL"})]
    return Response(to_csv(table, REPORT_COLUMNS), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="lynex-usage-report-{month}.csv"',
                             "Cache-Control": "no-store"})


ROUTES = [usage_page, usage_csv, report_page, report_csv]
