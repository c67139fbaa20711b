"""The /v1/alerts API: admin scope, CRUD, validation errors naming the field, secrets never echoed."""

from __future__ import annotations

import sqlite3

from lynex.storage.meta import MetaStore


def test_needs_an_admin_key(alert_client, admin):
    project_id, headers = admin
    assert alert_client.get("/v1/alerts/rules").status_code == 401
    _, reader = MetaStore(alert_client.config.meta_path).create_key(project_id, "reader", ("read",))
    r = alert_client.get("/v1/alerts/rules", headers={"Authorization": f"Bearer {reader}"})
    assert r.status_code == 403 and "admin" in r.json()["error"]


def test_validation_errors_name_the_field(alert_client, admin):
    _, headers = admin
    cases = [
        ("/v1/alerts/rules", {"name": "x", "metric": "errorz", "threshold": 1}, "metric: unknown metric 'errorz'"),
        ("/v1/alerts/rules", {"name": "x", "metric": "error_rate", "threshold": 1, "window": "-1m"},
         "window: must be positive"),
        ("/v1/alerts/rules", {"name": "x", "metric": "error_rate", "threshold": 1, "channels": ["ch_nope"]},
         "channels: no channel 'ch_nope'"),
        ("/v1/alerts/rules", ["not", "an", "object"], "body: must be a JSON object"),
        ("/v1/alerts/channels", {"type": "webhook", "name": "x", "url": "not a url"}, "url: 'not a url' is not"),
        ("/v1/alerts/channels", {"type": "slack", "name": "x", "url": "javascript:alert(1)"}, "url:"),
    ]
    for path, body, error in cases:
        r = alert_client.post(path, json=body, headers=headers)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"].startswith(error), r.json()
    r = alert_client.post("/v1/alerts/rules", content=b"{oops", headers={**headers, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"].startswith("body:")


def test_rule_and_channel_crud(alert_client, admin):
    project_id, headers = admin
    c = alert_client
    slack = c.post("/v1/alerts/channels", headers=headers,
                   json={"type": "slack", "name": "#ops", "url": "https://hooks.slack.com/services/T0/B0/sekrit"})
    assert slack.status_code == 201
    slack = slack.json()
    assert "sekrit" not in str(slack) and slack["config"] == {"host": "hooks.slack.com"} and slack["has_secret"]
    # The Slack URL (a credential) is stored encrypted.
    raw = sqlite3.connect(c.config.meta_path).execute("SELECT secret FROM alert_channels").fetchone()[0]
    assert raw.startswith("v1:") and "sekrit" not in raw

    rule = c.post("/v1/alerts/rules", headers=headers, json={
        "name": "p95 too slow", "metric": "latency", "percentile": "p95", "threshold": 2000, "window": "10m",
        "filters": {"environment": "prod"}, "channels": [slack["id"]]}).json()
    assert rule["window"] == "10m" and rule["channels"] == [slack["id"]] and rule["project_id"] == project_id
    assert c.get(f"/v1/alerts/rules/{rule['id']}", headers=headers).json() == rule
    changed = c.patch(f"/v1/alerts/rules/{rule['id']}", headers=headers, json={"threshold": 3000, "window": "1h"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["threshold"] == 3000 and changed.json()["window"] == "1h"
    assert changed.json()["filters"] == {"environment": "prod"}
    bad = c.patch(f"/v1/alerts/rules/{rule['id']}", headers=headers, json={"percentile": "p42"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("percentile:")

    muted = c.post(f"/v1/alerts/rules/{rule['id']}/mute", headers=headers, json={"until": "2h"}).json()
    assert muted["muted_until"] > 0
    assert c.post(f"/v1/alerts/rules/{rule['id']}/mute", headers=headers, json={"until": None}).json()["muted_until"] is None
    r = c.post(f"/v1/alerts/rules/{rule['id']}/mute", headers=headers, json={"until": "whenever"})
    assert r.status_code == 400 and r.json()["error"].startswith("until:")

    # Another project's key sees none of it.
    meta = MetaStore(c.config.meta_path)
    other = meta.create_project("other")
    _, secret = meta.create_key(other.id, "k", ("admin",))
    other_headers = {"Authorization": f"Bearer {secret}"}
    assert c.get(f"/v1/alerts/rules/{rule['id']}", headers=other_headers).status_code == 404
    assert c.get("/v1/alerts/channels", headers=other_headers).json()["data"] == []

    # Deleting a channel takes it off the rules that used it.
    assert c.delete(f"/v1/alerts/channels/{slack['id']}", headers=headers).status_code == 204
    assert c.get(f"/v1/alerts/rules/{rule['id']}", headers=headers).json()["channels"] == []
    assert c.delete(f"/v1/alerts/rules/{rule['id']}", headers=headers).status_code == 204
    assert c.get("/v1/alerts/rules", headers=headers).json()["data"] == []
    assert c.get(f"/v1/alerts/rules/{rule['id']}", headers=headers).status_code == 404


def test_webhook_secret_shown_once_and_kept_on_edit(alert_client, admin, http_receiver):
    _, headers = admin
    c = alert_client
    hook = c.post("/v1/alerts/channels", headers=headers,
                  json={"type": "webhook", "name": "h", "url": http_receiver.url("/h")}).json()
    secret = hook["secret"]
    assert secret.startswith("whsec_")
    assert "secret" not in c.get(f"/v1/alerts/channels/{hook['id']}", headers=headers).json()
    renamed = c.patch(f"/v1/alerts/channels/{hook['id']}", headers=headers, json={"name": "renamed"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "renamed"
    http_receiver.secrets["/h"] = secret
    c.post(f"/v1/alerts/channels/{hook['id']}/test", headers=headers)
    from tests.helpers import wait_for
    delivery = wait_for(lambda: http_receiver.at("/h"))[0]
    assert delivery.signature_ok and delivery.json["type"] == "alert.test"
