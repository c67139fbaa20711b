"""DuckDB insert cost by transaction size: why the memtable flushes at 64 MiB (~34k rows).

    python bench/store_insert.py                 # 256k rows of ~2 KB spans per batch size
    python bench/store_insert.py --rows 128000 --batches 8000 32000

Builds enriched rows exactly as ingest does (bench/ingest.py's span, the real Enricher), then
inserts them into a fresh hot store with ``HotStore.insert`` (one transaction per batch, the
usage rollup and the watermark included) and prints CPU µs and wall µs per row for each size.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import make_body, span_template  # noqa: E402

from lynex.ingest.enrich.cost import load_price_table  # noqa: E402
from lynex.ingest.processor import Enricher  # noqa: E402
from lynex.ingest.wal import Record  # noqa: E402
from lynex.storage.hot import HotStore  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=256_000, help="rows inserted per batch size")
    parser.add_argument("--batches", type=int, nargs="+", default=[8_000, 16_000, 32_000, 64_000])
    parser.add_argument("--memory-limit", default="512MB", help="DuckDB memory_limit")
    args = parser.parse_args()
    enricher, template = Enricher(load_price_table(), 1 << 20), span_template()
    biggest = max(args.batches)
    records = [Record("bench", i * 100 + 1, time.time_ns() // 1000, "json-batch",
                      [make_body(template, "s-", i * 100)], 100) for i in range(biggest // 100)]
    rows = enricher.table(records)
    print(f"{rows.num_rows:,} enriched rows, {rows.nbytes / rows.num_rows:,.0f} bytes each in Arrow")
    for batch in args.batches:
        with tempfile.TemporaryDirectory() as tmp:
            hot = HotStore(Path(tmp) / "hot.duckdb", args.memory_limit)
            done, wall, cpu = 0, time.perf_counter(), cpu_seconds()
            while done < args.rows:
                hot.insert(rows.slice(done % biggest, batch), done + batch)
                done += batch
            cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
            hot.close()
        print(f"batch {batch:7,} rows: {cpu / done * 1e6:5.1f} µs CPU/row  {wall / done * 1e6:5.1f} µs wall/row"
              f"  ({done / wall:,.0f} rows/s)")


if __name__ == "__main__":
    main()
