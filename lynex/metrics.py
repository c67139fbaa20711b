"""Self-metrics in Prometheus text format: counters kept by the parts, gauges read at scrape."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Callable


class Metrics:
    """Thread-safe counters and histograms-lite (count/sum/max); gauges are callables."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, tuple], float] = defaultdict(float)
        self._help: dict[str, tuple[str, str]] = {}
        self._gauges: dict[str, Callable[[], float]] = {}

    def describe(self, name: str, kind: str, text: str) -> None:
        self._help[name] = (kind, text)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counters[key] += value

    def observe(self, name: str, seconds: float) -> None:
        """Record a duration as <name>_count, <name>_sum and <name>_max."""
        with self._lock:
            self._counters[(name + "_count", ())] += 1
            self._counters[(name + "_sum", ())] += seconds
            current = self._counters.get((name + "_max", ()), 0.0)
            self._counters[(name + "_max", ())] = max(current, seconds)

    def gauge(self, name: str, read: Callable[[], float], text: str) -> None:
        self._gauges[name] = read
        self._help[name] = ("gauge", text)

    def value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._counters.get((name, tuple(sorted(labels.items()))), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            items = sorted(self._counters.items())
        seen: set[str] = set()
        for (name, labels), value in items:
            base = name.rsplit("_", 1)[0] if name.endswith(("_count", "_sum", "_max")) and name not in self._help else name
            if base not in seen and base in self._help:
                kind, text = self._help[base]
                lines += [f"# HELP {base} {text}", f"# TYPE {base} {kind}"]
                seen.add(base)
            label_text = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"{name}{{{label_text}}} {value:g}" if labels else f"{name} {value:g}")
        for name, read in sorted(self._gauges.items()):
            kind, text = self._help[name]
            try:
                value = float(read())
            except Exception:  # a gauge must never break the scrape
                continue
            lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name} {value:g}"]
        return "\n".join(lines) + "\n"
