"""Fill a data directory's hot store directly (fast) with synthetic spans over past days."""

from __future__ import annotations

import datetime as dt
import sys

import msgspec

from lynex.ingest.enrich.cost import load_price_table
from lynex.ingest.processor import Enricher
from lynex.ingest.wal import Record
from lynex.storage.hot import HotStore

DAY0 = dt.datetime(2025, 3, 1)


def spans_for(project: str, days: int, per_day: int, start_seq: int = 1):
    """Records of ``per_day`` spans on each of ``days`` days from DAY0."""
    records = []
    seq = start_seq
    for d in range(days):
        raws = []
        for i in range(per_day):
            at = DAY0 + dt.timedelta(days=d, seconds=i * 86_400 // per_day)
            raws.append(msgspec.json.encode({
                "id": f"{project}-{d}-{i}", "trace_id": f"t-{d}-{i // 5}", "model": "gpt-4o-mini",
                "start_time": at.isoformat() + "Z", "latency_ms": 100 + i % 700,
                "input": [{"role": "user", "content": f"question {i} about refunds and invoices " * 6}],
                "output": f"answer {i} " * 40, "usage": {"input_tokens": 120, "output_tokens": 80},
                "metadata": {"customer": f"c{i % 17}"}, "environment": "prod"}))
        records.append(Record(project, seq, 0, "json", raws, len(raws)))
        seq += len(raws)
    return records


def seed(hot_path, project: str, days: int, per_day: int) -> int:
    """Insert the spans, committing the watermark as the ingest path would; returns rows."""
    hot = HotStore(hot_path)
    enricher = Enricher(load_price_table(), 1 << 20)
    total = 0
    for record in spans_for(project, days, per_day, hot.applied_seq() + 1):
        table = enricher.table([record])
        hot.insert(table, record.last_seq)
        total += table.num_rows
    hot.close()
    return total


if __name__ == "__main__":
    print(seed(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
