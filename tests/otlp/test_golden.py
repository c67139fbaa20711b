"""Golden tests of the pure converters: tests/otlp/fixtures/*.json hold the input and the exact output.

After an intended mapping change, regenerate and review the diff:
    LYNEX_UPDATE_GOLDEN=1 python -m pytest tests/otlp/test_golden.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import msgspec
import pytest

from lynex.ingest.decode import JSON, decode_batch
from lynex.ingest.langfuse import convert_batch
from lynex.ingest.otlp import decode_otlp
from lynex.ingest.otlp.convert import convert_request
from lynex.ingest.otlp.wire import PROTOBUF, parse_request

FIXTURES = Path(__file__).parent / "fixtures"
UPDATE = os.environ.get("LYNEX_UPDATE_GOLDEN") == "1"
OTLP_CASES = sorted(p.stem for p in FIXTURES.glob("*.json") if "request" in json.loads(p.read_text()))


def _check(path: Path, doc: dict, actual) -> None:
    actual = json.loads(json.dumps(actual))
    if UPDATE:
        doc["expected"] = actual
        path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    assert actual == doc["expected"], f"{path.name}: output differs from the golden file"


@pytest.mark.parametrize("name", OTLP_CASES)
def test_otlp_fixture(name):
    path = FIXTURES / f"{name}.json"
    doc = json.loads(path.read_text())
    converted = convert_request(parse_request(json.dumps(doc["request"]).encode(), JSON))
    actual = {"spans": converted.spans, "rejected": [list(r) for r in converted.rejected]}
    _check(path, doc, actual)
    # Every converted span is valid under the native wire contract.
    if converted.spans:
        batch = decode_batch(msgspec.json.encode({"spans": converted.spans}), JSON, 10_000)
        assert not batch.rejected, batch.rejected


@pytest.mark.parametrize("name", OTLP_CASES)
def test_protobuf_and_json_encodings_convert_alike(name):
    request = parse_request(json.dumps(json.loads((FIXTURES / f"{name}.json").read_text())["request"]).encode(), JSON)
    again = parse_request(request.SerializeToString(), PROTOBUF)
    assert convert_request(again).spans == convert_request(request).spans


def test_langfuse_fixture():
    path = FIXTURES / "langfuse_batch.json"
    doc = json.loads(path.read_text())
    stored = set(doc["stored"])
    converted = convert_batch(doc["batch"], lambda span_id: span_id in stored)
    actual = {"spans": converted.spans, "sources": converted.sources, "ok": converted.ok,
              "errors": [[e.id, e.status, e.message] for e in converted.errors]}
    _check(path, doc, actual)
    batch = decode_batch(msgspec.json.encode({"spans": converted.spans}), JSON, 10_000)
    assert not batch.rejected, batch.rejected


def test_partial_success_reasons_name_the_span():
    doc = json.loads((FIXTURES / "generic_distributed.json").read_text())
    bad = doc["request"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    bad["endTimeUnixNano"] = "1000"  # before the start: the native validation refuses it
    otlp = decode_otlp(json.dumps(doc["request"]).encode(), JSON, 10_000)
    assert otlp.total == 3 and otlp.rejected == 2
    message = otlp.error_message()
    assert message.startswith("2 of 3 spans rejected")
    assert "span_id must be 8 bytes" in message and "span f1f1f1f1f1f1f1f1: end_time" in message
