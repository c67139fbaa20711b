"""Measure a rule's window through the query layer (hot ∪ memtable ∪ Parquet ∪ cold).

Like the dashboard's aggregates, the SQL here is only measures and ``SpanFilter`` clauses handed
to ``SpanQueries._run``, so an alert counts exactly the spans the timeline link shows.
"""

from __future__ import annotations

import datetime as dt

from lynex.alerts.evaluate import WindowStats
from lynex.alerts.rules import Rule
from lynex.storage.query import SpanFilter, SpanQueries

BASELINE_DAYS = 7
_ERROR_METRICS = ("error_rate", "error_spike", "error_count")


def rule_filter(rule: Rule, since: dt.datetime | None = None, until: dt.datetime | None = None) -> SpanFilter:
    """The rule's filters as a SpanFilter; for error metrics the error class narrows only the errors."""
    values = dict(rule.filters)
    if rule.metric in _ERROR_METRICS:
        values.pop("error_class", None)
    return SpanFilter(**values, since=since, until=until)


def _error_clause(rule: Rule) -> tuple[str, list]:
    error_class = rule.filters.get("error_class")
    if error_class and rule.metric in _ERROR_METRICS:
        return "status = 'error' AND error_class = ?", [error_class]
    return "status = 'error'", []


def window_stats(queries: SpanQueries, rule: Rule, now: dt.datetime) -> WindowStats:
    """Measure the rule's window ending at ``now`` (naive UTC), plus its baseline when it needs one."""
    since = now - dt.timedelta(seconds=rule.window_s)
    flt = rule_filter(rule, since=since)
    clauses, params = flt.where()
    err, err_params = _error_clause(rule)
    columns = (
        "count(*) AS n",
        f"count_if({err}) AS errors",
        "quantile_cont(latency_ms, 0.5) AS p50",
        "quantile_cont(latency_ms, 0.95) AS p95",
        "quantile_cont(latency_ms, 0.99) AS p99",
        "coalesce(sum(cost_usd), 0) AS cost",
        "coalesce(sum(coalesce(total_tokens, coalesce(input_tokens, 0) + coalesce(output_tokens, 0))), 0) AS tokens",
    )
    row = queries._run("WHERE " + " AND ".join(clauses), err_params + params, columns,
                       rule.project_id, since, None)[0]
    baseline_errors: tuple[int, ...] = ()
    baseline_n: tuple[int, ...] = ()
    if rule.metric == "error_spike" or (rule.metric == "volume" and rule.factor):
        baseline_n, baseline_errors = _baseline(queries, rule, now)
    return WindowStats(n=int(row["n"] or 0), errors=int(row["errors"] or 0), p50=row["p50"], p95=row["p95"],
                       p99=row["p99"], cost=float(row["cost"]), tokens=int(row["tokens"]),
                       baseline_errors=baseline_errors, baseline_n=baseline_n)


def _baseline(queries: SpanQueries, rule: Rule, now: dt.datetime) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Spans and errors in the same window on each of the last 7 days (days without data count 0)."""
    window = dt.timedelta(seconds=rule.window_s)
    earliest = now - dt.timedelta(days=BASELINE_DAYS) - window
    latest = now - dt.timedelta(days=1)
    flt = rule_filter(rule, since=earliest, until=latest)
    clauses, params = flt.where()
    err, err_params = _error_clause(rule)
    columns, column_params = [], []
    for day in range(1, BASELINE_DAYS + 1):
        end = now - dt.timedelta(days=day)
        columns.append(f"count_if(start_time >= ? AND start_time < ?) AS n{day}")
        column_params += [end - window, end]
        columns.append(f"count_if(start_time >= ? AND start_time < ? AND {err}) AS e{day}")
        column_params += [end - window, end, *err_params]
    row = queries._run("WHERE " + " AND ".join(clauses), column_params + params, tuple(columns),
                       rule.project_id, earliest, latest)[0]
    days = range(1, BASELINE_DAYS + 1)
    return tuple(int(row[f"n{d}"] or 0) for d in days), tuple(int(row[f"e{d}"] or 0) for d in days)


def timeline_params(rule: Rule, since: dt.datetime, until: dt.datetime | None) -> dict[str, str]:
    """Query parameters of the dashboard timeline showing the spans behind an alert."""
    params = {k: v for k, v in rule.filters.items()}
    if rule.metric in _ERROR_METRICS:
        params["status"] = "error"
    params["range"] = "custom"
    params["since"] = since.replace(microsecond=0).isoformat() + "Z"
    if until is not None:
        # rounded up: the link must include the last span the alert counted
        params["until"] = (until.replace(microsecond=0) + dt.timedelta(seconds=1)).isoformat() + "Z"
    return params
