"""Realtime error detection: streaming counters fed by the ingest processor.

``on_table`` runs on the processor thread for every newly processed Arrow table: it only counts
(O(rows) per realtime rule of the table's projects, vectorised) and, when a rule's counters say
it would fire, hands the rule id to ``trigger`` — which queues an immediate evaluation against the
store. The decision itself is always the same pure ``decide`` over the query layer, so realtime
and scheduled evaluation can never disagree; the counters only make it happen seconds after the
burst instead of at the next schedule.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc

from lynex.alerts.rules import Rule

log = logging.getLogger(__name__)
MAX_BUCKETS = 60


class _Counter:
    """Spans and errors per time bucket over the rule's window (at most MAX_BUCKETS buckets)."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self.width = max(1.0, window_s / MAX_BUCKETS)
        self.buckets: deque[list] = deque()  # [bucket start, total, errors]

    def add(self, now: float, total: int, errors: int) -> None:
        start = now - now % self.width
        if self.buckets and self.buckets[-1][0] == start:
            self.buckets[-1][1] += total
            self.buckets[-1][2] += errors
        else:
            self.buckets.append([start, total, errors])

    def totals(self, now: float) -> tuple[int, int]:
        while self.buckets and self.buckets[0][0] + self.width <= now - self.window_s:
            self.buckets.popleft()
        return sum(b[1] for b in self.buckets), sum(b[2] for b in self.buckets)


def would_fire(rule: Rule, total: int, errors: int) -> bool:
    """The streaming approximation of ``decide`` (no baseline: the store evaluation checks that)."""
    if rule.metric == "error_count":
        return errors > rule.threshold
    if rule.metric == "error_rate":
        return total >= rule.min_count and total > 0 and errors * 100.0 / total > rule.threshold
    if rule.metric == "error_spike":
        return errors >= rule.min_count
    return False


class Detector:
    """Per-rule streaming counters; ``set_rules`` replaces the watched rules (counters kept by id)."""

    def __init__(self, trigger: Callable[[str], None], min_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.trigger = trigger
        self.min_interval_s = min_interval_s
        self.clock = clock
        self._lock = threading.Lock()
        self._by_project: dict[str, list[Rule]] = {}
        self._counters: dict[str, _Counter] = {}
        self._last_trigger: dict[str, float] = {}
        self._firing: set[str] = set()

    def set_rules(self, rules: list[Rule]) -> None:
        by_project: dict[str, list[Rule]] = {}
        counters: dict[str, _Counter] = {}
        for rule in rules:
            if not rule.is_realtime:
                continue
            by_project.setdefault(rule.project_id, []).append(rule)
            old = self._counters.get(rule.id)
            counters[rule.id] = old if old is not None and old.window_s == rule.window_s else _Counter(rule.window_s)
        with self._lock:
            self._by_project, self._counters = by_project, counters

    def set_firing(self, rule_id: str, firing: bool) -> None:
        """While a rule has an open incident there is nothing to trigger."""
        with self._lock:
            (self._firing.add if firing else self._firing.discard)(rule_id)

    def on_table(self, table: pa.Table) -> None:
        """Pipeline listener (processor thread): count, maybe trigger; never raises into ingest."""
        try:
            self._count(table)
        except Exception:
            log.exception("realtime alert counters failed for a table of %d rows", table.num_rows)

    def _count(self, table: pa.Table) -> None:
        by_project = self._by_project
        if not by_project or table.num_rows == 0:
            return
        now = self.clock()
        due: list[str] = []
        projects = table.column("project_id")
        for project_id in pc.unique(projects).to_pylist():
            rules = by_project.get(project_id)
            if not rules:
                continue
            rows = table.filter(pc.equal(projects, project_id))
            is_error = pc.equal(rows.column("status"), "error")
            for rule in rules:
                mask = None
                for key, value in rule.filters.items():
                    if key == "error_class":
                        continue
                    cond = pc.fill_null(pc.equal(rows.column(key), value), False)
                    mask = cond if mask is None else pc.and_(mask, cond)
                errors_mask = is_error
                if "error_class" in rule.filters:
                    errors_mask = pc.and_(errors_mask, pc.fill_null(
                        pc.equal(rows.column("error_class"), rule.filters["error_class"]), False))
                if mask is not None:
                    errors_mask = pc.and_(errors_mask, mask)
                total = rows.num_rows if mask is None else int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)
                errors = int(pc.sum(pc.cast(errors_mask, pa.int64())).as_py() or 0)
                with self._lock:
                    counter = self._counters.get(rule.id)
                    if counter is None:
                        continue
                    counter.add(now, total, errors)
                    window_total, window_errors = counter.totals(now)
                    if rule.id in self._firing or not would_fire(rule, window_total, window_errors):
                        continue
                    if now - self._last_trigger.get(rule.id, float("-inf")) < self.min_interval_s:
                        continue
                    self._last_trigger[rule.id] = now
                due.append(rule.id)
        for rule_id in due:
            self.trigger(rule_id)
