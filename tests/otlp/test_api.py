"""POST /v1/traces and /api/public/ingestion in-process: encodings, errors, limits, partial success."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from litestar.testing import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from lynex.app import create_app
from lynex.storage.meta import MetaStore
from tests.helpers import wait_for

TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
T0 = 1_764_000_000_000_000_000
PB = {"Content-Type": "application/x-protobuf"}


def make_request(spans: int = 1, attributes: int = 0, bad_ids: bool = False) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    request.resource_spans[0].resource.attributes.add(key="service.name").value.string_value = "api-test"
    for i in range(spans):
        span = scope.spans.add(trace_id=TRACE, span_id=(i + 1).to_bytes(8, "big") if not bad_ids else b"\x01",
                               name=f"op-{i}", start_time_unix_nano=T0, end_time_unix_nano=T0 + 5_000_000)
        span.attributes.add(key="gen_ai.request.model").value.string_value = "gpt-4o-mini"
        for a in range(attributes):
            span.attributes.add(key=f"attr.{a}").value.int_value = a
    return request


def fetch(client, path: str, headers: dict) -> dict:
    """GET until 200 (spans are queryable moments after the acknowledgement)."""
    return wait_for(lambda: (r := client.get(path, headers=headers)).status_code == 200 and r.json())


def post(client, body: bytes, headers: dict, **extra):
    return client.post("/v1/traces", content=body, headers={**headers, **extra})


def test_protobuf_export_answers_protobuf_and_stores_spans(app_client, auth):
    r = post(app_client, make_request(3).SerializeToString(), auth, **PB)
    assert r.status_code == 200, r.content
    assert r.headers["content-type"].startswith("application/x-protobuf")
    response = ExportTraceServiceResponse.FromString(r.content)
    assert not response.HasField("partial_success")
    assert wait_for(lambda: app_client.get(f"/v1/traces/{TRACE.hex()}", headers=auth).json().get("span_count") == 3)


def test_json_export_gzip_and_x_lynex_api_key(app_client, project):
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": TRACE.hex(), "spanId": "00000000000000aa", "name": "json-span", "kind": "SPAN_KIND_SERVER",
        "startTimeUnixNano": str(T0), "endTimeUnixNano": str(T0 + 1_000_000),
        "attributes": [{"key": "http.route", "value": {"stringValue": "/x"}}]}]}]}]}
    r = post(app_client, gzip.compress(json.dumps(doc).encode()), {"x-lynex-api-key": project[1]},
             **{"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 200, r.content
    assert r.json() == {}
    span = fetch(app_client, "/v1/spans/00000000000000aa", {"x-lynex-api-key": project[1]})
    assert span["metadata"]["otel"]["span_kind"] == "server"
    assert span["kind"] == "custom"


def test_partial_success_counts_and_names_rejected_spans(app_client, auth):
    request = make_request(2)
    request.resource_spans[0].scope_spans[0].spans[1].end_time_unix_nano = T0 - 1_000_000  # ends before it starts
    bad = request.resource_spans[0].scope_spans[0].spans.add(trace_id=TRACE, span_id=b"\x00" * 8, name="zero id")
    assert bad
    r = post(app_client, request.SerializeToString(), auth, **PB)
    assert r.status_code == 200
    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_spans == 2
    assert "0000000000000002: end_time" in partial.error_message and "span_id" in partial.error_message
    # the JSON form of the same answer
    r = post(app_client, json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": TRACE.hex(), "spanId": "", "name": "no id"}]}]}]}).encode(), auth,
        **{"Content-Type": "application/json"})
    assert r.status_code == 200
    assert r.json()["partialSuccess"]["rejectedSpans"] == "1"


@pytest.mark.parametrize("content_type", ["text/plain", "application/grpc", None])
def test_wrong_content_type_is_415(app_client, auth, content_type):
    headers = dict(auth) if content_type is None else {**auth, "Content-Type": content_type}
    r = app_client.post("/v1/traces", content=b"x", headers=headers)
    assert r.status_code == 415
    assert "application/x-protobuf or application/json" in r.json()["message"]


def test_malformed_bodies_are_400_with_a_status_message(app_client, auth):
    r = post(app_client, b"\x0a\xff\xff\xff\xff\x0f garbage", auth, **PB)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/x-protobuf")
    assert b"not a valid OTLP ExportTraceServiceRequest protobuf" in r.content
    r = post(app_client, b"{not json", auth, **{"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["message"]
    r = post(app_client, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', auth,
             **{"Content-Type": "application/json"})
    assert r.status_code == 400 and "not hex" in r.json()["message"]
    r = post(app_client, b"\x1f\x8b\x08 not really gzip", auth, **PB, **{"Content-Encoding": "gzip"})
    assert r.status_code == 400
    # the server keeps serving
    assert post(app_client, make_request(1).SerializeToString(), auth, **PB).status_code == 200


def test_auth_errors(app_client, project):
    body = make_request(1).SerializeToString()
    assert post(app_client, body, {}, **PB).status_code == 401
    assert post(app_client, body, {"Authorization": "Bearer lx_nope_nope"}, **PB).status_code == 401
    meta = MetaStore(app_client.config.meta_path)
    _, read_only = meta.create_key(project[0], "ro", ("read",))
    r = post(app_client, body, {"Authorization": f"Bearer {read_only}"}, **PB)
    assert r.status_code == 403


def test_oversized_bodies_are_413(make_config):
    config = make_config(max_body_bytes=8192, max_decompressed_bytes=16384, max_batch_spans=50)
    with TestClient(app=create_app(config)) as client:
        meta = MetaStore(config.meta_path)
        _, key = meta.create_key(meta.create_project("p").id, "k", ("ingest",))
        auth = {"Authorization": f"Bearer {key}"}
        big = make_request(1, attributes=2000).SerializeToString()
        assert len(big) > 8192
        r = post(client, big, auth, **PB)
        assert r.status_code == 413 and b"max_body_bytes" in r.content
        bomb = gzip.compress(b"\x00" * 100_000)
        r = post(client, bomb, auth, **PB, **{"Content-Encoding": "gzip"})
        assert r.status_code == 413 and b"max_decompressed_bytes" in r.content
        r = post(client, make_request(60).SerializeToString(), auth, **PB)
        assert r.status_code == 413 and b"max_batch_spans" in r.content
        assert post(client, make_request(1).SerializeToString(), auth, **PB).status_code == 200


def test_span_with_10000_attributes_is_kept_bounded_and_flagged(app_client, auth):
    body = make_request(1, attributes=10_000).SerializeToString()
    r = post(app_client, body, auth, **PB)
    assert r.status_code == 200, r.content
    assert not ExportTraceServiceResponse.FromString(r.content).HasField("partial_success")
    span = fetch(app_client, "/v1/spans/0000000000000001", auth)
    metadata = span["metadata"]
    assert len(metadata) <= 130
    assert metadata["otel"]["dropped_attributes"] > 9_800
    assert span["model"] == "gpt-4o-mini"


def test_langfuse_basic_auth_and_per_event_results(app_client, project):
    key_id = project[1].split("_")[1]
    good = base64.b64encode(f"pk-lx-{key_id}:{project[1]}".encode()).decode()
    batch = {"batch": [
        {"id": "e1", "type": "trace-create", "timestamp": "2025-11-24T16:00:00Z", "body": {"id": "t-1", "name": "n"}},
        {"id": "e2", "type": "bogus-create", "timestamp": "2025-11-24T16:00:00Z", "body": {"id": "x"}},
        {"id": "e3", "type": "span-create", "timestamp": "2025-11-24T16:00:00Z",
         "body": {"id": "s" * 80, "traceId": "t-1"}}]}
    r = app_client.post("/api/public/ingestion", json=batch, headers={"Authorization": f"Basic {good}"})
    assert r.status_code == 207, r.text
    result = r.json()
    assert [s["id"] for s in result["successes"]] == ["e1"]
    assert {e["id"]: e["status"] for e in result["errors"]} == {"e2": 400, "e3": 400}
    assert "id" in next(e for e in result["errors"] if e["id"] == "e3")["message"]
    wrong_pk = base64.b64encode(f"pk-lx-other:{project[1]}".encode()).decode()
    assert app_client.post("/api/public/ingestion", json=batch,
                           headers={"Authorization": f"Basic {wrong_pk}"}).status_code == 401
    bad_secret = base64.b64encode(b"pk-anything:sk-lf-123").decode()
    r = app_client.post("/api/public/ingestion", json=batch, headers={"Authorization": f"Basic {bad_secret}"})
    assert r.status_code == 401 and "Lynex API key" in r.json()["error"]
    r = app_client.post("/api/public/ingestion", content=b"[]", headers={"Authorization": f"Basic {good}"})
    assert r.status_code == 400
