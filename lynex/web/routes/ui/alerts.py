"""Alert pages: rules (create, mute, enable, delete), channels (create, send test, delete), history."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, URLEncodedBody

from lynex.alerts.channels import CHANNEL_TYPES
from lynex.alerts.rules import ERROR_CLASSES, FILTERS, METRICS, PERCENTILES, AlertValidationError, parse_duration
from lynex.models import SPAN_KINDS
from lynex.web.routes.ui.web import check_csrf, form_value, form_values, page, redirect, require_session, services

Form = URLEncodedBody[dict[str, Any]]
HISTORY = 50


def _rules_page(request: Request, session, project, status: int = 200, **extra: Any) -> Response:
    alerts = services(request).alerts
    rules = alerts.store.rules(project.id)
    firing = {r.id for r in rules if alerts.store.open_incident(r.id) is not None}
    channels = alerts.store.channels(project.id)
    context = {"error": None, "form": {}, "rules": rules, "firing": firing, "channels": channels,
               "channel_names": {c.id: c.name for c in channels}, "incidents": alerts.store.incidents(project.id, HISTORY),
               "metrics": METRICS, "percentiles": PERCENTILES, "filters": FILTERS, "kinds": SPAN_KINDS,
               "error_classes": ERROR_CLASSES, "now": time.time()}
    context.update(extra)
    return page(request, "alerts.html", status, session=session, project=project, nav="alerts", **context)


@get("/p/{project_id:str}/alerts", sync_to_thread=True)
def alerts_page(request: Request, project_id: FromPath[str]) -> Response:
    session = require_session(request)
    return _rules_page(request, session, services(request).meta.project(project_id))


def rule_from_form(form: dict) -> dict:
    """The rule definition a form describes (blank fields left to the defaults)."""
    data: dict[str, Any] = {"name": form_value(form, "name"), "metric": form_value(form, "metric")}
    for key in ("threshold", "window", "percentile", "factor", "min_count", "cooldown"):
        value = form_value(form, key).strip()
        if value:
            data[key] = value
    if "min_count" in data:
        try:
            data["min_count"] = int(data["min_count"])
        except ValueError:
            raise AlertValidationError(f"min_count: must be a whole number, got '{data['min_count']}'") from None
    data["filters"] = {k: form_value(form, f"filter_{k}").strip() for k in FILTERS if form_value(form, f"filter_{k}").strip()}
    data["channels"] = form_values(form, "channel")
    data["realtime"] = form_value(form, "realtime") == "on"
    return data


@post("/p/{project_id:str}/alerts/rules", sync_to_thread=True)
def rule_create(request: Request, project_id: FromPath[str], data: Form) -> Response:
    session = require_session(request, admin=True)
    check_csrf(request, data, session)
    project = services(request).meta.project(project_id)
    try:
        services(request).alerts.create_rule(project.id, rule_from_form(data))
    except AlertValidationError as exc:
        return _rules_page(request, session, project, 400, error=str(exc), form=data)
    return redirect(request, f"/p/{project.id}/alerts")


@post("/p/{project_id:str}/alerts/rules/{rule_id:str}/mute", sync_to_thread=True)
def rule_mute(request: Request, project_id: FromPath[str], rule_id: FromPath[str], data: Form) -> Response:
    """Mute for a duration ('1h', '1d'), or unmute with an empty duration."""
    session = require_session(request, admin=True)
    check_csrf(request, data, session)
    project = services(request).meta.project(project_id)
    raw = form_value(data, "for").strip()
    try:
        until = time.time() + parse_duration("for", raw) if raw else None
        services(request).alerts.mute_rule(project.id, rule_id, until)
    except AlertValidationError as exc:
        return _rules_page(request, session, project, 400, error=str(exc))
    return redirect(request, f"/p/{project.id}/alerts")


@post("/p/{project_id:str}/alerts/rules/{rule_id:str}/enabled", sync_to_thread=True)
def rule_enable(request: Request, project_id: FromPath[str], rule_id: FromPath[str], data: Form) -> Response:
    session = require_session(request, admin=True)
    check_csrf(request, data, session)
    project = services(request).meta.project(project_id)
    services(request).alerts.update_rule(project.id, rule_id, {"enabled": form_value(data, "enabled") == "1"})
    return redirect(request, f"/p/{project.id}/alerts")


@post("/p/{project_id:str}/alerts/rules/{rule_id:str}/delete", sync_to_thread=True)
def rule_delete(request: Request, project_id: FromPath[str], rule_id: FromPath[str], data: Form) -> Response:
    session = require_session(request, admin=True)
    check_csrf(request, data, session)
    project = services(request).meta.project(project_id)
    services(request).alerts.delete_rule(project.id, rule_id)
    return redirect(request, f"/p/{project.id}/alerts")


# -- channels ---------------------------------------------------------------------------------
def _channels_page(request: Request, session, project, status: int = 200, **extra: Any) -> Response:
    alerts = services(request).alerts
    context = {"error": None, "notice": None, "secret": None, "new_channel": None, "form": {},
               "channels": alerts.store.channels(project.id), "types": CHANNEL_TYPES,
               "deliveries": alerts.store.recent_deliveries(project.id),
               "smtp_configured": bool(services(request).config.smtp_host)}
    context.update(extra)
    return page(request, "alerts_channels.html", status, session=session, project=project, nav="alerts", **context)


@get("/p/{project_id:str}/alerts/channels", sync_to_thread=True)
def channels_page(request: Request, project_id: FromPath[str]) -> Response:
    session = require_session(request)
    project = services(request).meta.project(project_id)
    notice = "Test notification queued: its outcome appears under Recent deliveries." \
        if request.query_params.get("tested") else None
    return _channels_page(request, session, project, notice=notice)


@post("/p/{project_id:str}/alerts/channels", sync_to_thread=True)
def channel_create(request: Request, project_id: FromPath[str], data: Form) -> Response:
    session = require_session(request, admin=True)
    check_csrf(request, data, session)
    project = services(request).meta.project(project_id)
    definition: dict[str, Any] = {"type": form_value(data, "type"), "name": form_value(data, "name")}
    if definition["type"] in ("webhook", "slack"):
        definition["url"] = form_value(data, "url")
    if definition["type"] == "webhook" and form_value(data, "secret").strip():
        definition["secret"] = form_value(data, "secret").strip()
    if definition["type"] == "email":
        definition["to"] = form_value(data, "to")
    try:
        channel, secret = services(request).alerts.create_channel(project.id, definition)
    except AlertValidationError as exc:
        safe = {k: v for k, v in data.items() if k not in ("secret", "url", "_csrf")}  # never echo credentials
        return _channels_page(request, session, project, 400, error=str(exc), form=safe)
    # A generated webhook secret is in this response only: it is stored encrypted and never shown again.
    return _channels_page(request, session, project, 201, secret=secret, new_channel=channel)


@post("/p/{project_id:str}/alerts/channels/{channel_id:str}/test", sync_to_thread=True)
def channel_test(request: Request, project_id: FromPath[str], channel_id: FromPath[str], data: Form) -> Response:
    session = require_session(request, admin=True)
    check_csrf(request, data, session)
    project = services(request).meta.project(project_id)
    services(request).alerts.send_test(project.id, channel_id)
    return redirect(request, f"/p/{project.id}/alerts/channels?tested=1")


@post("/p/{project_id:str}/alerts/channels/{channel_id:str}/delete", sync_to_thread=True)
def channel_delete(request: Request, project_id: FromPath[str], channel_id: FromPath[str], data: Form) -> Response:
    session = require_session(request, admin=True)
    check_csrf(request, data, session)
    project = services(request).meta.project(project_id)
    services(request).alerts.delete_channel(project.id, channel_id)
    return redirect(request, f"/p/{project.id}/alerts/channels")


ROUTES = [alerts_page, rule_create, rule_mute, rule_enable, rule_delete, channels_page, channel_create, channel_test,
          channel_delete]
