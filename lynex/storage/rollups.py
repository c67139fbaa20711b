"""Per-bucket overview aggregates, and a cache of them that can never serve stale numbers.

The overview sums every span of its window; at 10M spans that scan alone is several hundred ms.
Whole chart buckets in the past rarely change, so their aggregates (sums, latency histogram, per
model, per error class, facet counts) are kept in memory and reused — but only after checking,
in the same snapshot as the rest of the page, that the bucket still holds exactly the same rows.

The check is a fingerprint per bucket: (count, sum of seq, max seq) of the matching rows, read from
the two narrow columns start_time and seq. It is sound because span rows are never updated (only
inserted, moved between tiers with their seq, or deleted) and every new row gets a seq above all
existing ones: if rows were deleted and others inserted since the bucket was cached, the inserted
seqs sum to more than the deleted ones, so an unchanged (count, sum) means an unchanged set. Any
change — late spans, retention, erasure — simply makes the bucket be recomputed from raw rows.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lynex.storage import percentiles

if TYPE_CHECKING:  # query.py owns a BucketCache; import only for annotations
    from lynex.storage.query import Snapshot

_EPOCH = dt.datetime(1970, 1, 1)
FACETS = ("model", "provider", "environment", "release")
# Additive measures of a group; names are the keys of Overview rows.
SUMS = (
    "count(*) AS n",
    "count_if(status = 'error') AS errors",
    "coalesce(sum(input_tokens), 0) AS input_tokens",
    "coalesce(sum(output_tokens), 0) AS output_tokens",
    "coalesce(sum(input_tokens) FILTER (WHERE list_contains(flags, 'tokens_estimated')), 0) AS input_tokens_est",
    "coalesce(sum(output_tokens) FILTER (WHERE list_contains(flags, 'tokens_estimated')), 0) AS output_tokens_est",
    "coalesce(sum(cost_usd), 0) AS cost",
    "coalesce(sum(cost_usd) FILTER (WHERE list_contains(flags, 'cost_computed')), 0) AS cost_computed",
)
SUM_NAMES = tuple(m.rsplit(" AS ", 1)[1] for m in SUMS)
MODEL_SUMS = ("n", "errors", "cost", "input_tokens", "output_tokens")


def zero() -> dict:
    return {n: 0 for n in SUM_NAMES}


@dataclass
class Part:
    """Aggregates of the matching rows of one bucket (or of the part of it inside the window)."""

    sums: dict = field(default_factory=zero)
    hist: dict[int, int] = field(default_factory=dict)  # latency bin → values
    models: dict = field(default_factory=dict)  # model → {MODEL_SUMS}
    classes: dict = field(default_factory=dict)  # error class of error spans → count
    facets: dict[str, dict[str, int]] = field(default_factory=lambda: {f: {} for f in FACETS})
    # Exact p50/p95/p99 of these rows, filled the first time they are computed: a cached part's
    # rows are unchanged by construction (its fingerprint is checked), so they stay exact.
    quantiles: dict | None = None


def scan(snap: "Snapshot", where: str, params: list, bucket_us: int, with_facets: bool,
         ranges: list[tuple[dt.datetime, dt.datetime]]) -> dict[int, Part]:
    """Parts of every bucket with rows matching ``where`` within ``ranges`` of start_time.

    Separate statements over one snapshot: DuckDB runs one GROUPING SETS over all of them several
    times slower than the plain aggregates."""
    if not ranges:
        return {}
    spans = " OR ".join("(start_time >= ? AND start_time < ?)" for _ in ranges)
    # The overall bounds as well, so zone maps and Parquet statistics prune (they ignore ORs).
    cond = f"start_time >= ? AND start_time < ? AND ({spans})"
    cond_params = [min(lo for lo, _ in ranges), max(hi for _, hi in ranges)] + [t for r in ranges for t in r]
    full = f"{where} AND {cond}" if where else f"WHERE {cond}"
    args = [bucket_us] + params + cond_params
    parts: dict[int, Part] = {}
    b = "epoch_us(start_time) // ? AS b"
    for row in snap.sql(f"SELECT {b}, {percentiles.BIN_SQL} AS bin, {', '.join(SUMS)}, count(latency_ms) AS lat"
                        f" FROM src {full} GROUP BY ALL", args):
        part = parts.setdefault(row["b"], Part())
        for name in SUM_NAMES:
            part.sums[name] += row[name]
        if row["lat"]:
            part.hist[row["bin"]] = row["lat"]
    for row in snap.sql(f"SELECT {b}, model, {', '.join(s for s in SUMS if s.rsplit(' AS ', 1)[1] in MODEL_SUMS)}"
                        f" FROM src {full} GROUP BY ALL", args):
        parts[row["b"]].models[row["model"]] = {k: row[k] for k in MODEL_SUMS}
    for row in snap.sql(f"SELECT {b}, error_class, count(*) AS n FROM src {full} AND status = 'error' GROUP BY ALL",
                        args):
        parts[row["b"]].classes[row["error_class"]] = row["n"]
    if with_facets:
        sets = ", ".join(f"(b, {f})" for f in FACETS)
        for row in snap.sql(f"SELECT {b}, {', '.join(FACETS)}, count(*) AS n FROM src {full}"
                            f" GROUP BY GROUPING SETS ({sets})", args):
            for f in FACETS:  # a row belongs to the set of its one non-null facet (nulls are not listed)
                if row[f] is not None:
                    parts[row["b"]].facets[f][row[f]] = row["n"]
    return parts


_PRINT = "epoch_us(start_time) // ? AS b, count(*) AS n, sum(seq) AS s, max(seq) AS m"


def fingerprints(snap: "Snapshot", cache: "BucketCache", dims: tuple[list[str], list], bucket_us: int,
                 first: int, end: int) -> dict[int, tuple]:
    """(count, sum of seq, max seq) per bucket first … end - 1 of the rows matching ``dims``
    (filter clauses and parameters, no time bounds).

    Hot and uncommitted rows are read each time; a Parquet part never changes under its identity,
    so its per-bucket prints are computed once per filter and bucket width, then remembered."""
    clauses, params = dims
    cond = " AND ".join(clauses + ["start_time >= ? AND start_time < ?"])
    lo, hi = _EPOCH + dt.timedelta(microseconds=first * bucket_us), _EPOCH + dt.timedelta(microseconds=end * bucket_us)
    out: dict[int, tuple] = {}
    for r in snap.sql(f"SELECT {_PRINT} FROM recent WHERE {cond} GROUP BY ALL", [bucket_us] + params + [lo, hi]):
        out[r["b"]] = (r["n"], r["s"], r["m"])
    scope = " AND ".join(["project_id = ?"] + clauses)
    for path, identity in snap.parts:
        def compute(path=path):
            rows = snap.cur.execute(f"SELECT {_PRINT} FROM read_parquet(?) WHERE {scope} GROUP BY ALL",
                                    [bucket_us, path, snap.project_id] + params).fetchall()
            return {b: (n, s, m) for b, n, s, m in rows}
        for b, (n, s, m) in cache.memo(("part", identity, snap.project_id, tuple(clauses), tuple(params), bucket_us),
                                       compute).items():
            if first <= b < end:
                n0, s0, m0 = out.get(b, (0, 0, None))
                out[b] = (n0 + n, s0 + s, m if m0 is None else max(m0, m))
    return out


class BucketCache:
    """Parts of whole buckets by (project, filters, width, facets?, bucket), least recently used
    dropped first; an entry is used only with the fingerprint it was computed with."""

    def __init__(self, max_entries: int = 5000):
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, tuple[tuple, Part]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple, fingerprint: tuple) -> Part | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != fingerprint:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def memo(self, key: tuple, compute):
        """The value remembered under ``key`` (for immutable inputs only), else ``compute()``'s."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key][1]
        value = compute()
        with self._lock:
            self._entries[key] = ((), value)
            self._trim()
        return value

    def put(self, key: tuple, fingerprint: tuple, part: Part) -> None:
        with self._lock:
            self._entries[key] = (fingerprint, part)
            self._entries.move_to_end(key)
            self._trim()

    def _trim(self) -> None:
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
