"""Dashboard benchmark: server time of the overview, timeline, span and trace pages over N spans.

    python bench/dashboard.py                                  # 1,000,000 spans over 14 days, temp dir
    python bench/dashboard.py --spans 10000000 --data-dir /tmp/lynex-dash-10m   # filled once, reused
    python bench/dashboard.py --spans 10000000 --data-dir /tmp/lynex-dash-10m-c --layout compacted

Fills a hot store directly with DuckDB SQL (the ingest path has its own benchmark; ~10M rows in a
few minutes), then runs the real app in process (Litestar TestClient, signed-in session) and prints
p50/p95 of full page requests: query + template render + response, i.e. the server's share of a
page load. Issue targets at 10M spans: overview p95 ≤ 300 ms, timeline ≤ 150 ms, span ≤ 50 ms,
10k-span trace ≤ 500 ms.

Rows are inserted in ingest order, which is (nearly) start-time order as in production: spans
arrive seconds after they start. ``--order random`` scatters start times over the days instead
(the worst case for time pruning). ``--layout compacted`` then moves every closed day to Parquet
as the scheduler would, leaving only today's rows hot (what a long-running server looks like).
With ``--data-dir`` a filled store is reused when its spans/days/order/layout match.
The timings start once the full-text index has caught up with the store (a one-off after a fill).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lynex.accounts import Accounts  # noqa: E402
from lynex.config import load_config  # noqa: E402
from lynex.errors import NotFound  # noqa: E402
from lynex.storage.compact import Compactor  # noqa: E402
from lynex.storage.hot import HotStore  # noqa: E402
from lynex.storage.meta import MetaStore  # noqa: E402
from lynex.storage.schema import COLUMN_NAMES, USAGE_ROLLUP  # noqa: E402

MODELS = [("gpt-4o-mini", "openai", 0.15e-6, 0.6e-6), ("gpt-4o", "openai", 2.5e-6, 10e-6),
          ("claude-3-5-haiku", "anthropic", 0.8e-6, 4e-6), ("claude-3-5-sonnet", "anthropic", 3e-6, 15e-6),
          ("llama-3.1-70b", "vllm", 0.0, 0.0)]
ERRORS = [("RateLimitError", "rate_limit"), ("Timeout", "timeout"), ("BadRequestError", "context_length")]
CHUNK = 1_000_000  # rows per insert transaction: bounded memory, whole row groups
EMAIL, PASSWORD = "bench@example.com", "bench-password-1"
TRACE = "bigtrace"


def _lit(values) -> str:
    return "[" + ", ".join(repr(v) if isinstance(v, str) else repr(float(v)) for v in values) + "]"


# One row per seq; u(k) is a deterministic uniform in (0, 1) per (seq, k), so a fill is reproducible
# whatever DuckDB's parallelism. Latency is log-normal (Box-Muller), 2% errors, 10% estimated tokens.
_ROWS = f"""
WITH r AS (
  SELECT seq,
         (hash(seq, 1) % 1000003 + 1) / 1000004.0 AS u1, (hash(seq, 2) % 1000003) / 1000003.0 AS u2,
         (hash(seq, 3) % 1000003) / 1000003.0 AS u3, (hash(seq, 4) % 1000003) / 1000003.0 AS u4,
         (hash(seq, 5) % 1000003) / 1000003.0 AS u5, hash(seq, 6) AS h6,
         CAST(hash(seq, 7) % 5 AS INTEGER) + 1 AS m
  FROM range($lo, $hi) t(seq)
), g AS (
  SELECT *, exp(6 + 0.8 * sqrt(-2 * ln(u1)) * cos(2 * pi() * u2)) AS latency,
         u3 < 0.02 AS failed, 50 + CAST(h6 % 2951 AS BIGINT) AS itok, 5 + CAST((h6 // 2951) % 796 AS BIGINT) AS otok,
         CASE WHEN $random THEN $now - to_microseconds(CAST(u4 * $days * 86400e6 AS BIGINT))
              ELSE $now - to_microseconds(CAST(($total - seq) / $total * $days * 86400e6 AS BIGINT))
                        - to_microseconds(CAST(u4 * 120e6 AS BIGINT)) END AS st
  FROM r
)
SELECT $project AS project_id, 's' || seq AS id, 't' || (seq // 4) AS trace_id, NULL AS parent_id,
       'sess' || (seq % 5000) AS session_id, 'user' || (seq % 900) AS user_id, 'chat' AS name, 'llm' AS kind,
       st AS start_time, st + to_microseconds(CAST(latency * 1000 AS BIGINT)) AS end_time,
       latency AS latency_ms, latency / 3 AS ttft_ms, CASE WHEN failed THEN 'error' ELSE 'ok' END AS status,
       CASE WHEN failed THEN {_lit(e[0] for e in ERRORS)}[seq % 3 + 1] END AS error_type,
       CASE WHEN failed THEN 'failed' END AS error_message,
       CASE WHEN failed THEN {_lit(e[1] for e in ERRORS)}[seq % 3 + 1] END AS error_class,
       {_lit(m[0] for m in MODELS)}[m] AS model, {_lit(m[1] for m in MODELS)}[m] AS provider,
       '[{{"role": "system", "content": "You are a support assistant."}}, {{"role": "user", "content": "Ticket '
         || seq || ': my order ' || (h6 % 1000000) || ' has not arrived, what can I do?"}}]' AS input,
       '{{"role": "assistant", "content": "Sorry about order ' || seq || '; here is what to do."}}' AS output,
       itok AS input_tokens, otok AS output_tokens, itok + otok AS total_tokens,
       NULL::BIGINT AS cached_tokens, NULL::BIGINT AS reasoning_tokens,
       itok * {_lit(m[2] for m in MODELS)}[m] + otok * {_lit(m[3] for m in MODELS)}[m] AS cost_usd,
       '{{"temperature":0.2}}' AS model_parameters, '{{"tenant":"acme"}}' AS metadata, NULL::VARCHAR[] AS tags,
       CASE WHEN seq % 5 = 0 THEN 'staging' ELSE 'prod' END AS environment, '1.' || (seq % 7) || '.0' AS release,
       NULL AS prompt_name, NULL::BIGINT AS prompt_version,
       CASE WHEN u5 < 0.1 THEN ['tokens_estimated', 'cost_computed'] END AS flags,
       st + to_microseconds(CAST(latency * 1000 AS BIGINT)) AS received_at, seq
FROM g
"""

# One trace of $n spans ending now: a root, 100 children, the rest spread under those 100.
_TRACE_ROWS = f"""
SELECT $project AS project_id, '{TRACE}-' || i AS id, '{TRACE}' AS trace_id,
       CASE WHEN i = 0 THEN NULL WHEN i <= 100 THEN '{TRACE}-0' ELSE '{TRACE}-' || (1 + i % 100) END AS parent_id,
       'sess-trace' AS session_id, 'user1' AS user_id, 'step' AS name, 'llm' AS kind,
       $now - INTERVAL 60 SECOND + to_microseconds(i * 5000) AS start_time,
       $now - INTERVAL 60 SECOND + to_microseconds(i * 5000 + 300000) AS end_time, 300.0 AS latency_ms,
       100.0 AS ttft_ms, CASE WHEN i % 500 = 7 THEN 'error' ELSE 'ok' END AS status,
       CASE WHEN i % 500 = 7 THEN 'Timeout' END AS error_type, CASE WHEN i % 500 = 7 THEN 'failed' END,
       CASE WHEN i % 500 = 7 THEN 'timeout' END AS error_class, 'gpt-4o-mini' AS model, 'openai' AS provider,
       '"step ' || i || '"' AS input, '"done"' AS output, 100::BIGINT, 20::BIGINT, 120::BIGINT, NULL::BIGINT,
       NULL::BIGINT, 0.0001 AS cost_usd, NULL, NULL, NULL::VARCHAR[], 'prod', '1.0.0', NULL, NULL::BIGINT,
       NULL::VARCHAR[], $now AS received_at, $first + i AS seq
FROM range(0, $n) t(i)
"""


def fill(hot: HotStore, project_id: str, spans: int, days: int, now: dt.datetime, random_order: bool) -> None:
    """``spans`` rows over ``days`` ending ``now``, then one 10,000-span trace; usage rollup kept."""
    con, cols = hot.con, ", ".join(COLUMN_NAMES)
    lo = 1
    while lo <= spans:
        hi = min(lo + CHUNK, spans + 1)
        _insert(con, f"INSERT INTO spans ({cols}) {_ROWS}", dict(
            lo=lo, hi=hi, total=float(spans), days=days, now=now, random=random_order, project=project_id), lo, hi)
        lo = hi
        print(f"  filled {lo - 1:,} spans", end="\r", flush=True)
    _insert(con, f"INSERT INTO spans ({cols}) {_TRACE_ROWS}", dict(project=project_id, now=now, first=lo, n=10_000),
            lo, lo + 10_000)
    print()


def _insert(con, sql: str, params: dict, lo: int, hi: int) -> None:
    con.execute("BEGIN")
    con.execute(sql, params)
    # billing's rollup of exactly these rows, as HotStore.insert would do in the same transaction
    con.execute(f"CREATE OR REPLACE TEMP VIEW _incoming AS SELECT * FROM spans WHERE seq >= {lo} AND seq < {hi}")
    con.execute(USAGE_ROLLUP)
    con.execute("UPDATE ingest_state SET applied_seq = ? WHERE k = 'wal'", [hi - 1])
    con.execute("COMMIT")


def prepare(data_dir: Path, args, config) -> tuple[str, str]:
    """Fill ``data_dir`` (or reuse it when its marker matches); returns (project id, session cookie)."""
    marker_path = data_dir / "bench.json"
    wanted = {"spans": args.spans, "days": args.days, "order": args.order, "layout": args.layout}
    marker = json.loads(marker_path.read_text()) if marker_path.exists() else None
    if marker and {k: marker.get(k) for k in wanted} == wanted:
        now = dt.datetime.fromisoformat(marker["now"])
        print(f"reusing {data_dir}: {args.spans:,} spans filled {(_utc_now() - now) / dt.timedelta(hours=1):.1f} h ago")
    else:
        if data_dir.exists() and any(data_dir.iterdir()):
            if not marker:
                sys.exit(f"{data_dir} is not empty and not a bench store; pick another --data-dir")
            shutil.rmtree(data_dir)
        data_dir.mkdir(parents=True)
        now = _utc_now()
        meta = MetaStore(config.meta_path)
        project = meta.create_project("bench")
        Accounts(meta).create_user(EMAIL, PASSWORD, "admin")
        print(f"filling {args.spans:,} spans over {args.days} days ({args.order} order) + one 10,000-span trace …")
        t0 = time.perf_counter()
        hot = HotStore(config.hot_path, config.duckdb_memory_limit)
        try:
            fill(hot, project.id, args.spans, args.days, now, args.order == "random")
            hot.con.execute("CHECKPOINT")
            print(f"filled in {time.perf_counter() - t0:.1f} s")
            if args.layout == "compacted":
                t0 = time.perf_counter()

                def direct(fn):
                    with hot.writing():
                        return fn(hot.con)
                done = Compactor(hot, config.parquet_dir, direct, config.compaction_grace_minutes).run(now)
                hot.con.execute("CHECKPOINT")
                print(f"compacted {sum(r.rows for r in done):,} spans into {len(done)} parts "
                      f"in {time.perf_counter() - t0:.1f} s")
        finally:
            hot.close()
        meta.close()
        marker_path.write_text(json.dumps({**wanted, "now": now.isoformat()}))
    meta = MetaStore(config.meta_path)
    accounts = Accounts(meta)
    try:
        token, _ = accounts.create_session(accounts.user(EMAIL))
        return meta.project("bench").id, token
    except NotFound:
        sys.exit(f"{data_dir} has no bench project/user; delete it and run again")
    finally:
        meta.close()


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def wait_for_search(services, max_seq: int) -> None:
    """Full-text catch-up after a fill indexes every row once; time pages only after it."""
    t0 = time.perf_counter()
    while services.search.watermark() < max_seq:
        print(f"  search index catching up: {services.search.watermark():,} / {max_seq:,}", end="\r", flush=True)
        time.sleep(2)
    if time.perf_counter() - t0 > 1:
        print(f"\n  search index caught up in {time.perf_counter() - t0:.0f} s")


def timed(client, url: str, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.get(url)
        samples.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--order", choices=("time", "random"), default="time",
                        help="insert order of start times (time: as ingest does; random: worst case)")
    parser.add_argument("--layout", choices=("hot", "compacted"), default="hot",
                        help="hot: every row in DuckDB; compacted: closed days moved to Parquet")
    parser.add_argument("--data-dir", type=Path, help="keep the filled store here and reuse it next time")
    parser.add_argument("--pages", default="", help="comma-separated substrings: time only matching pages")
    parser.add_argument("--fill-only", action="store_true", help="fill (or check) the store and stop")
    args = parser.parse_args()
    from litestar.testing import TestClient

    from lynex.app import create_app

    temp = None if args.data_dir else Path(tempfile.mkdtemp(prefix="lynex-bench-dash-"))
    data_dir = args.data_dir or temp / "data"
    # No scheduled compaction/retention: the store stays exactly as filled (and reusable).
    config = load_config({"data_dir": str(data_dir), "wal_fsync": False, "compaction_interval_minutes": 0,
                          "retention_interval_minutes": 0}, environ={})
    try:
        project_id, token = prepare(data_dir, args, config)
        if args.fill_only:
            return
        base = f"/p/{project_id}"
        pages = [
            ("overview 24h", f"{base}/overview?range=24h"),
            ("overview 7d", f"{base}/overview?range=7d"),
            ("overview 30d + model filter", f"{base}/overview?range=30d&model=gpt-4o"),
            ("timeline (newest 50)", f"{base}/spans"),
            ("timeline status=error, 7d", f"{base}/spans?status=error&range=7d"),
            ("timeline user_id filter", f"{base}/spans?user_id=user17"),
            ("span detail (timeline link)", f"{base}/spans/s{args.spans // 2}?at={{at}}"),
            ("span detail (bare id)", f"{base}/spans/s{args.spans // 2}"),
            ("trace, 10,000 spans", f"{base}/traces/{TRACE}"),
        ]
        wanted = [p for p in args.pages.split(",") if p]
        pages = [p for p in pages if not wanted or any(w in p[0] for w in wanted)]
        with TestClient(app=create_app(config)) as client:
            services = client.app.state.services
            wait_for_search(services, services.hot.applied_seq())
            client.cookies.set("lynex_session", token)
            # the dashboard's own links carry the span's start time (see SpanQueries.get_span)
            span = services.queries.get_span(project_id, f"s{args.spans // 2}")
            at = (span["start_time"] - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)
            pages = [(label, url.replace("{at}", str(at))) for label, url in pages]
            # "first" is the first request of a page since start: cold caches (DuckDB's buffer pool, the
            # overview's bucket cache); p50/p95 are the steady state of a dashboard in use.
            print(f"\n{'page':32} {'first ms':>9} {'p50 ms':>8} {'p95 ms':>8}   ({args.runs} runs each after it)")
            for label, url in pages:
                first, _ = timed(client, url, 1)
                p50, p95 = timed(client, url, args.runs)
                print(f"{label:32} {first:9.1f} {p50:8.1f} {p95:8.1f}")
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
