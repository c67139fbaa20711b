"""Records → enriched Arrow rows. Pure: the same records always give the same table.

Enrichment v1: defaults (trace_id, name), latency from times, token estimates when usage is
missing, cost from the price table when the client sent none, error class, text limits.
Everything derived is recorded in ``flags`` so the UI can mark it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pyarrow as pa

from lynex.ingest.decode import SPAN_DECODERS, to_epoch_us
from lynex.ingest.enrich import errors, text, tokens
from lynex.ingest.enrich.cost import PriceTable, compute_cost
from lynex.ingest.wal import Record
from lynex.models import Span
from lynex.storage.schema import ARROW_SCHEMA, COLUMN_NAMES

_json = msgspec.json.Encoder()
_EPOCH = dt.date(1970, 1, 1)


def _to_json(value: Any) -> str | None:
    if value is None:
        return None
    return _json.encode(value).decode("utf-8")


class Enricher:
    """Holds what enrichment needs (price table, limits); ``table`` does the work."""

    def __init__(self, prices: PriceTable, max_text_bytes: int):
        self.prices = prices
        self.max_text_bytes = max_text_bytes

    def table(self, records: list[Record]) -> pa.Table:
        """One Arrow table (schema ARROW_SCHEMA) for all spans of ``records``."""
        cols: dict[str, list] = {name: [] for name in COLUMN_NAMES}
        append = {name: cols[name].append for name in COLUMN_NAMES}
        for record in records:
            decoder = SPAN_DECODERS[record.fmt]
            for offset, raw in enumerate(record.raws):
                span = decoder.decode(raw)
                self._row(span, record, record.seq + offset, len(raw), append)
        arrays = [pa.array(cols[name], type=field.type) for name, field in zip(COLUMN_NAMES, ARROW_SCHEMA)]
        return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)

    def _row(self, span: Span, record: Record, seq: int, raw_len: int, add) -> None:
        flags: list[str] = []
        start = to_epoch_us(span.start_time)
        end = to_epoch_us(span.end_time)
        latency = span.latency_ms
        if latency is None and start is not None and end is not None:
            latency = (end - start) / 1000.0
        if start is None:
            if end is not None:
                start = end - int((latency or 0) * 1000)
            else:
                start = record.received_us - int((latency or 0) * 1000)
                flags.append("time_from_receipt")
        if end is None and latency is not None:
            end = start + int(latency * 1000)

        inp, out, meta = span.input, span.output, span.metadata
        if raw_len > self.max_text_bytes:  # only then can a single string be over the limit
            inp, cut_in = text.truncate_strings(inp, self.max_text_bytes)
            out, cut_out = text.truncate_strings(out, self.max_text_bytes)
            meta, cut_meta = text.truncate_strings(meta, self.max_text_bytes)
            if cut_in or cut_out or cut_meta:
                flags.append("truncated")

        usage = span.usage
        in_tok = usage.input_tokens if usage else None
        out_tok = usage.output_tokens if usage else None
        if span.kind in ("llm", "embedding") and (in_tok is None or out_tok is None):
            if in_tok is None and inp is not None:
                in_tok = tokens.estimate(inp)
            if out_tok is None and out is not None:
                out_tok = tokens.estimate(out)
            flags.append("tokens_estimated")
        total = usage.total_tokens if usage and usage.total_tokens is not None else None
        if total is None and (in_tok is not None or out_tok is not None):
            total = (in_tok or 0) + (out_tok or 0)
        cached = usage.cached_tokens if usage else None

        cost = span.cost_usd
        if cost is None and span.model and (in_tok or out_tok):
            price = self.prices.lookup(span.model, _EPOCH + dt.timedelta(microseconds=start))
            if price is not None:
                cost = compute_cost(price, in_tok or 0, out_tok or 0, cached or 0)
                flags.append("cost_computed")

        error = span.error
        status = "error" if error is not None and span.status == "ok" and (error.type or error.message) else span.status
        error_class = errors.classify(error.type, error.message) if status == "error" else None

        add["project_id"](record.project_id)
        add["id"](span.id)
        add["trace_id"](span.trace_id or span.id)
        add["parent_id"](span.parent_id)
        add["session_id"](span.session_id)
        add["user_id"](span.user_id)
        add["name"](span.name or span.kind)
        add["kind"](span.kind)
        add["start_time"](start)
        add["end_time"](end)
        add["latency_ms"](latency)
        add["ttft_ms"](span.ttft_ms)
        add["status"](status)
        add["error_type"](error.type if error else None)
        add["error_message"](error.message if error else None)
        add["error_class"](error_class)
        add["model"](span.model)
        add["provider"](span.provider)
        add["input"](_to_json(inp))
        add["output"](_to_json(out))
        add["input_tokens"](in_tok)
        add["output_tokens"](out_tok)
        add["total_tokens"](total)
        add["cached_tokens"](cached)
        add["reasoning_tokens"](usage.reasoning_tokens if usage else None)
        add["cost_usd"](cost)
        add["model_parameters"](_to_json(span.model_parameters))
        add["metadata"](_to_json(meta))
        add["tags"](span.tags)
        add["environment"](span.environment)
        add["release"](span.release)
        add["prompt_name"](span.prompt_name)
        add["prompt_version"](span.prompt_version)
        add["flags"](flags or None)
        add["received_at"](record.received_us)
        add["seq"](seq)
