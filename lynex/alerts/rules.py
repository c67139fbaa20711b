"""Alert rules: the definition a user writes, validated into a frozen ``Rule``.

A rule watches one measure of a project's spans over a sliding window, with optional filters.
Every validation error names the field (``window: must be positive``) so an API client and the
rule form can point at it.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from lynex.errors import LynexError
from lynex.models import SPAN_KINDS

# metric → what its threshold means (also the unit shown in messages).
METRICS: dict[str, str] = {
    "error_rate": "% of spans with status error",
    "error_spike": "× the same window's errors at this hour over the last 7 days",
    "error_count": "errors (optionally of one error class)",
    "latency": "ms at the chosen percentile",
    "cost": "USD spent in the window (1h or 1d for a budget)",
    "tokens": "tokens used in the window",
    "volume": "spans in the window (fires when fewer: a dead man's switch)",
}
UNITS = {"error_rate": "%", "error_spike": "errors", "error_count": "errors", "latency": "ms",
         "cost": "USD", "tokens": "tokens", "volume": "spans"}
# Metrics the ingest processor's streaming counters can trigger at once.
REALTIME_METRICS = ("error_rate", "error_spike", "error_count")
FILTERS = ("model", "provider", "environment", "release", "kind", "error_class")
ERROR_CLASSES = ("rate_limit", "timeout", "context_length", "auth", "content_filter", "server",
                 "invalid_request", "other")
PERCENTILES = ("p50", "p95", "p99")
MAX_WINDOW_S = 7 * 86400
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class AlertValidationError(LynexError, ValueError):
    """A rule or channel definition is wrong; the message starts with the field name."""


def parse_duration(field: str, value: Any) -> float:
    """Seconds from a number or a string like '30s', '5m', '1h', '1d'; negative or zero is refused."""
    if isinstance(value, bool):
        raise AlertValidationError(f"{field}: must be a duration like 30s, 5m, 1h, 1d or seconds")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        if value.strip().startswith("-"):
            raise AlertValidationError(f"{field}: must be positive, got '{value}'")
        match = _DURATION.match(value)
        if not match:
            raise AlertValidationError(f"{field}: '{value}' is not a duration like 30s, 5m, 1h or 1d")
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    else:
        raise AlertValidationError(f"{field}: must be a duration like 30s, 5m, 1h, 1d or seconds")
    if seconds <= 0:
        raise AlertValidationError(f"{field}: must be positive, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@dataclasses.dataclass(frozen=True)
class Rule:
    """A validated alert rule; ``to_dict`` is its API shape (and what is stored)."""

    id: str
    project_id: str
    name: str
    metric: str
    threshold: float
    window_s: float
    filters: dict[str, str] = dataclasses.field(default_factory=dict)
    percentile: str = "p95"          # latency
    factor: float | None = None      # error_spike: × baseline; volume: fire below factor × baseline
    min_count: int = 1               # smallest sample that may fire (rates, spikes, percentiles)
    channels: tuple[str, ...] = ()
    cooldown_s: float = 600.0        # no second firing notification for the rule within this time
    enabled: bool = True
    realtime: bool = True            # error metrics: also triggered by the ingest counters
    muted_until: float | None = None  # epoch seconds; notifications suppressed until then
    created_at: float = 0.0

    @property
    def is_realtime(self) -> bool:
        return self.enabled and self.realtime and self.metric in REALTIME_METRICS

    def describe(self) -> str:
        """One line for messages: 'error_rate > 5 % over 5m (model=gpt-4o)'."""
        op = "<" if self.metric == "volume" else ">"
        if self.metric == "error_spike":
            what = f"errors > {self.factor:g}× baseline (min {self.min_count})"
        elif self.metric == "volume" and self.factor:
            what = f"spans < {self.factor:g}× baseline"
        elif self.metric == "latency":
            what = f"latency {self.percentile} {op} {self.threshold:g} ms"
        else:
            what = f"{self.metric} {op} {self.threshold:g} {UNITS[self.metric]}"
        where = ", ".join(f"{k}={v}" for k, v in sorted(self.filters.items()))
        return f"{what} over {format_duration(self.window_s)}" + (f" ({where})" if where else "")

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["channels"] = list(self.channels)
        out["window"] = format_duration(self.window_s)
        out["cooldown"] = format_duration(self.cooldown_s)
        return out


_DEFAULT_THRESHOLD = {"error_spike": 0.0, "volume": 1.0}
_KNOWN_KEYS = {"name", "metric", "threshold", "window", "window_s", "filters", "percentile", "factor",
               "min_count", "channels", "cooldown", "cooldown_s", "enabled", "realtime", "muted_until"}


def _number(field: str, value: Any, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise AlertValidationError(f"{field}: must be a number, got '{value}'") from None
        else:
            raise AlertValidationError(f"{field}: must be a number, got {value!r}")
    if value != value or value < minimum:  # NaN or too small
        raise AlertValidationError(f"{field}: must be a number ≥ {minimum:g}, got {value!r}")
    return float(value)


def parse_rule(data: Any, *, rule_id: str, project_id: str, created_at: float = 0.0,
               known_channels: set[str] | None = None) -> Rule:
    """Validate a rule definition (a JSON object) into a Rule; AlertValidationError names the field."""
    if not isinstance(data, dict):
        raise AlertValidationError("rule: must be a JSON object")
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise AlertValidationError(f"{unknown[0]}: unknown field; known: {', '.join(sorted(_KNOWN_KEYS))}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 120:
        raise AlertValidationError("name: required, 1-120 characters")
    metric = data.get("metric")
    if metric not in METRICS:
        raise AlertValidationError(f"metric: unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    if "window" in data and "window_s" in data:
        raise AlertValidationError("window: give window or window_s, not both")
    window_s = parse_duration("window", data.get("window", data.get("window_s", "5m")))
    if window_s > MAX_WINDOW_S:
        raise AlertValidationError(f"window: at most 7d, got {format_duration(window_s)}")
    if "threshold" in data:
        threshold = _number("threshold", data["threshold"])
    elif metric in _DEFAULT_THRESHOLD:
        threshold = _DEFAULT_THRESHOLD[metric]
    else:
        raise AlertValidationError(f"threshold: required for metric {metric} ({METRICS[metric]})")
    if metric == "error_rate" and threshold > 100:
        raise AlertValidationError(f"threshold: an error rate is a percentage (0-100), got {threshold:g}")
    filters = data.get("filters") or {}
    if not isinstance(filters, dict):
        raise AlertValidationError("filters: must be an object like {\"model\": \"gpt-4o\"}")
    clean: dict[str, str] = {}
    for key, value in filters.items():
        if key not in FILTERS:
            raise AlertValidationError(f"filters.{key}: unknown filter; known: {', '.join(FILTERS)}")
        if value in (None, ""):
            continue
        if not isinstance(value, str) or len(value) > 200:
            raise AlertValidationError(f"filters.{key}: must be a string of at most 200 characters")
        if key == "kind" and value not in SPAN_KINDS:
            raise AlertValidationError(f"filters.kind: '{value}' must be one of {', '.join(SPAN_KINDS)}")
        if key == "error_class" and value not in ERROR_CLASSES:
            raise AlertValidationError(f"filters.error_class: '{value}' must be one of {', '.join(ERROR_CLASSES)}")
        clean[key] = value
    percentile = data.get("percentile", "p95")
    if percentile not in PERCENTILES:
        raise AlertValidationError(f"percentile: '{percentile}' must be one of {', '.join(PERCENTILES)}")
    factor = data.get("factor")
    if factor is not None:
        factor = _number("factor", factor)
        if factor <= 0:
            raise AlertValidationError("factor: must be greater than 0")
    elif metric == "error_spike":
        factor = 3.0
    min_count_default = 10 if metric == "error_spike" else 1
    min_count = int(_number("min_count", data.get("min_count", min_count_default)))
    channels = data.get("channels") or []
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise AlertValidationError("channels: must be a list of channel ids")
    if known_channels is not None:
        missing = [c for c in channels if c not in known_channels]
        if missing:
            raise AlertValidationError(f"channels: no channel '{missing[0]}' in this project")
    cooldown_s = parse_duration("cooldown", data.get("cooldown", data.get("cooldown_s", "10m")))
    for flag in ("enabled", "realtime"):
        if not isinstance(data.get(flag, True), bool):
            raise AlertValidationError(f"{flag}: must be true or false")
    muted_until = data.get("muted_until")
    if muted_until is not None:
        muted_until = _number("muted_until", muted_until)
    return Rule(id=rule_id, project_id=project_id, name=name.strip(), metric=metric, threshold=threshold,
                window_s=window_s, filters=clean, percentile=percentile, factor=factor, min_count=min_count,
                channels=tuple(dict.fromkeys(channels)), cooldown_s=cooldown_s,
                enabled=data.get("enabled", True), realtime=data.get("realtime", True),
                muted_until=muted_until, created_at=created_at)


def definition(rule: Rule) -> dict:
    """What is stored for a rule: the fields parse_rule reads back (ids and times kept apart)."""
    return {"name": rule.name, "metric": rule.metric, "threshold": rule.threshold, "window_s": rule.window_s,
            "filters": rule.filters, "percentile": rule.percentile, "factor": rule.factor,
            "min_count": rule.min_count, "channels": list(rule.channels), "cooldown_s": rule.cooldown_s,
            "enabled": rule.enabled, "realtime": rule.realtime, "muted_until": rule.muted_until}
