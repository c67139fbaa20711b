"""Alert test fixtures: real receivers, and the real app configured for fast evaluation and retries."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from litestar.testing import TestClient

from lynex.app import create_app
from lynex.storage.meta import MetaStore
from tests.alerts.receivers import HttpReceiver, SmtpReceiver


@pytest.fixture
def http_receiver():
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp_receiver(tmp_path):
    receiver = SmtpReceiver(tmp_path).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def alert_config(make_config, smtp_receiver):
    """Fast retries; the schedule effectively off (tests call evaluate_all or rely on realtime)."""
    def make(**overrides):
        values = dict(alert_eval_interval_s=3600.0, alert_retry_backoff_s=0.05, alert_delivery_attempts=3,
                      alert_delivery_timeout_s=3.0, public_url="http://lynex.test/",
                      smtp_host="127.0.0.1", smtp_port=smtp_receiver.port, smtp_username=SmtpReceiver.USER,
                      smtp_password=SmtpReceiver.PASSWORD, smtp_ca_file=str(smtp_receiver.cert),
                      smtp_from="alerts@lynex.test")
        values.update(overrides)
        return make_config(**values)
    return make


@pytest.fixture
def alert_client(alert_config):
    config = alert_config()
    with TestClient(app=create_app(config)) as client:
        client.config = config
        client.services = client.app.state.services
        yield client


@pytest.fixture
def admin(alert_client):
    """(project id, headers of a key with ingest + read + admin scopes)."""
    meta = MetaStore(alert_client.config.meta_path)
    project = meta.create_project("alerting")
    _, secret = meta.create_key(project.id, "ops", ("ingest", "read", "admin"))
    return project.id, {"Authorization": f"Bearer {secret}"}


def now_ms(offset_s: float = 0.0) -> int:
    return int((time.time() + offset_s) * 1000)


def spans(prefix: str, count: int, status: str = "ok", **fields) -> list[dict]:
    """``count`` spans starting now; errors get a rate-limit error."""
    out = []
    for i in range(count):
        span = {"id": f"{prefix}-{i}", "start_time": now_ms(), "latency_ms": 100.0, "model": "gpt-4o-mini",
                "provider": "openai", "status": status, **fields}
        if status == "error":
            span["error"] = {"type": "RateLimitError", "message": "429 Too Many Requests"}
        out.append(span)
    return out


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat()
