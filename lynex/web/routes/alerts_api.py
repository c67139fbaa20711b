"""Alerts API under ``/v1/alerts/…``: rules, channels, incidents, events; an ``admin`` key's project.

Errors have the API's one shape, ``{"error": "<field>: <reason>", "status": N}``.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from litestar import Request, Response, Router, delete, get, patch, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath, JSONBody

from lynex.alerts.rules import AlertValidationError, parse_duration
from lynex.errors import NotFound
from lynex.storage.query import QueryError, parse_time
from lynex.web.auth import AuthFailure, require_key
from lynex.web.responses import error_response, json_response

MAX_INCIDENTS = 1000


def _project(request: Request) -> str:
    return require_key(request.headers, request.app.state.services.meta, "admin").project_id


def _alerts(request: Request):
    return request.app.state.services.alerts


def _body(data: Any) -> dict:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AlertValidationError("body: must be a JSON object")
    return data


# -- rules ------------------------------------------------------------------------------------
@get("/rules", sync_to_thread=True)
def list_rules(request: Request) -> Response:
    """Every alert rule of the key's project."""
    project_id = _project(request)
    return json_response({"data": [r.to_dict() for r in _alerts(request).store.rules(project_id)]})


@post("/rules", sync_to_thread=True)
def create_rule(request: Request, data: JSONBody[Any] = None) -> Response:
    """Create a rule; 400 names the bad field."""
    project_id = _project(request)
    return json_response(_alerts(request).create_rule(project_id, _body(data)).to_dict(), 201)


@get("/rules/{rule_id:str}", sync_to_thread=True)
def get_rule(request: Request, rule_id: FromPath[str]) -> Response:
    return json_response(_alerts(request).store.rule(rule_id, _project(request)).to_dict())


@patch("/rules/{rule_id:str}", sync_to_thread=True)
def update_rule(request: Request, rule_id: FromPath[str], data: JSONBody[Any] = None) -> Response:
    """Change some fields of a rule; the others are kept."""
    project_id = _project(request)
    return json_response(_alerts(request).update_rule(project_id, rule_id, _body(data)).to_dict())


@delete("/rules/{rule_id:str}", sync_to_thread=True, status_code=204)
def delete_rule(request: Request, rule_id: FromPath[str]) -> None:
    _alerts(request).delete_rule(_project(request), rule_id)


def parse_until(value: Any, now: float) -> float | None:
    """Mute end: null (unmute), a duration from now ('2h'), RFC 3339 or epoch milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) / 1000.0
    if not isinstance(value, str):
        raise AlertValidationError("until: a duration like 2h, an RFC 3339 time, epoch milliseconds or null")
    try:
        return now + parse_duration("until", value)
    except AlertValidationError:
        pass
    try:
        at = parse_time("until", value)
    except QueryError:
        raise AlertValidationError(f"until: '{value}' is not a duration like 2h, an RFC 3339 time "
                                   "or epoch milliseconds") from None
    return (at - dt.datetime(1970, 1, 1)).total_seconds()


@post("/rules/{rule_id:str}/mute", sync_to_thread=True, status_code=200)
def mute_rule(request: Request, rule_id: FromPath[str], data: JSONBody[Any] = None) -> Response:
    """Suppress a rule's notifications until a time (``{"until": "2h"}``); ``{"until": null}`` unmutes."""
    project_id = _project(request)
    until = parse_until(_body(data).get("until"), time.time())
    return json_response(_alerts(request).mute_rule(project_id, rule_id, until).to_dict())


@post("/rules/{rule_id:str}/evaluate", sync_to_thread=True, status_code=200)
def evaluate_rule(request: Request, rule_id: FromPath[str]) -> Response:
    """Evaluate a rule now (as the schedule would) and return the decision."""
    alerts = _alerts(request)
    decision = alerts.evaluate_rule(alerts.store.rule(rule_id, _project(request)), "manual")
    return json_response({"firing": decision.firing, "value": decision.value, "threshold": decision.threshold,
                          "summary": decision.summary, "details": decision.details})


# -- channels ---------------------------------------------------------------------------------
@get("/channels", sync_to_thread=True)
def list_channels(request: Request) -> Response:
    project_id = _project(request)
    return json_response({"data": [c.to_dict() for c in _alerts(request).store.channels(project_id)]})


@post("/channels", sync_to_thread=True)
def create_channel(request: Request, data: JSONBody[Any] = None) -> Response:
    """Create a channel; a webhook's signing secret is in this response only."""
    project_id = _project(request)
    channel, secret = _alerts(request).create_channel(project_id, _body(data))
    out = channel.to_dict()
    if secret:
        out["secret"] = secret
    return json_response(out, 201)


@get("/channels/{channel_id:str}", sync_to_thread=True)
def get_channel(request: Request, channel_id: FromPath[str]) -> Response:
    return json_response(_alerts(request).store.channel(channel_id, _project(request)).to_dict())


@patch("/channels/{channel_id:str}", sync_to_thread=True)
def update_channel(request: Request, channel_id: FromPath[str], data: JSONBody[Any] = None) -> Response:
    project_id = _project(request)
    return json_response(_alerts(request).update_channel(project_id, channel_id, _body(data)).to_dict())


@delete("/channels/{channel_id:str}", sync_to_thread=True, status_code=204)
def delete_channel(request: Request, channel_id: FromPath[str]) -> None:
    _alerts(request).delete_channel(_project(request), channel_id)


@post("/channels/{channel_id:str}/test", sync_to_thread=True, status_code=202)
def test_channel(request: Request, channel_id: FromPath[str]) -> Response:
    """Queue a test notification; poll ``/v1/alerts/deliveries/{id}`` for its outcome."""
    delivery_id = _alerts(request).send_test(_project(request), channel_id)
    return json_response({"delivery_id": delivery_id}, 202)


@get("/deliveries/{delivery_id:str}", sync_to_thread=True)
def get_delivery(request: Request, delivery_id: FromPath[str]) -> Response:
    project_id = _project(request)
    store = _alerts(request).store
    delivery = store.delivery(delivery_id)
    store.channel(delivery["channel_id"], project_id) if delivery["channel_id"] else None
    return json_response(delivery)


# -- history ----------------------------------------------------------------------------------
@get("/incidents", sync_to_thread=True)
def list_incidents(request: Request) -> Response:
    """Alert history, newest first: what fired, when, values, delivery status per channel."""
    project_id = _project(request)
    raw = request.query_params.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_INCIDENTS:
        raise AlertValidationError(f"limit: must be between 1 and {MAX_INCIDENTS}, got '{raw}'")
    incidents = _alerts(request).store.incidents(project_id, int(raw), request.query_params.get("rule_id"))
    return json_response({"data": [i.to_dict() for i in incidents]})


@get("/incidents/{incident_id:str}", sync_to_thread=True)
def get_incident(request: Request, incident_id: FromPath[str]) -> Response:
    return json_response(_alerts(request).store.incident(incident_id, _project(request)).to_dict())


@get("/events", sync_to_thread=True)
def list_events(request: Request) -> Response:
    """Firing/resolved events in [since, until) (default: the last 24h): annotations for charts."""
    project_id = _project(request)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    params = request.query_params
    since = parse_time("since", params["since"], now) if params.get("since") else now - dt.timedelta(days=1)
    until = parse_time("until", params["until"], now) if params.get("until") else now + dt.timedelta(minutes=1)
    return json_response({"data": _alerts(request).annotations(project_id, since, until)})


def _validation(_: Request, exc: Exception) -> Response:
    return error_response(400, str(exc))


def _http_error(_: Request, exc: HTTPException) -> Response:
    if exc.status_code == 400:  # Litestar could not decode the body
        return error_response(400, f"body: not a valid JSON object ({exc.detail})")
    return error_response(exc.status_code, str(exc.detail))


def router() -> Router:
    """Everything under /v1/alerts, with the API's error shape."""
    return Router(
        path="/v1/alerts",
        route_handlers=[list_rules, create_rule, get_rule, update_rule, delete_rule, mute_rule, evaluate_rule,
                        list_channels, create_channel, get_channel, update_channel, delete_channel, test_channel,
                        get_delivery, list_incidents, get_incident, list_events],
        exception_handlers={
            AuthFailure: lambda _, exc: error_response(exc.status, exc.message),
            AlertValidationError: _validation,
            QueryError: _validation,
            NotFound: lambda _, exc: error_response(404, str(exc)),
            HTTPException: _http_error,
        },
        include_in_schema=False,
    )
