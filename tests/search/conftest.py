"""Helpers for the search tests: span rows as Arrow tables, and an index that commits quickly."""

from __future__ import annotations

import datetime as dt
import json
import time

import pyarrow as pa
import pytest

from lynex.search import SearchIndex, SearchSettings
from lynex.storage.schema import ARROW_SCHEMA

T0 = dt.datetime(2026, 3, 1, 12, 0, 0)
FAST = SearchSettings(commit_interval_s=0.05, writer_heap_bytes=20_000_000, writer_threads=1,
                      indexer_nice=0, catchup_patience_s=5.0)


def spans(*rows: dict) -> pa.Table:
    """Rows with any subset of the span columns (input/output/metadata may be Python values)."""
    columns: dict[str, list] = {name: [] for name in ARROW_SCHEMA.names}
    for i, row in enumerate(rows):
        row = dict(row)
        row.setdefault("project_id", "p1")
        row.setdefault("id", f"s{row['seq']}")
        row.setdefault("name", "llm")
        row.setdefault("start_time", T0 + dt.timedelta(seconds=row["seq"]))
        for key in ("input", "output", "metadata"):
            if key in row and not isinstance(row[key], str):
                row[key] = json.dumps(row[key], ensure_ascii=False)
        for name in ARROW_SCHEMA.names:
            columns[name].append(row.get(name))
    return pa.table({f.name: pa.array(columns[f.name], f.type) for f in ARROW_SCHEMA}, schema=ARROW_SCHEMA)


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def indexed(index: SearchIndex, table: pa.Table) -> SearchIndex:
    """Add a table and wait until it is committed (searchable)."""
    index.add(table)
    top = max(table.column("seq").to_pylist())
    wait_for(lambda: index.watermark() >= top)
    return index


@pytest.fixture
def index(tmp_path):
    with SearchIndex(tmp_path / "search", FAST) as idx:
        yield idx
