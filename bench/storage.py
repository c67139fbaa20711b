"""Storage-tier benchmark: compaction rate and size, then a 30-day overview across all tiers.

    python bench/storage.py                 # 30 days × 20,000 spans of ~2 KB
    python bench/storage.py --per-day 5000  # quicker

Fills a hot store with 30 days of ~2 KB spans (the same template as bench/ingest.py), compacts
the 29 closed days to Parquet (rows/s, bytes per span), moves the oldest 10 days to cold storage
on a moto S3 server started on 127.0.0.1, and times a 30-day overview query (requests per hour,
latency p50/p95/p99 and cost per model, error rate) that reads hot rows, local Parquet and
cold Parquet: first with a cold cache, then p50/p95 of 20 warm runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench.ingest import free_port, span_template  # noqa: E402
from lynex.config import load_config  # noqa: E402
from lynex.ingest.enrich.cost import load_price_table  # noqa: E402
from lynex.ingest.memtable import Memtable  # noqa: E402
from lynex.ingest.processor import Enricher  # noqa: E402
from lynex.ingest.wal import Record  # noqa: E402
from lynex.maintenance import offline_store  # noqa: E402
from lynex.storage.cold import ColdTier  # noqa: E402
from lynex.storage.meta import MetaStore  # noqa: E402
from lynex.storage.query import SpanFilter, SpanQueries  # noqa: E402
from lynex.storage.retention import Retention, StoragePolicy, set_policy  # noqa: E402

MODELS = ["gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet-20241022", "gemini-2.0-flash"]

OVERVIEW = """
WHERE start_time >= ? AND start_time < ?
SELECT date_trunc('hour', start_time) AS hour, model, count(*) AS requests,
       quantile_cont(latency_ms, [0.5, 0.95, 0.99]) AS latency, sum(cost_usd) AS cost,
       avg(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS error_rate
FROM src GROUP BY ALL ORDER BY hour
"""


def vocabulary(size: int = 6000, seed: int = 3) -> tuple[list[str], list[float]]:
    """Pseudo-words with Zipf-like frequencies: text that compresses like real prose, not like a copy."""
    rng = random.Random(seed)
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    words = ["".join(rng.choices(letters, weights=range(26, 0, -1), k=rng.randint(2, 9))) for _ in range(size)]
    return words, [1 / (rank + 1) for rank in range(size)]


def fill(config, project_id: str, days: int, per_day: int, now: dt.datetime) -> float:
    template = span_template()
    words, weights = vocabulary()
    rng = random.Random(11)
    prompt_words = template.split(b'"content": "')[2].split(b'"')[0]
    answer_words = template.split(b'"content": "')[3].split(b'"')[0]
    enricher = Enricher(load_price_table(), 1 << 20)
    start = (now - dt.timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    seq = 1
    t0 = time.perf_counter()
    with offline_store(config) as (hot, _):
        for d in range(days):
            raws = []
            for i in range(per_day):
                at = int((start + dt.timedelta(days=d)).timestamp() * 1000) + i * (86_400_000 // per_day)
                raw = template % (f"s{d}-{i}".encode(), f"t{d}-{i // 4}".encode())
                raw = raw.replace(b'"latency_ms": 812.5', f'"latency_ms": {200 + (i * 37) % 3000}'.encode())
                raw = raw.replace(b'"gpt-4o-mini"', f'"{MODELS[i % 4]}"'.encode())
                # Unique text per span (same length as the template's) so compression is honest.
                raw = raw.replace(prompt_words, " ".join(rng.choices(words, weights, k=160)).encode(), 1)
                raw = raw.replace(answer_words, " ".join(rng.choices(words, weights, k=110)).encode(), 1)
                raws.append(raw[:-1] + f', "start_time": {at}'.encode() + b"}")
            record = Record(project_id, seq, 0, "json", raws, len(raws))
            hot.insert(enricher.table([record]), record.last_seq)
            seq += len(raws)
    return time.perf_counter() - t0


def overview(queries: SpanQueries, project_id: str, since: dt.datetime, until: dt.datetime) -> float:
    where, select = OVERVIEW.strip().split("\n", 1)
    t0 = time.perf_counter()
    cur = queries.hot.cursor()
    try:
        source, params = queries._source(cur, project_id, since, until)
        cur.execute(f"{source} {select.replace('FROM src', 'FROM src ' + where)}",
                    params + [since, until]).fetchall()
        cur.execute("COMMIT")
    finally:
        cur.close()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=20_000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="lynex-storage-bench-"))
    port = free_port()
    moto = subprocess.Popen([shutil.which("moto_server", path=os.path.dirname(sys.executable)) or "moto_server",
                             "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cfg = work / "lynex.toml"
        cfg.write_text(f'[cold.eu]\nbucket = "bench"\nendpoint = "http://127.0.0.1:{port}"\n'
                       'access_key = "test"\nsecret_key = "test"\n')
        config = load_config({"data_dir": str(work / "data")}, cfg, environ={})
        config.data_dir.mkdir(parents=True)
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        meta = MetaStore(config.meta_path)
        project = meta.create_project("bench")
        total = args.days * args.per_day
        print(f"filling {total:,} spans of ~2 KB over {args.days} days ...")
        seconds = fill(config, project.id, args.days, args.per_day, now)
        print(f"fill (text generation + enrichment + DuckDB insert): {total / seconds:,.0f} spans/s")

        with offline_store(config) as (hot, compactor):
            t0 = time.perf_counter()
            results = compactor.run(now)
            elapsed = time.perf_counter() - t0
            rows = sum(r.rows for r in results)
            size = sum(r.bytes for r in results)
            print(f"compaction: {rows:,} spans in {elapsed:.1f} s = {rows / elapsed:,.0f} spans/s; "
                  f"{size / rows:.0f} bytes/span on disk (zstd Parquet, {len(results)} partitions)")

            import boto3
            boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                         aws_access_key_id="test", aws_secret_access_key="test").create_bucket(Bucket="bench")
            set_policy(meta, project.id, StoragePolicy(local_days=args.days - 10, keep_days=365, location="eu"), {"eu"})
            cold = ColdTier(config.cold_locations, config.cold_cache_dir, config.cold_cache_bytes)
            t0 = time.perf_counter()
            report = Retention(hot, meta, cold, config.parquet_dir, compactor.run_on_writer, StoragePolicy()).run(now)
            print(f"tiering: {report.uploaded} partitions uploaded and verified in {time.perf_counter() - t0:.1f} s")

            queries = SpanQueries(hot, Memtable(), cold)
            since = now - dt.timedelta(days=args.days)
            first = overview(queries, project.id, since, now)
            warm = [overview(queries, project.id, since, now) for _ in range(20)]
            warm.sort()
            print(f"30-day overview over hot + local Parquet + cold: first (cold cache) {first * 1e3:.0f} ms; "
                  f"warm p50 {statistics.median(warm) * 1e3:.0f} ms, p95 {warm[18] * 1e3:.0f} ms")
            t0 = time.perf_counter()
            page = queries.list_spans(project.id, SpanFilter(), limit=50)
            print(f"timeline first page (newest 50 of {total:,}): {(time.perf_counter() - t0) * 1e3:.0f} ms, "
                  f"{len(page.rows)} rows")
    finally:
        moto.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
