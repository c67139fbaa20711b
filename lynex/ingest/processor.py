"""Records → enriched Arrow rows. Pure: the same records always give the same table.

Enrichment v1: defaults (trace_id, name), latency from times, token estimates when usage is
missing, cost from the price table when the client sent none, error class, text limits.
Everything derived is recorded in ``flags`` so the UI can mark it.

Speed: the JSON payloads (input, output, metadata, model parameters) stay raw bytes from the
request body to the Arrow buffer — decoded only when a rule needs their content — because
building Arrow strings from Python ``str`` costs ~18x more than from ``bytes``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache

import msgspec
import pyarrow as pa

from lynex.ingest.decode import BATCH_SUFFIX, JSON, OTLP, probe_id, to_epoch_us
from lynex.ingest.enrich import errors, text, tokens
from lynex.ingest.enrich.cost import PriceTable, compute_cost
from lynex.ingest.otlp import records as otlp_records
from lynex.ingest.wal import Record
from lynex.models import RawSpan
from lynex.storage.schema import ARROW_SCHEMA, COLUMN_NAMES

_EPOCH = dt.date(1970, 1, 1)
_US_PER_DAY = 86_400_000_000
_NULL = b"null"
_PAYLOADS = ("input", "output", "model_parameters", "metadata")
_json_encode = msgspec.json.encode
_json_decode = msgspec.json.decode
_msgpack_decode = msgspec.msgpack.decode


class RawBatch(msgspec.Struct):
    spans: list[RawSpan]


_decoders = {JSON: msgspec.json.Decoder(RawSpan), "msgpack": msgspec.msgpack.Decoder(RawSpan)}
_batch_decoders = {JSON: msgspec.json.Decoder(RawBatch), "msgpack": msgspec.msgpack.Decoder(RawBatch)}


def _payload_json(raw: msgspec.Raw, fmt: str) -> bytes | None:
    """The payload as JSON bytes (None when absent or null)."""
    if not raw:
        return None
    if fmt == JSON:
        data = bytes(raw)
        return None if data == _NULL else data
    value = _msgpack_decode(raw)
    return None if value is None else _json_encode(value)


def _raw_text(fmt: str, raw: bytes) -> str:
    """One raw span as JSON text, for the row of a span that could not be enriched."""
    if fmt == JSON:
        return raw.decode("utf-8")
    if fmt == OTLP:
        return otlp_records.json_text(raw)
    return _json_encode(_msgpack_decode(raw)).decode()


@lru_cache(maxsize=64)  # spans arrive from a few days at most: no date arithmetic per span
def _day(number: int) -> dt.date:
    """Day ``number`` since the epoch (what ``_EPOCH + timedelta(microseconds=t)`` gives for t in it)."""
    return _EPOCH + dt.timedelta(days=number)


def _binary_as_string(values: Sequence[bytes | None]) -> pa.Array:
    # bytes → binary is a memcpy; a view as string is free (the bytes are validated UTF-8 JSON).
    return pa.array(values, type=pa.binary()).view(pa.string())


class Enricher:
    """Holds what enrichment needs (price table, limits); ``table`` does the work."""

    def __init__(self, prices: PriceTable, max_text_bytes: int):
        self.prices = prices
        self.max_text_bytes = max_text_bytes

    def table(self, records: list[Record]) -> pa.Table:
        """One Arrow table (schema ARROW_SCHEMA) for all spans of ``records``."""
        rows: list[tuple] = []
        add = rows.append
        for record in records:
            fmt = record.span_fmt
            if fmt == OTLP:  # converted here, off the request path: to the spans its JSON body would decode to
                fmt, spans = JSON, otlp_records.raw_spans(record.raws, record.count)
            elif record.fmt.endswith(BATCH_SUFFIX):
                spans = _batch_decoders[fmt].decode(record.raws[0]).spans
            else:
                decoder = _decoders[fmt]
                spans = [decoder.decode(raw) for raw in record.raws]
            for offset, span in enumerate(spans):
                add(self._row(span, fmt, record, record.seq + offset))
        # One tuple per row, transposed once: a fraction of the cost of one append per column and row.
        columns = zip(*rows) if rows else [()] * len(COLUMN_NAMES)
        arrays = [
            _binary_as_string(values) if name in _PAYLOADS else pa.array(values, type=field.type)
            for name, field, values in zip(COLUMN_NAMES, ARROW_SCHEMA, columns)
        ]
        return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)

    def salvage(self, record: Record) -> pa.Table:
        """Rows for ``record`` even when enrichment fails: span by span, and a span that still
        fails becomes a minimal row (flag ``enrichment_failed``, raw span kept as its input).

        Every span here was acknowledged, so dropping one is not an option; a failure at this
        point is a Lynex bug, and the row makes it visible instead of silent.
        """
        try:
            raws = record.span_raws()
        except Exception as exc:  # not even splittable: one row holds the whole record
            return self._minimal_row(record, record.raws[0], exc)
        tables = []
        for offset, raw in enumerate(raws):
            single = Record(record.project_id, record.seq + offset, record.received_us, record.span_fmt, [raw], 1)
            try:
                tables.append(self.table([single]))
            except Exception as exc:
                tables.append(self._minimal_row(single, raw, exc))
        return pa.concat_tables(tables)

    def _minimal_row(self, record: Record, raw: bytes, exc: Exception) -> pa.Table:
        span_id = probe_id(record.span_fmt, raw) or f"unprocessable-{record.seq}"
        try:
            text = _raw_text(record.span_fmt, raw)
        except Exception:
            text = None
        row = {name: None for name in COLUMN_NAMES}
        row.update(project_id=record.project_id, id=span_id, trace_id=span_id, name="unprocessable span",
                   kind="llm", start_time=record.received_us, status="error", error_type="LynexEnrichmentError",
                   error_message=f"{type(exc).__name__}: {exc}"[:2000], error_class="other",
                   input=text, flags=["enrichment_failed"], received_at=record.received_us, seq=record.seq)
        return pa.Table.from_pylist([row], schema=ARROW_SCHEMA)

    def _row(self, span: RawSpan, fmt: str, record: Record, seq: int) -> tuple:
        """One row: the values of the schema's columns, in COLUMN_NAMES order (line by line below)."""
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

        inp, out = _payload_json(span.input, fmt), _payload_json(span.output, fmt)
        meta, params = _payload_json(span.metadata, fmt), _payload_json(span.model_parameters, fmt)
        limit = self.max_text_bytes
        if (inp and len(inp) > limit) or (out and len(out) > limit) or (meta and len(meta) > limit):
            cut_any = False
            fixed = []
            for payload in (inp, out, meta):
                if payload is not None and len(payload) > self.max_text_bytes:
                    value, cut = text.truncate_strings(_json_decode(payload), self.max_text_bytes)
                    payload = _json_encode(value) if cut else payload
                    cut_any |= cut
                fixed.append(payload)
            inp, out, meta = fixed
            if cut_any:
                flags.append("truncated")

        usage = span.usage
        in_tok = usage.input_tokens if usage else None
        out_tok = usage.output_tokens if usage else None
        if span.kind in ("llm", "embedding") and (in_tok is None or out_tok is None):
            if in_tok is None and inp is not None:
                in_tok = tokens.estimate(_json_decode(inp))
            if out_tok is None and out is not None:
                out_tok = tokens.estimate(_json_decode(out))
            flags.append("tokens_estimated")
        total = usage.total_tokens if usage and usage.total_tokens is not None else None
        if total is None and (in_tok is not None or out_tok is not None):
            total = (in_tok or 0) + (out_tok or 0)
        cached = usage.cached_tokens if usage else None

        cost = span.cost_usd
        if cost is None and span.model and (in_tok or out_tok):
            price = self.prices.lookup(span.model, _day(start // _US_PER_DAY))
            if price is not None:
                cost = compute_cost(price, in_tok or 0, out_tok or 0, cached or 0)
                flags.append("cost_computed")

        error = span.error
        status = "error" if error is not None and span.status == "ok" and (error.type or error.message) else span.status
        error_class = (errors.classify(error.type if error else None, error.message if error else None)
                       if status == "error" else None)

        return (
            record.project_id, span.id, span.trace_id or span.id, span.parent_id, span.session_id, span.user_id,
            span.name or span.kind, span.kind, start, end, latency, span.ttft_ms,
            status, error.type if error else None, error.message if error else None, error_class,
            span.model, span.provider, inp, out,
            in_tok, out_tok, total, cached, usage.reasoning_tokens if usage else None, cost,
            params, meta, span.tags, span.environment, span.release, span.prompt_name, span.prompt_version,
            flags or None, record.received_us, seq,
        )
