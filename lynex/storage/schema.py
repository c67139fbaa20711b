"""The stored span row: one column list drives the DuckDB DDL, the Arrow schema and migrations.

Times are UTC ``TIMESTAMP`` (microseconds). JSON payloads (input, output, metadata,
model_parameters) are stored as JSON text so any engine can read them; ``flags`` records
what Lynex derived rather than received (``tokens_estimated``, ``cost_computed``,
``truncated``). ``seq`` is the ingest sequence number: unique, monotonic, and the replay
watermark of the ingest log.
"""

from __future__ import annotations

import pyarrow as pa

COLUMNS: tuple[tuple[str, str, pa.DataType], ...] = (
    ("project_id", "VARCHAR NOT NULL", pa.string()),
    ("id", "VARCHAR NOT NULL", pa.string()),
    ("trace_id", "VARCHAR NOT NULL", pa.string()),
    ("parent_id", "VARCHAR", pa.string()),
    ("session_id", "VARCHAR", pa.string()),
    ("user_id", "VARCHAR", pa.string()),
    ("name", "VARCHAR NOT NULL", pa.string()),
    ("kind", "VARCHAR NOT NULL", pa.string()),
    ("start_time", "TIMESTAMP NOT NULL", pa.timestamp("us")),
    ("end_time", "TIMESTAMP", pa.timestamp("us")),
    ("latency_ms", "DOUBLE", pa.float64()),
    ("ttft_ms", "DOUBLE", pa.float64()),
    ("status", "VARCHAR NOT NULL", pa.string()),
    ("error_type", "VARCHAR", pa.string()),
    ("error_message", "VARCHAR", pa.string()),
    ("error_class", "VARCHAR", pa.string()),
    ("model", "VARCHAR", pa.string()),
    ("provider", "VARCHAR", pa.string()),
    ("input", "VARCHAR", pa.string()),
    ("output", "VARCHAR", pa.string()),
    ("input_tokens", "BIGINT", pa.int64()),
    ("output_tokens", "BIGINT", pa.int64()),
    ("total_tokens", "BIGINT", pa.int64()),
    ("cached_tokens", "BIGINT", pa.int64()),
    ("reasoning_tokens", "BIGINT", pa.int64()),
    ("cost_usd", "DOUBLE", pa.float64()),
    ("model_parameters", "VARCHAR", pa.string()),
    ("metadata", "VARCHAR", pa.string()),
    ("tags", "VARCHAR[]", pa.list_(pa.string())),
    ("environment", "VARCHAR", pa.string()),
    ("release", "VARCHAR", pa.string()),
    ("prompt_name", "VARCHAR", pa.string()),
    ("prompt_version", "BIGINT", pa.int64()),
    ("flags", "VARCHAR[]", pa.list_(pa.string())),
    ("received_at", "TIMESTAMP NOT NULL", pa.timestamp("us")),
    ("seq", "BIGINT NOT NULL", pa.int64()),
)

COLUMN_NAMES = tuple(name for name, _, _ in COLUMNS)
ARROW_SCHEMA = pa.schema([pa.field(name, arrow_type) for name, _, arrow_type in COLUMNS])

# Columns the list view needs: everything but the (possibly large) payloads.
SUMMARY_COLUMNS = tuple(c for c in COLUMN_NAMES if c not in ("input", "output", "model_parameters"))

SCHEMA_VERSION = 3

# Billing's usage rollup of a set of span rows (see migration 3 and USAGE_ROLLUP).
_USAGE_SELECT = ("SELECT project_id, date_trunc('hour', received_at), coalesce(model, ''), count(*), "
                 "count(*) FILTER (WHERE status = 'error'), coalesce(sum(input_tokens), 0), "
                 "coalesce(sum(output_tokens), 0), coalesce(sum(cost_usd), 0.0)")

MIGRATIONS: dict[int, list[str]] = {
    1: [
        "CREATE TABLE IF NOT EXISTS spans (" + ", ".join(f"{n} {t}" for n, t, _ in COLUMNS) + ")",
        # The replay watermark: written in the same transaction as the rows it covers.
        "CREATE TABLE IF NOT EXISTS ingest_state (k VARCHAR PRIMARY KEY, applied_seq BIGINT NOT NULL)",
        "INSERT INTO ingest_state VALUES ('wal', 0) ON CONFLICT DO NOTHING",
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    ],
    2: [
        # The manifest of compacted Parquet parts: queries read exactly the parts listed here,
        # in the same snapshot as the hot rows (see compact.py for why that makes moves atomic).
        """CREATE TABLE IF NOT EXISTS parquet_files (
               path VARCHAR PRIMARY KEY, project_id VARCHAR NOT NULL, day DATE NOT NULL,
               max_seq BIGINT NOT NULL, rows BIGINT NOT NULL, bytes BIGINT NOT NULL,
               min_time TIMESTAMP, max_time TIMESTAMP,
               tier VARCHAR NOT NULL,        -- 'local' or 'cold'
               location VARCHAR,             -- cold storage location name, when tier = 'cold'
               created_at TIMESTAMP)""",
    ],
    3: [
        # Billing's usage rollup (lynex/billing): stored spans per project, received hour and model,
        # updated by USAGE_ROLLUP in the same transaction as the rows and the replay watermark, so a
        # span is counted exactly once whatever retries, replays and crashes happen. Compaction and
        # retention never touch it: usage outlives the spans it counts.
        """CREATE TABLE IF NOT EXISTS usage_hourly (
               project_id VARCHAR NOT NULL, hour TIMESTAMP NOT NULL, model VARCHAR NOT NULL,
               spans BIGINT NOT NULL, error_spans BIGINT NOT NULL, input_tokens BIGINT NOT NULL,
               output_tokens BIGINT NOT NULL, cost_usd DOUBLE NOT NULL,
               PRIMARY KEY (project_id, hour, model))""",
        f"INSERT INTO usage_hourly {_USAGE_SELECT} FROM spans GROUP BY ALL ON CONFLICT DO NOTHING",
    ],
}

# The rows of one insert transaction (registered as _incoming) added to the rollup.
USAGE_ROLLUP = (f"INSERT INTO usage_hourly {_USAGE_SELECT} FROM _incoming GROUP BY ALL "
                "ON CONFLICT (project_id, hour, model) DO UPDATE SET spans = spans + excluded.spans, "
                "error_spans = error_spans + excluded.error_spans, "
                "input_tokens = input_tokens + excluded.input_tokens, "
                "output_tokens = output_tokens + excluded.output_tokens, cost_usd = cost_usd + excluded.cost_usd")
