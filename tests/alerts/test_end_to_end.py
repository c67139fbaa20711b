"""End to end on the real app: error burst → realtime spike alert on every channel, exactly once;
errors stop → resolved notification; receivers down → retries, then a recorded failed delivery."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

from tests.alerts.conftest import spans
from tests.helpers import wait_for


def _channels(client, headers, receiver, email_to="oncall@example.com"):
    hook = client.post("/v1/alerts/channels", headers=headers,
                       json={"type": "webhook", "name": "ops hook", "url": receiver.url("/hook")})
    assert hook.status_code == 201, hook.text
    receiver.secrets["/hook"] = hook.json()["secret"]  # shown once, at creation
    slack = client.post("/v1/alerts/channels", headers=headers,
                        json={"type": "slack", "name": "#alerts", "url": receiver.url("/slack")})
    mail = client.post("/v1/alerts/channels", headers=headers,
                       json={"type": "email", "name": "on-call", "to": [email_to]})
    assert slack.status_code == 201 and mail.status_code == 201, (slack.text, mail.text)
    return hook.json()["id"], slack.json()["id"], mail.json()["id"]


def test_error_burst_fires_once_in_realtime_then_resolves(alert_client, admin, http_receiver, smtp_receiver):
    project_id, headers = admin
    client = alert_client
    channel_ids = _channels(client, headers, http_receiver)
    rule = client.post("/v1/alerts/rules", headers=headers, json={
        "name": "gpt-4o-mini error spike", "metric": "error_spike", "factor": 3, "min_count": 20,
        "window": "3s", "filters": {"model": "gpt-4o-mini"}, "channels": list(channel_ids)})
    assert rule.status_code == 201, rule.text
    rule = rule.json()

    # Background traffic below the floor: nothing fires.
    client.post("/v1/ingest", headers=headers, json={"spans": spans("ok", 30) + spans("e0", 5, "error")})
    # The burst, in several requests (the schedule is hourly in this app: only realtime can fire).
    burst_started = time.monotonic()
    for n in range(4):
        r = client.post("/v1/ingest", headers=headers, json={"spans": spans(f"burst{n}", 10, "error")})
        assert r.status_code == 200, r.text
    hook = wait_for(lambda: http_receiver.at("/hook"), timeout=10)
    assert time.monotonic() - burst_started < 10
    event = hook[0].json
    assert hook[0].signature_ok is True
    assert hook[0].headers["X-Lynex-Event"] == "alert.firing"
    assert event["type"] == "alert.firing" and event["source"] == "realtime"
    assert event["rule"]["id"] == rule["id"] and event["project"]["id"] == project_id
    assert event["details"]["baseline"] == 0
    # The realtime trigger fires as soon as the floor (20) is crossed, within the burst.
    assert 20 <= event["value"] <= 45 and event["value"] == event["details"]["errors"]
    link = urlsplit(event["link"])
    assert link.netloc == "lynex.test" and link.path == f"/p/{project_id}/spans"
    query = parse_qs(link.query)
    assert query["model"] == ["gpt-4o-mini"] and query["status"] == ["error"] and query["range"] == ["custom"]

    slack = wait_for(lambda: http_receiver.at("/slack"), timeout=10)[0].json
    assert slack["blocks"][0]["type"] == "header" and "FIRING" in slack["blocks"][0]["text"]["text"]
    button = slack["blocks"][-1]["elements"][0]
    assert button["url"] == event["link"]
    mail = wait_for(lambda: smtp_receiver.messages, timeout=10)[0]
    assert mail["tls"] and mail["auth"] and mail["to"] == ["oncall@example.com"]
    assert "[FIRING] gpt-4o-mini error spike" in mail["msg"]["Subject"]
    assert event["link"] in mail["msg"].get_payload(decode=True).decode()

    # Still firing: more errors and evaluations, no second notification.
    client.post("/v1/ingest", headers=headers, json={"spans": spans("more", 20, "error")})
    client.services.alerts.evaluate_all()
    time.sleep(1.0)
    assert len(http_receiver.at("/hook")) == 1 and len(http_receiver.at("/slack")) == 1
    assert len(smtp_receiver.messages) == 1

    # Errors stop; once the window has passed, the scheduled job's evaluation resolves it.
    time.sleep(3.2)
    client.services.alerts.evaluate_all()
    resolved = wait_for(lambda: [d for d in http_receiver.at("/hook") if d.json["type"] == "alert.resolved"],
                        timeout=10)
    assert resolved[0].signature_ok and resolved[0].json["incident_id"] == event["incident_id"]
    assert resolved[0].json["resolved_at"] >= resolved[0].json["started_at"]
    wait_for(lambda: len(http_receiver.at("/slack")) == 2 and len(smtp_receiver.messages) == 2, timeout=10)
    assert "[RESOLVED]" in smtp_receiver.messages[1]["msg"]["Subject"]

    history = client.get("/v1/alerts/incidents", headers=headers).json()["data"]
    assert len(history) == 1
    incident = history[0]
    assert incident["state"] == "resolved" and incident["source"] == "realtime"
    assert sorted((d["event"], d["status"]) for d in incident["deliveries"]) == \
        [("firing", "sent")] * 3 + [("resolved", "sent")] * 3
    events = client.get("/v1/alerts/events", headers=headers).json()["data"]
    assert [e["kind"] for e in events] == ["firing", "resolved"]


def test_dead_and_failing_receivers_retry_then_fail_others_deliver(alert_client, admin, http_receiver,
                                                                   smtp_receiver):
    project_id, headers = admin
    client = alert_client
    http_receiver.fail["/broken"] = 500
    dead = client.post("/v1/alerts/channels", headers=headers,
                       json={"type": "webhook", "name": "dead", "url": "http://127.0.0.1:9/nothing-listens"}).json()
    broken = client.post("/v1/alerts/channels", headers=headers,
                         json={"type": "webhook", "name": "broken", "url": http_receiver.url("/broken")}).json()
    good = client.post("/v1/alerts/channels", headers=headers,
                       json={"type": "slack", "name": "good", "url": http_receiver.url("/good")}).json()
    mail = client.post("/v1/alerts/channels", headers=headers,
                       json={"type": "email", "name": "mail", "to": "a@example.com, b@example.com"}).json()
    rule = client.post("/v1/alerts/rules", headers=headers, json={
        "name": "any errors", "metric": "error_count", "threshold": 0, "window": "1h", "realtime": False,
        "channels": [dead["id"], broken["id"], good["id"], mail["id"]]}).json()
    client.post("/v1/ingest", headers=headers, json={"spans": spans("x", 3, "error")})
    wait_for(client.services.pipeline.caught_up)
    decision = client.post(f"/v1/alerts/rules/{rule['id']}/evaluate", headers=headers).json()
    assert decision["firing"] and decision["value"] == 3

    def settled():
        incident = client.get("/v1/alerts/incidents", headers=headers).json()["data"][0]
        states = {d["channel"]: d for d in incident["deliveries"]}
        return states if all(d["status"] in ("sent", "failed") for d in states.values()) else None
    states = wait_for(settled, timeout=20)
    assert states["good"]["status"] == "sent" and states["mail"]["status"] == "sent"
    assert states["dead"]["status"] == "failed" and states["dead"]["attempts"] == 3
    assert "cannot reach" in states["dead"]["error"]
    assert states["broken"]["status"] == "failed" and states["broken"]["attempts"] == 3
    assert states["broken"]["error"] == "HTTP 500 from 127.0.0.1"
    assert http_receiver.attempts["/broken"] == 3
    assert len(http_receiver.at("/good")) == 1 and len(smtp_receiver.messages) == 1
    assert smtp_receiver.messages[0]["to"] == ["a@example.com", "b@example.com"]
    # The server keeps serving, and a later test send to the good channel goes through.
    assert client.get("/readyz").status_code == 200
    sent = client.post(f"/v1/alerts/channels/{good['id']}/test", headers=headers)
    assert sent.status_code == 202
    wait_for(lambda: len(http_receiver.at("/good")) == 2, timeout=10)
    # The receiver has the request a moment before the delivery record says so: wait for the record.
    delivery_url = f"/v1/alerts/deliveries/{sent.json()['delivery_id']}"
    delivery = wait_for(lambda: (d := client.get(delivery_url, headers=headers).json())["status"] != "pending" and d,
                        timeout=10)
    assert delivery["status"] == "sent"
    assert client.services.metrics.value("lynex_alert_deliveries_total", type="webhook", status="failed") == 2
