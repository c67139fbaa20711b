"""Exact latency percentiles in bounded memory: a histogram pass, then a selection pass.

``quantile_cont`` buffers every value of every group, so over millions of spans it is slow and can
exceed DuckDB's memory limit. The answer is the same when computed in two steps:

1. count values per (bucket, bin), where ``bin`` is a monotonic function of the value (16 bins
   per power of two), alongside the other aggregates — a hash aggregate with small state;
2. from the cumulative counts, the rank a percentile needs lies in one known bin; read back only
   the values of those bins (a few percent of the rows), sort them, take the rank.

Interpolation is DuckDB's ``quantile_cont``: position (n - 1)·q between the two neighbouring
values, ``lo·(1 - frac) + hi·frac`` — which DuckDB 2.0's x86-64 build evaluates as one fused
multiply-add, reproduced here, so results equal ``quantile_cont`` over the same rows to the bit.
"""

from __future__ import annotations

import math
from fractions import Fraction
from dataclasses import dataclass

QUANTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
# Monotonic in the value: floor(16·log2 x), clamped; 0 and tiny values share the lowest bin,
# infinities (and NaN, which DuckDB sorts last) the highest.
BIN_SQL = "CAST(least(greatest(floor(log2(greatest(latency_ms, 1e-9)) * 16), -1000), 1000) AS INTEGER)"
_LOWEST = math.floor(math.log2(1e-9) * 16)  # where 0 (and anything up to 1e-9) lands
_BIN_OFFSET = 2048  # bins are in [-1000, 1000]: key = bucket · 4096 + bin + 2048 is unique
_KEY_MUL = 4096


def key(bucket: int, bin_: int) -> int:
    return bucket * _KEY_MUL + bin_ + _BIN_OFFSET


@dataclass(frozen=True)
class Target:
    """The value of rank ``rank`` within bin ``bin`` of ``bucket`` (None: all buckets)."""

    bucket: int | None
    bin: int
    rank: int


def positions(n: int, q: float) -> tuple[int, int, float]:
    """The two 0-based ranks ``quantile_cont`` interpolates between, and the fraction."""
    pos = (n - 1) * q
    lo = math.floor(pos)
    return lo, math.ceil(pos), pos - lo


def targets(bucket: int | None, histogram: dict[int, int]) -> dict[int, Target]:
    """For one group's histogram {bin: count}, the Target of every rank its percentiles need."""
    n = sum(histogram.values())
    if n == 0:
        return {}
    wanted = sorted({r for _, q in QUANTILES for r in positions(n, q)[:2]})
    out: dict[int, Target] = {}
    below, bins = 0, sorted(histogram)
    i = 0
    for rank in wanted:
        while below + histogram[bins[i]] <= rank:
            below += histogram[bins[i]]
            i += 1
        out[rank] = Target(bucket, bins[i], rank - below)
    return out


def resolve(histogram: dict[int, int], ranks: dict[int, Target], values: dict[Target, float]) -> dict:
    """{p50, p95, p99} from the selected values (None when the group has no latency)."""
    n = sum(histogram.values())
    if n == 0:
        return {name: None for name, _ in QUANTILES}
    out = {}
    for name, q in QUANTILES:
        lo, hi, frac = positions(n, q)
        low = values[ranks[lo]]
        out[name] = low if lo == hi else _fma(low, 1.0 - frac, values[ranks[hi]] * frac)
    return out


def _fma(a: float, b: float, c: float) -> float:
    """a·b + c rounded once (math.fma arrives in Python 3.13)."""
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def prefilter(bins: set[int]) -> tuple[str, list[float]]:
    """A cheap condition on ``latency_ms`` true for every value in ``bins`` (and a few neighbours):
    comparisons instead of a logarithm per row; the exact bin test runs on what passes."""
    ranges: list[list[float]] = []
    for b in sorted(bins):
        lo = -math.inf if b <= _LOWEST + 1 else 2.0 ** (b / 16) * (1 - 1e-9)
        hi = math.inf if b >= 1000 else 2.0 ** ((b + 1) / 16) * (1 + 1e-9)
        if ranges and lo <= ranges[-1][1]:
            ranges[-1][1] = hi
        else:
            ranges.append([lo, hi])
    clauses, params = [], []
    for lo, hi in ranges:
        parts = []
        if lo != -math.inf:
            parts.append("latency_ms >= ?")
            params.append(lo)
        if hi != math.inf:
            parts.append("latency_ms <= ?")
            params.append(hi)
        clauses.append("(" + " AND ".join(parts or ["true"]) + ")")
    return "(" + " OR ".join(clauses or ["false"]) + ")", params


def selection_sql(where: str, prefilter_sql: str) -> str:
    """Pass 2: the value at each target's rank. Parameters: bucket width (µs), the ``where``
    parameters, the prefilter's, bucket keys (see ``key``), bins of the totals, then the targets'
    buckets, bins and ranks as three parallel lists."""
    return f"""
    , v AS (SELECT epoch_us(start_time) // ? AS b, {BIN_SQL} AS bin, latency_ms FROM src
            {where} {'AND' if where else 'WHERE'} latency_ms IS NOT NULL AND {prefilter_sql}),
    keys AS (SELECT unnest(?::BIGINT[]) AS k), total_bins AS (SELECT unnest(?::INTEGER[]) AS bin),
    chosen AS (SELECT * FROM v WHERE b * {_KEY_MUL} + bin + {_BIN_OFFSET} IN (SELECT k FROM keys)
                                  OR bin IN (SELECT bin FROM total_bins)),
    g AS (SELECT CASE WHEN grouping(b) = 0 THEN b END AS b, bin, list_sort(list(latency_ms)) AS vals
          FROM chosen GROUP BY GROUPING SETS ((b, bin), (bin))),
    t AS (SELECT unnest(?::BIGINT[]) AS b, unnest(?::INTEGER[]) AS bin, unnest(?::BIGINT[]) AS r)
    SELECT t.b AS b, t.bin AS bin, t.r AS r, g.vals[t.r + 1] AS value
    FROM t JOIN g ON g.bin = t.bin AND g.b IS NOT DISTINCT FROM t.b"""
