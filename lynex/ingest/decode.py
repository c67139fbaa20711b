"""Pure decoding of an ingest body: bytes in, validated spans and per-span rejections out.

Nothing here does I/O. Body-level problems raise :class:`BodyError` with the HTTP status the
wire contract assigns; span-level problems become :class:`Rejection` entries so one bad span
never costs the rest of the batch.
"""

from __future__ import annotations

import datetime as dt
import re
import zlib
from dataclasses import dataclass

import msgspec

from lynex.models import Batch, RawSpan, Rejection, Span

JSON = "json"
MSGPACK = "msgpack"
# POST /v1/traces logs OTLP protobuf as received and converts it at enrichment (lynex.ingest.otlp.records).
OTLP = "otlp"
BATCH_SUFFIX = "-batch"  # a log record holding a whole request body instead of one raw per span

_CONTENT_TYPES = {
    "application/json": JSON,
    "application/msgpack": MSGPACK,
    "application/x-msgpack": MSGPACK,
    "application/vnd.msgpack": MSGPACK,
}

# Epoch milliseconds must fall in [2000-01-01, 2100-01-01): catches seconds sent as ms.
MIN_EPOCH_MS = 946_684_800_000
MAX_EPOCH_MS = 4_102_444_800_000

class TypedBatch(msgspec.Struct):
    spans: list[Span]


class RawPayloadBatch(msgspec.Struct):
    spans: list[RawSpan]


_batch_decoders = {JSON: msgspec.json.Decoder(Batch), MSGPACK: msgspec.msgpack.Decoder(Batch)}
# The fast path for JSON keeps payloads raw: msgspec still checks they are well-formed JSON, and
# one UTF-8 check of the whole body stands in for the per-string checks it skips (~40% less work
# than building Python objects for every message). MessagePack strings inside a raw payload would
# go unchecked, so MessagePack is decoded in full.
_typed_decoders = {JSON: msgspec.json.Decoder(RawPayloadBatch), MSGPACK: msgspec.msgpack.Decoder(TypedBatch)}
SPAN_DECODERS = {JSON: msgspec.json.Decoder(Span), MSGPACK: msgspec.msgpack.Decoder(Span)}
_id_probe = {JSON: msgspec.json.Decoder(dict), MSGPACK: msgspec.msgpack.Decoder(dict)}
_AT_PATH = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


class BodyError(Exception):
    """The body as a whole is unusable; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class DecodedBatch:
    fmt: str
    # (index in batch, span, raw span; None: see body). OTLP spans are converted only after they
    # are logged, so theirs carry just the id (what idempotency and quotas need).
    accepted: list[tuple[int, Span, bytes | None]]
    rejected: list[Rejection]
    body: bytes | None = None  # the whole body when every span is valid (raws are then not split out)

    def raws(self) -> list[bytes]:
        """Raw encoded spans of ``accepted``, split out of ``body`` when needed."""
        if self.body is None:
            return [raw for _, _, raw in self.accepted]
        return split_body(self.fmt, self.body)


def split_body(fmt: str, body: bytes) -> list[bytes]:
    """One raw encoded span per element of a ``{"spans": [...]}`` body (or span of an OTLP request)."""
    if fmt == OTLP:
        from lynex.ingest.otlp.records import split_request  # imported here: that package imports this module

        return split_request(body)
    return [bytes(raw) for raw in _batch_decoders[fmt].decode(body).spans]


def content_format(content_type: str | None) -> str:
    """Map a Content-Type header to ``json``/``msgpack`` or raise 415."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in _CONTENT_TYPES:
        return _CONTENT_TYPES[media]
    shown = media or "none"
    raise BodyError(415, f"unsupported content type '{shown}'; send application/json or application/msgpack")


def inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding, refusing to produce more than ``limit`` bytes (gzip bombs stop early)."""
    enc = (encoding or "identity").strip().lower()
    if enc in ("identity", ""):
        return body
    if enc not in ("gzip", "x-gzip", "deflate"):
        raise BodyError(415, f"unsupported content encoding '{enc}'; send gzip or no encoding")
    wbits = 47 if enc != "deflate" else 15  # 47: gzip or zlib header, detected automatically
    out = bytearray()
    data = body
    try:
        while data:
            inflater = zlib.decompressobj(wbits)
            chunk = inflater.decompress(data, limit + 1 - len(out))
            out += chunk
            while inflater.unconsumed_tail and len(out) <= limit:
                out += inflater.decompress(inflater.unconsumed_tail, limit + 1 - len(out))
            if len(out) > limit:
                raise BodyError(413, f"body inflates to more than {limit} bytes (max_decompressed_bytes)")
            if not inflater.eof:
                raise BodyError(400, f"{enc} body is truncated")
            data = inflater.unused_data  # concatenated gzip members
    except zlib.error as exc:
        raise BodyError(400, f"body is not valid {enc}: {exc}") from None
    return bytes(out)


def _field_error(exc: Exception, index: int) -> str:
    text = str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return f"spans[{index}]: invalid UTF-8 in a string ({exc.reason} at byte {exc.start})"
    match = _AT_PATH.match(text)
    reason, path = match.group("reason"), match.group("path")
    if path is None:
        missing = re.search(r"missing required field `(\w+)`", reason)
        if missing:
            return f"spans[{index}].{missing.group(1)}: required field is missing"
        return f"spans[{index}]: {reason}"
    return f"spans[{index}]{path}: {reason}"


def probe_id(fmt: str, raw: bytes) -> str | None:
    """The ``id`` of one raw encoded span, or None when it has none or does not decode."""
    try:
        if fmt == OTLP:
            from lynex.ingest.otlp.records import span_ids  # imported here: that package imports this module

            return span_ids([raw])[0]
        value = _id_probe[fmt].decode(raw).get("id")
    except Exception:
        return None
    return value if isinstance(value, str) else None


def to_epoch_us(value: dt.datetime | float | None) -> int | None:
    """RFC 3339 datetime (naive = UTC) or epoch milliseconds → epoch microseconds."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return int(round(value * 1000))


def check_times(start_time: dt.datetime | float | None, end_time: dt.datetime | float | None) -> str | None:
    """Cross-field rules msgspec cannot express (a span's time range and order): 'field: reason' or None."""
    for field, value in (("start_time", start_time), ("end_time", end_time)):
        if isinstance(value, float) and not MIN_EPOCH_MS <= value < MAX_EPOCH_MS:
            hint = " (looks like seconds; send milliseconds)" if 946_684_800 <= value < 4_102_444_800 else ""
            return f"{field}: epoch milliseconds out of range 2000-01-01..2100-01-01{hint}"
        if isinstance(value, dt.datetime):
            if not 2000 <= value.year < 2100:
                return f"{field}: timestamp out of range 2000-01-01..2100-01-01"
    start, end = to_epoch_us(start_time), to_epoch_us(end_time)
    if start is not None and end is not None and end < start:
        return "end_time: is before start_time"
    return None


def decode_batch(body: bytes, fmt: str, max_spans: int) -> DecodedBatch:
    """Decode and validate a (decompressed) ingest body."""
    if not body.strip():
        raise BodyError(400, "empty body; send {\"spans\": [...]}")
    # Fast path, the common case: the whole batch is valid. One C-level pass validates it all and
    # the body is logged as is; any problem falls through to the span-by-span path below.
    try:
        if fmt == JSON:
            body.decode("utf-8")  # raises UnicodeDecodeError: the span-by-span path names the span
        typed = _typed_decoders[fmt].decode(body).spans
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, ValueError):
        typed = None
    if typed and len(typed) <= max_spans and not any(check_times(span.start_time, span.end_time) for span in typed
                                                     if span.start_time is not None or span.end_time is not None):
        return DecodedBatch(fmt, [(i, span, None) for i, span in enumerate(typed)], [], body)
    try:
        batch = _batch_decoders[fmt].decode(body)
    except msgspec.ValidationError as exc:
        match = _AT_PATH.match(str(exc))
        where = f" at {match.group('path')}" if match.group("path") else ""
        raise BodyError(400, f"body must be an object {{\"spans\": [...]}}: {match.group('reason')}{where}") from None
    except (msgspec.DecodeError, UnicodeDecodeError, ValueError) as exc:
        raise BodyError(400, f"body is not valid {'JSON' if fmt == JSON else 'MessagePack'}: {exc}") from None
    count = len(batch.spans)
    if count == 0:
        raise BodyError(400, "spans: the batch is empty; send at least one span")
    if count > max_spans:
        raise BodyError(413, f"spans: {count} spans in one batch; the limit is {max_spans} (max_batch_spans)")
    decoder = SPAN_DECODERS[fmt]
    accepted: list[tuple[int, Span, bytes]] = []
    rejected: list[Rejection] = []
    for index, raw in enumerate(batch.spans):
        raw_bytes = bytes(raw)
        try:
            span = decoder.decode(raw_bytes)
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, ValueError) as exc:
            rejected.append(Rejection(index, probe_id(fmt, raw_bytes), _field_error(exc, index)))
            continue
        problem = check_times(span.start_time, span.end_time)
        if problem:
            rejected.append(Rejection(index, span.id, f"spans[{index}].{problem}"))
            continue
        accepted.append((index, span, raw_bytes))
    return DecodedBatch(fmt, accepted, rejected)
