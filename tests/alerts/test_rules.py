"""Pure parts: rule validation (errors name the field), firing decisions (golden cases), counters."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from lynex.alerts.channels import parse_channel, sign
from lynex.alerts.crypto import SecretBox, SecretError, load_or_create_key
from lynex.alerts.detector import Detector
from lynex.alerts.evaluate import WindowStats, decide
from lynex.alerts.rules import AlertValidationError, parse_rule
from lynex.storage.schema import ARROW_SCHEMA

CASES = json.loads((Path(__file__).parent / "fixtures" / "decisions.json").read_text())


def rule_of(definition: dict, rule_id: str = "r1", project_id: str = "p1"):
    return parse_rule({"name": "rule", **definition}, rule_id=rule_id, project_id=project_id)


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_golden_decisions(case):
    stats = case["stats"]
    stats = WindowStats(**{k: tuple(v) if isinstance(v, list) else v for k, v in stats.items()})
    decision = decide(rule_of(case["rule"]), stats)
    assert decision.firing is case["firing"], decision.summary
    assert decision.value == (pytest.approx(case["value"]) if case["value"] is not None else None)
    assert decision.summary


def test_every_metric_has_golden_cases():
    from lynex.alerts.rules import METRICS
    assert {c["rule"]["metric"] for c in CASES} == set(METRICS)


@pytest.mark.parametrize("definition, field", [
    ({"metric": "error_ratio", "threshold": 1}, "metric: unknown metric 'error_ratio'"),
    ({"metric": "error_rate", "threshold": 5, "window": "-5m"}, "window: must be positive"),
    ({"metric": "error_rate", "threshold": 5, "window": -300}, "window: must be positive"),
    ({"metric": "error_rate", "threshold": 5, "window": "5 fortnights"}, "window: '5 fortnights' is not a duration"),
    ({"metric": "error_rate", "threshold": 5, "window": "8d"}, "window: at most 7d"),
    ({"metric": "error_rate"}, "threshold: required"),
    ({"metric": "error_rate", "threshold": 150}, "threshold: an error rate is a percentage"),
    ({"metric": "cost", "threshold": -1}, "threshold: must be a number ≥ 0"),
    ({"metric": "latency", "threshold": 1, "percentile": "p90"}, "percentile: 'p90' must be one of"),
    ({"metric": "error_count", "threshold": 1, "filters": {"colour": "red"}}, "filters.colour: unknown filter"),
    ({"metric": "error_count", "threshold": 1, "filters": {"error_class": "gremlins"}}, "filters.error_class:"),
    ({"metric": "error_count", "threshold": 1, "filters": {"kind": "robot"}}, "filters.kind:"),
    ({"metric": "error_spike", "factor": 0}, "factor: must be greater than 0"),
    ({"metric": "error_count", "threshold": 1, "cooldown": "0s"}, "cooldown: must be positive"),
    ({"metric": "error_count", "threshold": 1, "enabled": "yes"}, "enabled: must be true or false"),
    ({"metric": "error_count", "threshold": 1, "severity": "high"}, "severity: unknown field"),
])
def test_bad_rules_name_the_field(definition, field):
    with pytest.raises(AlertValidationError) as info:
        rule_of(definition)
    assert str(info.value).startswith(field), str(info.value)


def test_rule_round_trips_and_describes_itself():
    rule = rule_of({"metric": "latency", "percentile": "p99", "threshold": 1500, "window": "15m",
                    "filters": {"model": "gpt-4o", "environment": "prod", "release": ""}})
    assert rule.window_s == 900 and rule.filters == {"model": "gpt-4o", "environment": "prod"}
    assert rule.describe() == "latency p99 > 1500 ms over 15m (environment=prod, model=gpt-4o)"
    assert rule.to_dict()["window"] == "15m"
    with pytest.raises(AlertValidationError, match="^name: required"):
        parse_rule({"metric": "volume"}, rule_id="x", project_id="p")
    with pytest.raises(AlertValidationError, match="^channels: no channel 'ch_x'"):
        parse_rule({"name": "n", "metric": "volume", "channels": ["ch_x"]}, rule_id="x", project_id="p",
                   known_channels={"ch_y"})


@pytest.mark.parametrize("data, field", [
    ({"type": "pager", "name": "x"}, "type: unknown channel type 'pager'"),
    ({"type": "webhook", "name": "x", "url": "ftp://example.com/hook"}, "url: 'ftp://example.com/hook' is not a valid"),
    ({"type": "webhook", "name": "x", "url": "http://"}, "url: 'http://' is not a valid"),
    ({"type": "webhook", "name": "x", "url": "http://exa mple.com/"}, "url:"),
    ({"type": "webhook", "name": "x", "url": "http://example.com:99999/"}, "url:"),
    ({"type": "webhook", "name": "x"}, "url: required"),
    ({"type": "webhook", "name": "x", "url": "https://example.com/", "secret": "short"}, "secret: at least 16"),
    ({"type": "slack", "name": "x", "url": "hooks.slack.com/services/T/B/X"}, "url:"),
    ({"type": "email", "name": "x", "to": []}, "to: required"),
    ({"type": "email", "name": "x", "to": ["not-an-address"]}, "to: 'not-an-address' is not an email address"),
    ({"type": "email", "to": ["a@example.com"]}, "name: required"),
])
def test_bad_channels_name_the_field(data, field):
    with pytest.raises(AlertValidationError) as info:
        parse_channel(data)
    assert str(info.value).startswith(field), str(info.value)


def test_signature_is_hmac_sha256_of_the_body():
    # Known answer: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
    assert sign("key", b"The quick brown fox jumps over the lazy dog") == \
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"


def test_master_key_file_and_secret_box(tmp_path):
    path = tmp_path / "keys" / "master.key"
    key = load_or_create_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(path) == key  # the same key on the next start
    box = SecretBox(key)
    sealed = box.encrypt("https://hooks.slack.com/services/T/B/secret", "ch_1")
    assert "secret" not in sealed and box.decrypt(sealed, "ch_1").endswith("/secret")
    with pytest.raises(SecretError):
        box.decrypt(sealed, "ch_2")  # bound to its channel
    with pytest.raises(SecretError, match="master key"):
        SecretBox(b"\0" * 32).decrypt(sealed, "ch_1")
    (tmp_path / "bad.key").write_text("too short")
    from lynex.errors import ConfigError
    with pytest.raises(ConfigError, match="32 random bytes"):
        load_or_create_key(tmp_path / "bad.key")


def _table(project_id: str, statuses: list[str], model: str = "gpt-4o", error_class: str = "rate_limit"):
    n = len(statuses)
    columns = {f.name: pa.nulls(n, f.type) for f in ARROW_SCHEMA}
    columns.update(project_id=pa.array([project_id] * n), status=pa.array(statuses), model=pa.array([model] * n),
                   error_class=pa.array([error_class if s == "error" else None for s in statuses], pa.string()))
    return pa.table([columns[f.name] for f in ARROW_SCHEMA], schema=ARROW_SCHEMA)


def test_detector_triggers_once_per_interval_and_not_while_firing():
    now = [1000.0]
    triggered: list[str] = []
    detector = Detector(triggered.append, min_interval_s=1.0, clock=lambda: now[0])
    spike = rule_of({"metric": "error_spike", "factor": 3, "min_count": 5, "window": "10s"}, "spike")
    rate = rule_of({"metric": "error_rate", "threshold": 50, "min_count": 4, "filters": {"model": "claude"}}, "rate")
    timeouts = rule_of({"metric": "error_count", "threshold": 1, "filters": {"error_class": "timeout"}}, "to")
    cost = rule_of({"metric": "cost", "threshold": 1}, "cost")  # not a realtime metric
    other = rule_of({"metric": "error_count", "threshold": 0}, "other", project_id="p2")
    detector.set_rules([spike, rate, timeouts, cost, other])
    detector.on_table(_table("p1", ["error"] * 4 + ["ok"] * 10))
    assert triggered == []
    detector.on_table(_table("p1", ["error"]))
    assert triggered == ["spike"]  # 5 errors in the window: the floor
    detector.on_table(_table("p1", ["error"] * 3))
    assert triggered == ["spike"]  # within the minimum interval
    now[0] += 1.5
    detector.set_firing("spike", True)
    detector.on_table(_table("p1", ["error"] * 3, model="claude"))
    assert triggered == ["spike"]  # claude: 3 errors of 3 spans, but fewer than min_count (4); spike firing
    detector.on_table(_table("p1", ["error"], model="claude"))
    assert triggered == ["spike", "rate"]
    now[0] += 20  # the window has passed: old counts are gone
    detector.set_firing("spike", False)
    detector.set_firing("rate", True)  # as the service does once the triggered evaluation fired
    detector.on_table(_table("p1", ["ok"] * 10))
    assert triggered == ["spike", "rate"]
    detector.on_table(_table("p1", ["error", "error"], error_class="timeout"))
    assert triggered == ["spike", "rate", "to"]
    detector.on_table(pa.table({"project_id": ["p1"]}))  # a broken table is logged, never raised
