"""OTLP spans logged as protobuf survive kill -9 of `lynex serve`, stored once, retries still dropped."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.helpers import ServerProcess, wait_for
from tests.test_server_process import all_ids

T0 = 1_764_000_000_000_000_000
PB = {"Content-Type": "application/x-protobuf"}


def request(first: int, count: int, zero_id: bool = False) -> bytes:
    """``count`` GenAI chat spans with span ids first..first+count-1 (and one unusable span)."""
    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name").value.string_value = "recovery"
    spans = resource_spans.scope_spans.add().spans
    for n in range(first, first + count):
        span = spans.add(trace_id=b"\x05" * 16, span_id=n.to_bytes(8, "big"), name="chat",
                         start_time_unix_nano=T0 + n, end_time_unix_nano=T0 + n + 5_000_000)
        span.attributes.add(key="gen_ai.operation.name").value.string_value = "chat"
        span.attributes.add(key="gen_ai.request.model").value.string_value = "gpt-4o-mini"
    if zero_id:
        spans.add(trace_id=b"\x05" * 16, span_id=bytes(8), name="refused")
    return message.SerializeToString()


def test_kill_9_replays_otlp_records_and_remembers_their_ids(tmp_path):
    # Nothing reaches DuckDB before the kill: every span comes back from the ingest log.
    server = ServerProcess(data_dir=tmp_path / "d", env={"LYNEX_FLUSH_INTERVAL_MS": "600000"}).start()
    key = server.create_project("otlp")["api_key"]
    # Whole bodies, a body with a refused span (logged span by span) and a retry overlapping
    # stored spans (only the fresh ones logged).
    bodies = [request(1 + 50 * i, 50) for i in range(4)] + [request(201, 50, zero_id=True), request(226, 50)]
    with server.client(key) as client:
        rejected = [ExportTraceServiceResponse.FromString(client.post("/v1/traces", content=body, headers=PB)
                                                          .content).partial_success.rejected_spans
                    for body in bodies]
    assert rejected == [0, 0, 0, 0, 1, 0]
    server.kill()
    server.start()
    assert "replaying 275 spans" in server.log()
    with server.client(key) as client:
        for body in bodies:  # the exporter's retry of everything: all duplicates now
            assert client.post("/v1/traces", content=body, headers=PB).status_code == 200
        ids = wait_for(lambda: (lambda got: got if len(got) >= 275 else None)(all_ids(client)), timeout=30)
        span = client.get(f"/v1/spans/{(7).to_bytes(8, 'big').hex()}").json()
        metrics = client.get("/metrics").text
    server.stop()
    assert sorted(ids) == sorted(n.to_bytes(8, "big").hex() for n in range(1, 276))
    assert span["kind"] == "llm" and span["model"] == "gpt-4o-mini" and span["metadata"]["service.name"] == "recovery"
    assert "lynex_ingest_spans_duplicate_total 300" in metrics
