"""`lynex serve` as a process: an error burst is alerted within 10 s, once, and resolved on schedule."""

from __future__ import annotations

import json
import time

import pytest

from tests.alerts.conftest import spans
from tests.helpers import ServerProcess, lynex_cli, wait_for


@pytest.mark.slow
def test_burst_alert_through_a_real_server(tmp_path, http_receiver):
    server = ServerProcess(data_dir=tmp_path / "data", env={
        "LYNEX_ALERT_EVAL_INTERVAL_S": "1", "LYNEX_PUBLIC_URL": "https://lynex.example.com",
        "LYNEX_ALERT_RETRY_BACKOFF_S": "0.1"}).start()
    try:
        project_id = server.create_project("prod-app")["id"]
        admin_key = json.loads(lynex_cli(server.data_dir, "keys", "create", "--project", project_id,
                                         "--scope", "ingest", "--scope", "admin", "--json").stdout)
        secret = admin_key["api_key"]
        with server.client(secret) as c:
            hook = c.post("/v1/alerts/channels", json={"type": "webhook", "name": "hook",
                                                        "url": http_receiver.url("/hook")}).json()
            http_receiver.secrets["/hook"] = hook["secret"]
            rule = c.post("/v1/alerts/rules", json={"name": "spike", "metric": "error_spike", "min_count": 20,
                                                     "window": "4s", "channels": [hook["id"]]})
            assert rule.status_code == 201, rule.text
            c.post("/v1/ingest", json={"spans": spans("ok", 50)})
            sent = time.monotonic()
            assert c.post("/v1/ingest", json={"spans": spans("burst", 40, "error")}).status_code == 200
            fired = wait_for(lambda: http_receiver.at("/hook"), timeout=10)
            assert time.monotonic() - sent < 10
            event = fired[0].json
            assert fired[0].signature_ok and event["type"] == "alert.firing" and event["value"] == 40
            assert event["link"].startswith(f"https://lynex.example.com/p/{project_id}/spans?")
            resolved = wait_for(lambda: http_receiver.at("/hook")[1:], timeout=20)
            assert resolved[0].json["type"] == "alert.resolved"
            time.sleep(1.5)
            assert [d.json["type"] for d in http_receiver.at("/hook")] == ["alert.firing", "alert.resolved"]
        assert (server.data_dir / "master.key").stat().st_mode & 0o777 == 0o600
    finally:
        server.stop()
