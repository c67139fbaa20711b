"""Self-metrics in Prometheus text format: counters kept by the parts, gauges read at scrape."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from typing import Callable

# Upper bounds (seconds) of the duration histograms: from a fast ack (sub-millisecond) to a slow
# DuckDB flush, so that p50/p99 can be read off /metrics (histogram_quantile in Prometheus).
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Thread-safe counters, duration histograms (plus their max) and gauges (callables)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, tuple], float] = defaultdict(float)
        self._histograms: dict[str, list[int]] = {}  # name → count per bucket (last: above them all)
        self._sums: dict[str, float] = defaultdict(float)
        self._maxes: dict[str, float] = defaultdict(float)
        self._help: dict[str, tuple[str, str]] = {}
        self._gauges: dict[str, Callable[[], float]] = {}

    def describe(self, name: str, kind: str, text: str) -> None:
        self._help[name] = (kind, text)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counters[key] += value

    def observe(self, name: str, seconds: float) -> None:
        """Record a duration: a histogram <name>_bucket/_sum/_count, and <name>_max."""
        slot = bisect.bisect_left(BUCKETS, seconds)
        with self._lock:
            counts = self._histograms.get(name)
            if counts is None:
                counts = self._histograms[name] = [0] * (len(BUCKETS) + 1)
            counts[slot] += 1
            self._sums[name] += seconds
            self._maxes[name] = max(self._maxes[name], seconds)

    def quantile(self, name: str, q: float) -> float | None:
        """The bucket bound below which a fraction ``q`` of the observations fall (None: none yet;
        inf: above the largest bucket) — what /metrics lets a scraper compute."""
        with self._lock:
            counts = list(self._histograms.get(name, ()))
        total = sum(counts)
        if not total:
            return None
        seen = 0
        for bound, count in zip((*BUCKETS, float("inf")), counts):
            seen += count
            if seen >= q * total:
                return bound
        return float("inf")

    def gauge(self, name: str, read: Callable[[], float], text: str) -> None:
        self._gauges[name] = read
        self._help[name] = ("gauge", text)

    def value(self, name: str, **labels: str) -> float:
        """A counter's value; for a duration, ``<name>_count``, ``_sum`` and ``_max`` work too."""
        with self._lock:
            for suffix, table in (("_count", None), ("_sum", self._sums), ("_max", self._maxes)):
                base = name.removesuffix(suffix)
                if base != name and base in self._histograms:
                    return float(sum(self._histograms[base])) if table is None else table[base]
            return self._counters.get((name, tuple(sorted(labels.items()))), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            items = sorted(self._counters.items())
            histograms = {name: (list(counts), self._sums[name], self._maxes[name])
                          for name, counts in sorted(self._histograms.items())}
        seen: set[str] = set()
        for (name, labels), value in items:
            if name not in seen and name in self._help:
                kind, text = self._help[name]
                lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
                seen.add(name)
            label_text = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"{name}{{{label_text}}} {value:g}" if labels else f"{name} {value:g}")
        for name, (counts, total, largest) in histograms.items():
            text = self._help.get(name, ("", name))[1]
            lines += [f"# HELP {name} {text}", f"# TYPE {name} histogram"]
            cumulative = 0
            for bound, count in zip((*BUCKETS, "+Inf"), counts):
                cumulative += count
                lines.append(f'{name}_bucket{{le="{bound}"}} {cumulative}')
            lines += [f"{name}_sum {total:g}", f"{name}_count {cumulative}",
                      f"# HELP {name}_max Longest {name} observed since start.", f"# TYPE {name}_max gauge",
                      f"{name}_max {largest:g}"]
        for name, read in sorted(self._gauges.items()):
            kind, text = self._help[name]
            try:
                value = float(read())
            except Exception:  # a gauge must never break the scrape
                continue
            lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name} {value:g}"]
        return "\n".join(lines) + "\n"
