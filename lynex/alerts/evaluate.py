"""Pure evaluation: a rule and the measured numbers of its window → fire or not, and why.

No I/O here: ``measure.py`` fills ``WindowStats`` from the query layer, the golden cases in
tests/alerts/fixtures feed it by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lynex.alerts.rules import UNITS, Rule, format_duration


@dataclass(frozen=True)
class WindowStats:
    """What was measured over a rule's window (and, for baselines, the same window on past days)."""

    n: int = 0                      # spans matching the filters (error_class aside for error metrics)
    errors: int = 0                 # of those, status error (of the rule's error class, if any)
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    cost: float = 0.0
    tokens: int = 0
    baseline_errors: tuple[int, ...] = ()  # errors in the same window 1..7 days ago
    baseline_n: tuple[int, ...] = ()       # spans in the same window 1..7 days ago


@dataclass(frozen=True)
class Decision:
    """Whether the rule fires, the measured value against the threshold, and a sentence for people."""

    firing: bool
    value: float | None
    threshold: float
    summary: str
    details: dict = field(default_factory=dict)


def _mean(values: tuple[int, ...]) -> float:
    return sum(values) / len(values) if values else 0.0


def decide(rule: Rule, stats: WindowStats) -> Decision:
    """The firing decision of ``rule`` for ``stats``; every metric is 'above' except volume ('below')."""
    window = format_duration(rule.window_s)
    unit = UNITS[rule.metric]
    details: dict = {"n": stats.n, "errors": stats.errors, "window_s": rule.window_s}
    metric = rule.metric
    if metric == "error_rate":
        rate = stats.errors / stats.n * 100.0 if stats.n else None
        firing = rate is not None and stats.n >= rule.min_count and rate > rule.threshold
        value, threshold = rate, rule.threshold
        shown = "no spans" if rate is None else f"{rate:.1f}% ({stats.errors} of {stats.n} spans)"
        summary = f"error rate {shown} over {window}, threshold {rule.threshold:g}%"
    elif metric == "error_spike":
        baseline = _mean(stats.baseline_errors)
        threshold = max(rule.factor * baseline, float(rule.min_count))
        firing = stats.errors >= rule.min_count and stats.errors > rule.factor * baseline
        value = float(stats.errors)
        details.update(baseline=round(baseline, 3), factor=rule.factor,
                       ratio=round(stats.errors / baseline, 2) if baseline else None)
        summary = (f"{stats.errors} errors in {window} vs a baseline of {baseline:.1f} "
                   f"(same hour, last 7 days); fires above {rule.factor:g}× and at least {rule.min_count}")
    elif metric == "error_count":
        value, threshold = float(stats.errors), rule.threshold
        firing = stats.errors > rule.threshold
        which = rule.filters.get("error_class")
        summary = f"{stats.errors} {which + ' ' if which else ''}errors in {window}, threshold {rule.threshold:g}"
    elif metric == "latency":
        value = getattr(stats, rule.percentile)
        threshold = rule.threshold
        firing = value is not None and stats.n >= rule.min_count and value > rule.threshold
        shown = "no spans" if value is None else f"{value:.0f} ms"
        summary = f"latency {rule.percentile} {shown} over {window} ({stats.n} spans), threshold {rule.threshold:g} ms"
    elif metric == "cost":
        value, threshold = float(stats.cost), rule.threshold
        firing = stats.cost > rule.threshold
        summary = f"cost ${stats.cost:.4f} in {window}, budget ${rule.threshold:g}"
    elif metric == "tokens":
        value, threshold = float(stats.tokens), rule.threshold
        firing = stats.tokens > rule.threshold
        summary = f"{stats.tokens} tokens in {window}, limit {rule.threshold:g}"
    elif metric == "volume":
        value = float(stats.n)
        if rule.factor:
            baseline = _mean(stats.baseline_n)
            threshold = rule.factor * baseline
            firing = baseline > 0 and stats.n < threshold
            details.update(baseline=round(baseline, 3), factor=rule.factor)
            summary = f"{stats.n} spans in {window} vs a baseline of {baseline:.1f}; fires below {rule.factor:g}×"
        else:
            threshold = rule.threshold
            firing = stats.n < rule.threshold
            summary = (f"no spans in {window}" if stats.n == 0 else f"{stats.n} spans in {window}") + \
                f", fires below {rule.threshold:g}"
    else:  # parse_rule admits only known metrics
        raise ValueError(f"metric: unknown metric {metric!r}")
    details["unit"] = unit
    return Decision(firing=firing, value=value, threshold=threshold, summary=summary, details=details)
