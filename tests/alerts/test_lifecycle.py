"""Incident lifecycle on the real app and store: schedule, baselines from history, cooldown, mute."""

from __future__ import annotations

import time

from litestar.testing import TestClient

from lynex.app import create_app
from lynex.storage.meta import MetaStore
from tests.alerts.conftest import spans
from tests.helpers import wait_for


def _hook(client, headers, receiver, path="/hook"):
    return client.post("/v1/alerts/channels", headers=headers,
                       json={"type": "webhook", "name": path, "url": receiver.url(path)}).json()["id"]


def test_measures_come_from_stored_spans_with_filters_and_baseline(alert_client, admin):
    project_id, headers = admin
    c = alert_client
    day_ms = 86_400_000
    now = int(time.time() * 1000)
    history = []
    for day in range(1, 8):  # the same minute on each of the last 7 days: 4 errors each
        history += [{"id": f"h{day}-{i}", "start_time": now - day * day_ms - 30_000, "status": "error",
                     "model": "gpt-4o", "error": {"type": "Timeout"}} for i in range(4)]
    c.post("/v1/ingest", headers=headers, json={"spans": history})
    c.post("/v1/ingest", headers=headers, json={"spans": spans("now", 10, "error", model="gpt-4o")
                                               + spans("other", 50, "error", model="claude-3")
                                               + spans("slow", 4, latency_ms=5000.0, model="gpt-4o",
                                                       cost_usd=0.25, usage={"input_tokens": 1000,
                                                                             "output_tokens": 500})})
    wait_for(c.services.pipeline.caught_up)

    def evaluate(**definition):
        rule = c.post("/v1/alerts/rules", headers=headers,
                      json={"name": "r", "realtime": False, "window": "2m", **definition})
        assert rule.status_code == 201, rule.text
        return c.post(f"/v1/alerts/rules/{rule.json()['id']}/evaluate", headers=headers).json()

    # 10 errors now against a baseline of 4: 2.5×, so a 3× spike rule stays quiet, a 2× one fires.
    quiet = evaluate(metric="error_spike", factor=3, min_count=5, filters={"model": "gpt-4o"})
    assert not quiet["firing"] and quiet["value"] == 10 and quiet["details"]["baseline"] == 4
    loud = evaluate(metric="error_spike", factor=2, min_count=5, filters={"model": "gpt-4o"})
    assert loud["firing"] and loud["details"]["ratio"] == 2.5
    rate = evaluate(metric="error_rate", threshold=70, filters={"model": "gpt-4o"})
    assert rate["value"] == 10 / 14 * 100 and rate["firing"]
    by_class = evaluate(metric="error_count", threshold=59, filters={"error_class": "rate_limit"})
    assert by_class["value"] == 60 and by_class["firing"]
    assert evaluate(metric="error_count", threshold=0, filters={"error_class": "timeout"})["value"] == 0
    latency = evaluate(metric="latency", percentile="p99", threshold=4000, filters={"model": "gpt-4o"})
    assert latency["firing"] and latency["value"] > 4000
    assert evaluate(metric="cost", threshold=0.99, window="1h")["value"] == 1.0
    assert evaluate(metric="tokens", threshold=6000, window="1h")["value"] == 6000
    assert not evaluate(metric="tokens", threshold=6000, window="1h")["firing"]
    assert evaluate(metric="volume", threshold=1, filters={"model": "gemini"})["firing"]
    assert not evaluate(metric="volume", threshold=1)["firing"]


def test_scheduled_dead_mans_switch_fires_and_resolves(make_config, smtp_receiver, http_receiver):
    config = make_config(alert_eval_interval_s=0.3, alert_retry_backoff_s=0.05)
    with TestClient(app=create_app(config)) as c:
        meta = MetaStore(config.meta_path)
        project = meta.create_project("quiet-app")
        _, secret = meta.create_key(project.id, "k", ("ingest", "admin"))
        headers = {"Authorization": f"Bearer {secret}"}
        assert "alerts" in c.app.state.services.scheduler.job_ids()
        channel = _hook(c, headers, http_receiver)
        c.post("/v1/alerts/rules", headers=headers, json={
            "name": "silence", "metric": "volume", "threshold": 1, "window": "2s", "channels": [channel]})
        fired = wait_for(lambda: http_receiver.at("/hook"), timeout=10)[0].json
        assert fired["type"] == "alert.firing" and fired["source"] == "schedule" and fired["value"] == 0
        c.post("/v1/ingest", headers=headers, json={"spans": spans("alive", 1)})
        resolved = wait_for(lambda: http_receiver.at("/hook")[1:], timeout=10)[0].json
        assert resolved["type"] == "alert.resolved" and resolved["value"] == 1
        assert resolved["incident_id"] == fired["incident_id"]


def test_cooldown_and_mute_suppress_notifications_but_keep_history(alert_client, admin, http_receiver):
    project_id, headers = admin
    c = alert_client
    alerts = c.services.alerts
    channel = _hook(c, headers, http_receiver)
    rule = c.post("/v1/alerts/rules", headers=headers, json={
        "name": "flappy", "metric": "error_count", "threshold": 0, "window": "1s", "cooldown": "1h",
        "realtime": False, "channels": [channel]}).json()
    stored = alerts.store.rule(rule["id"])

    def burst(tag):
        c.post("/v1/ingest", headers=headers, json={"spans": spans(tag, 2, "error")})
        wait_for(c.services.pipeline.caught_up)

    burst("a")
    assert alerts.evaluate_rule(stored).firing
    time.sleep(1.1)
    assert not alerts.evaluate_rule(stored).firing  # resolved (the window passed)
    burst("b")
    assert alerts.evaluate_rule(stored).firing  # fires again within the cooldown: recorded, not sent
    wait_for(lambda: len(http_receiver.at("/hook")) == 2 and alerts.outbox.idle())
    incidents = c.get("/v1/alerts/incidents", headers=headers).json()["data"]
    assert [i["state"] for i in incidents] == ["firing", "resolved"]
    assert incidents[0]["suppressed"].startswith("cooldown")
    assert [d["status"] for d in incidents[0]["deliveries"]] == ["suppressed"]
    assert [d.json["type"] for d in http_receiver.at("/hook")] == ["alert.firing", "alert.resolved"]

    # Muted: the next incident is recorded, nobody is paged.
    time.sleep(1.1)
    assert not alerts.evaluate_rule(stored).firing
    c.patch(f"/v1/alerts/rules/{rule['id']}", headers=headers, json={"cooldown": "1s"})
    c.post(f"/v1/alerts/rules/{rule['id']}/mute", headers=headers, json={"until": "1h"})
    burst("c")
    assert alerts.evaluate_rule(alerts.store.rule(rule["id"])).firing
    latest = c.get("/v1/alerts/incidents", headers=headers).json()["data"][0]
    assert latest["suppressed"].startswith("muted until")
    time.sleep(0.3)
    assert len(http_receiver.at("/hook")) == 2
    events = c.get("/v1/alerts/events", headers=headers, params={"since": "1h"}).json()["data"]
    assert [e["kind"] for e in events].count("firing") == 3


def test_pending_deliveries_resume_after_restart(alert_config, http_receiver, smtp_receiver):
    config = alert_config(alert_retry_backoff_s=30.0)  # the second try would be far away
    http_receiver.fail["/later"] = 503
    with TestClient(app=create_app(config)) as c:
        meta = MetaStore(config.meta_path)
        project = meta.create_project("p")
        _, secret = meta.create_key(project.id, "k", ("admin",))
        headers = {"Authorization": f"Bearer {secret}"}
        channel = _hook(c, headers, http_receiver, "/later")
        delivery_id = c.post(f"/v1/alerts/channels/{channel}/test", headers=headers).json()["delivery_id"]
        wait_for(lambda: c.get(f"/v1/alerts/deliveries/{delivery_id}", headers=headers).json()["status"] == "retrying")
    del http_receiver.fail["/later"]
    with TestClient(app=create_app(config)) as c:  # the receiver is back; the restart resumes the delivery
        wait_for(lambda: c.get(f"/v1/alerts/deliveries/{delivery_id}", headers=headers).json()["status"] == "sent")
    assert len(http_receiver.at("/later")) == 1
