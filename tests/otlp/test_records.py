"""OTLP logged as protobuf and converted at enrichment gives what converting on the request path gave.

The reference is ``convert_and_validate``: convert every span, validate the JSON natively, log
the JSON. For the golden corpus and edge cases, the request path must answer the same
partial_success, and the stored rows must be identical, whatever layout the record has.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from lynex.ingest.decode import BATCH_SUFFIX, JSON, MAX_EPOCH_MS, MIN_EPOCH_MS, OTLP, DecodedBatch
from lynex.ingest.enrich.cost import load_price_table
from lynex.ingest.otlp import convert_and_validate, decode_otlp, screen
from lynex.ingest.otlp.wire import PROTOBUF, parse_request
from lynex.ingest.processor import Enricher
from lynex.ingest.wal import Record, WriteAheadLog
from lynex.storage.schema import COLUMN_NAMES

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p.stem for p in FIXTURES.glob("*.json") if "request" in json.loads(p.read_text()))
RECEIVED = 1_764_000_000_000_000
NS_PER_MS = 1_000_000


def fixture_request(name: str) -> ExportTraceServiceRequest:
    doc = json.loads((FIXTURES / f"{name}.json").read_text())
    return parse_request(json.dumps(doc["request"]).encode(), JSON)


def edge_times_request() -> ExportTraceServiceRequest:
    """Spans at and around every boundary of the native time rules, plus unusable ids."""
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    t0, low, high = 1_764_000_000_000 * NS_PER_MS, MIN_EPOCH_MS * NS_PER_MS, MAX_EPOCH_MS * NS_PER_MS
    times = [(0, 0), (t0, 0), (0, t0), (t0, t0), (t0, t0 - 1), (t0, t0 - 400), (t0, t0 - 600), (t0 + 499, t0),
             (t0, t0 - 5_000), (5, 7), (1_764_000_000 * NS_PER_MS, t0),  # seconds sent as ms
             (low - 1, t0), (low, t0), (low - 500_000, t0), (low - 499_999, t0), (t0, high), (t0, high - 1),
             (t0, high - 500_000), (t0, high - 500_001), (2**64 - 1, 2**64 - 1), (t0, 2**64 - 1)]
    rng = random.Random(8)  # and near each boundary, a millisecond either way, in and out of order
    for _ in range(300):
        start = rng.choice([t0, low, high]) + rng.randrange(-2 * NS_PER_MS, 2 * NS_PER_MS)
        times.append((start, start + rng.randrange(-3_000, 3_000)))
    for i, (start, end) in enumerate(times):
        spans.add(trace_id=b"\x07" * 16, span_id=(i + 1).to_bytes(8, "big"), name=f"t{i}",
                  start_time_unix_nano=start, end_time_unix_nano=end)
    spans.add(trace_id=b"\x00" * 16, span_id=b"\x01" * 8, name="zero trace")
    spans.add(trace_id=b"\x07" * 16, span_id=b"\x01" * 7, name="short span id")
    spans.add(trace_id=b"\x07" * 16, span_id=b"", name="no span id", start_time_unix_nano=5)
    return request


REQUESTS = {**{name: (lambda name=name: fixture_request(name)) for name in CASES}, "edge_times": edge_times_request}


def both_ways(request: ExportTraceServiceRequest):
    """(screening request path, converting request path) for the same protobuf body.

    ``screen`` directly: ``decode_otlp`` sends requests with tags (the corpus has some, none
    over-long) to the converting path."""
    return screen(request, request.SerializeToString(), 10_000), convert_and_validate(request, 10_000)


def logged(batch: DecodedBatch) -> Record:
    """The record ``Pipeline.ingest`` writes for a batch without retries."""
    if batch.body is not None:
        return Record("p", 1, RECEIVED, batch.fmt + BATCH_SUFFIX, [batch.body], len(batch.accepted))
    return Record("p", 1, RECEIVED, batch.fmt, batch.raws(), len(batch.accepted))


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher(load_price_table(), 1 << 20)


@pytest.mark.parametrize("name", REQUESTS)
def test_partial_success_is_what_converting_gives(name):
    request = REQUESTS[name]()
    decoded = decode_otlp(request.SerializeToString(), PROTOBUF, 10_000)
    otlp, reference = both_ways(request)
    assert (decoded.total, decoded.reasons) == (reference.total, reference.reasons)
    assert (otlp.total, otlp.reasons, otlp.error_message()) == \
           (reference.total, reference.reasons, reference.error_message())
    assert (otlp.batch is None) == (reference.batch is None)
    if otlp.batch is not None:
        assert otlp.batch.fmt == OTLP and otlp.batch.rejected == reference.batch.rejected
        assert [(i, s.id) for i, s, _ in otlp.batch.accepted] == [(i, s.id) for i, s, _ in reference.batch.accepted]


def test_edge_times_exercise_every_outcome():
    otlp, _ = both_ways(edge_times_request())
    text = " | ".join(otlp.reasons)
    assert "end_time: is before start_time" in text and "looks like seconds" in text
    assert "start_time: epoch milliseconds out of range" in text and "end_time: epoch milliseconds" in text
    assert "trace_id must be 16 bytes" in text and "span ?: span_id must be 8 bytes" in text
    assert otlp.batch.body is None and len(otlp.batch.accepted) >= 8


@pytest.mark.parametrize("name", REQUESTS)
def test_rows_are_what_converting_gives(name, enricher):
    otlp, reference = both_ways(REQUESTS[name]())
    if reference.batch is None or not reference.batch.accepted:
        pytest.skip("nothing accepted")
    expected = enricher.table([logged(reference.batch)])
    assert enricher.table([logged(otlp.batch)]).equals(expected)
    # With retries in a request, the pipeline logs the fresh spans one by one.
    split = Record("p", 1, RECEIVED, OTLP, otlp.batch.raws(), len(otlp.batch.accepted))
    assert enricher.table([split]).equals(expected)
    assert enricher.salvage(split).equals(expected)
    assert logged(otlp.batch).span_ids() == split.span_ids() == [s.id for _, s, _ in reference.batch.accepted]


def test_a_clean_request_is_logged_as_received():
    request = fixture_request("genai_messages")
    body = request.SerializeToString()
    otlp = decode_otlp(body, PROTOBUF, 10_000)
    assert otlp.batch.body is body and not otlp.reasons


def test_json_requests_are_logged_as_protobuf(enricher):
    text = json.dumps(json.loads((FIXTURES / "vercel_ai.json").read_text())["request"]).encode()
    otlp = decode_otlp(text, JSON, 10_000)
    reference = convert_and_validate(parse_request(text, JSON), 10_000)
    assert ExportTraceServiceRequest.FromString(otlp.batch.body) == parse_request(text, JSON)
    assert enricher.table([logged(otlp.batch)]).equals(enricher.table([logged(reference.batch)]))


@pytest.mark.parametrize("tag, refused", [("short", False), ("t" * 1025, True)])
def test_tags_the_converter_does_not_guard_are_validated_on_the_request_path(tag, refused):
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(trace_id=b"\x07" * 16, span_id=b"\x08" * 8)
    span.attributes.add(key="openinference.span.kind").value.string_value = "LLM"
    span.attributes.add(key="tag.tags").value.array_value.values.add().string_value = tag
    otlp = decode_otlp(request.SerializeToString(), PROTOBUF, 10_000)
    assert otlp.batch.fmt == JSON  # converted and validated before the acknowledgement
    assert otlp.rejected == int(refused)
    if refused:
        assert otlp.reasons[0].startswith("span 0808080808080808: tags[0]")


def test_replay_of_a_partly_applied_split_record_gives_the_remaining_rows(tmp_path, enricher):
    otlp, _ = both_ways(fixture_request("mixed_corpus"))
    full = logged(otlp.batch)  # some corpus spans are refused: one single-span request per span
    log = WriteAheadLog(tmp_path)
    log.recover(0)
    with log:
        record = log.append(full.project_id, full.received_us, full.fmt, full.raws, full.count).result(timeout=5)
    (replay,) = WriteAheadLog(tmp_path).recover(applied_seq=record.seq + 9)
    assert replay.fmt == OTLP and replay.seq == record.seq + 10 and replay.count == record.count - 10
    rows = enricher.table([replay]).select(COLUMN_NAMES).to_pylist()
    assert rows == enricher.table([record]).select(COLUMN_NAMES).to_pylist()[10:]


def test_replay_of_a_whole_body_record_gives_the_remaining_rows(tmp_path, enricher):
    otlp = decode_otlp(fixture_request("vercel_ai").SerializeToString(), PROTOBUF, 10_000)
    assert otlp.batch.body is not None and len(otlp.batch.accepted) == 3
    log = WriteAheadLog(tmp_path)
    log.recover(0)
    with log:
        record = log.append("p", RECEIVED, OTLP + BATCH_SUFFIX, [otlp.batch.body], len(otlp.batch.accepted)) \
            .result(timeout=5)
    (replay,) = WriteAheadLog(tmp_path).recover(applied_seq=record.seq)
    assert replay.fmt == OTLP and replay.span_ids() == record.span_ids()[1:]
    assert enricher.table([replay]).to_pylist() == enricher.table([record]).to_pylist()[1:]


def test_salvage_keeps_a_logged_span_that_does_not_convert(enricher):
    good = decode_otlp(fixture_request("genai_messages").SerializeToString(), PROTOBUF, 10_000).batch.raws()[0]
    bad = ExportTraceServiceRequest()  # only a bug could log this: a zero span id
    bad.resource_spans.add().scope_spans.add().spans.add(trace_id=b"\x07" * 16, span_id=bytes(8), name="bad")
    record = Record("p", 5, RECEIVED, OTLP, [good, bad.SerializeToString()], 2)
    with pytest.raises(ValueError):
        enricher.table([record])
    first, second = enricher.salvage(record).select(COLUMN_NAMES).to_pylist()
    assert first["flags"] != ["enrichment_failed"] and first["seq"] == 5
    assert second["flags"] == ["enrichment_failed"] and second["id"] == "0000000000000000" and second["seq"] == 6
    assert json.loads(second["input"])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] == "bad"
    (garbled,) = enricher.salvage(Record("p", 9, RECEIVED, OTLP + BATCH_SUFFIX, [b"\xff\xff"], 3)).to_pylist()
    assert garbled["id"] == "unprocessable-9" and garbled["flags"] == ["enrichment_failed"]
