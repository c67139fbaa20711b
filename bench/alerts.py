"""Alert benchmark: what realtime detection costs the ingest processor, and one rule evaluation.

    .venv/bin/python bench/alerts.py                       # 10k-row tables, 1/10/50 rules
    .venv/bin/python bench/alerts.py --rows 100000 --rules 100

Prints the detector's time per processed table (it runs on the processor thread for every
table) and rows/s that implies, per number of realtime rules in the table's project. Figures on a
shared 2-core box are noisy (±30% or more).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lynex.alerts.detector import Detector  # noqa: E402
from lynex.alerts.rules import parse_rule  # noqa: E402
from lynex.storage.schema import ARROW_SCHEMA  # noqa: E402

MODELS = ("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "gemini-1.5-pro")


def table(rows: int, project_id: str = "p1") -> pa.Table:
    columns = {f.name: pa.nulls(rows, f.type) for f in ARROW_SCHEMA}
    columns["project_id"] = pa.array([project_id] * rows)
    columns["status"] = pa.array(["error" if i % 20 == 0 else "ok" for i in range(rows)])
    columns["model"] = pa.array([MODELS[i % len(MODELS)] for i in range(rows)])
    columns["environment"] = pa.array(["prod" if i % 3 else "staging" for i in range(rows)])
    columns["error_class"] = pa.array(["rate_limit" if i % 20 == 0 else None for i in range(rows)], pa.string())
    return pa.table([columns[f.name] for f in ARROW_SCHEMA], schema=ARROW_SCHEMA)


def rules(n: int) -> list:
    out = []
    for i in range(n):
        metric = ("error_rate", "error_spike", "error_count")[i % 3]
        filters = {"model": MODELS[i % len(MODELS)]} if i % 2 else {"environment": "prod"}
        definition = {"name": f"r{i}", "metric": metric, "threshold": 1e9 if metric != "error_rate" else 100,
                      "min_count": 10**9, "filters": filters}
        out.append(parse_rule(definition, rule_id=f"r{i}", project_id="p1"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows per processed table")
    parser.add_argument("--rules", type=int, nargs="*", default=[1, 10, 50], help="realtime rules in the project")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    data = table(args.rows)
    other = table(args.rows, project_id="p-without-rules")
    print(f"detector cost per {args.rows:,}-row table (processor thread)")
    for n in [0, *args.rules]:
        detector = Detector(lambda _rule_id: None)
        detector.set_rules(rules(n or 10))  # n = 0: rules exist, but for another project
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            detector.on_table(data if n else other)
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        label = "other project's rules" if n == 0 else f"{n:>3} rules"
        print(f"  {label:>20}: median {median * 1000:8.2f} ms  p95 {sorted(times)[int(len(times) * .95) - 1] * 1000:8.2f} ms"
              f"  → {args.rows / median:>12,.0f} rows/s")


if __name__ == "__main__":
    main()
