"""The monthly span quota holds on the compatibility routes too: OTLP /v1/traces and Langfuse ingestion."""

from __future__ import annotations

import base64
import datetime as dt

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.billing.conftest import Clock
from tests.helpers import wait_for

T0 = 1_906_000_000_000_000_000  # 2030-05-26, inside the test clock's month


def _otlp(first: int, count: int) -> bytes:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for n in range(first, first + count):
        span = scope.spans.add(trace_id=b"\x07" * 16, span_id=(n + 1).to_bytes(8, "big"), name=f"op-{n}",
                               start_time_unix_nano=T0, end_time_unix_nano=T0 + 1_000_000)
        span.attributes.add(key="gen_ai.request.model").value.string_value = "gpt-4o-mini"
    return request.SerializeToString()


def _langfuse(trace_id: str) -> dict:
    return {"batch": [
        {"id": f"{trace_id}-e1", "type": "trace-create", "timestamp": "2030-05-31T20:00:00Z",
         "body": {"id": trace_id, "name": "chat"}},
        {"id": f"{trace_id}-e2", "type": "generation-create", "timestamp": "2030-05-31T20:00:00Z",
         "body": {"id": f"{trace_id}-g", "traceId": trace_id, "model": "gpt-4o-mini"}}]}


def _basic(auth: dict) -> dict:
    secret = auth["Authorization"].removeprefix("Bearer ")
    return {"Authorization": "Basic " + base64.b64encode(f"pk-any:{secret}".encode()).decode()}


def test_otlp_and_langfuse_routes_are_refused_past_the_monthly_quota(licensed_client, issue):
    clock = Clock(dt.datetime(2030, 5, 31, 22, 0))
    client, project_id, auth = licensed_client(issue(limits={"spans_per_month": 5}), clock)
    pb = {**auth, "Content-Type": "application/x-protobuf"}

    assert client.post("/v1/traces", content=_otlp(0, 3), headers=pb).status_code == 200
    lf = client.post("/api/public/ingestion", json=_langfuse("t-1"), headers=_basic(auth))
    assert lf.status_code == 207 and len(lf.json()["successes"]) == 2  # 5 of 5 used

    otlp_refused = client.post("/v1/traces", content=_otlp(3, 1), headers=pb)
    assert otlp_refused.status_code == 429 and otlp_refused.headers["retry-after"] == str(2 * 3600)
    lf_refused = client.post("/api/public/ingestion", json=_langfuse("t-2"), headers=_basic(auth))
    assert lf_refused.status_code == 429, lf_refused.text
    assert lf_refused.headers["retry-after"] == str(2 * 3600)
    assert "quota exceeded: spans_per_month" in lf_refused.json()["error"]

    listed = wait_for(lambda: (lambda r: r.status_code == 200 and len(r.json()["data"]) == 5 and r)(
        client.get("/v1/spans", params={"limit": 100}, headers=auth)))
    assert "t-2" not in {s["id"] for s in listed.json()["data"]}
    assert client.services.billing.month_usage() == ("2030-05", 5, 5)
    usage = client.get("/v1/usage", headers=auth).json()
    assert usage["data"][0]["spans_over_quota"] == 3  # the refused OTLP span + the refused Langfuse pair

    clock.set(dt.datetime(2030, 6, 1, 0, 0, 1))  # the next billing month opens both routes again
    assert client.post("/api/public/ingestion", json=_langfuse("t-2"), headers=_basic(auth)).status_code == 207
    assert client.services.billing.month_usage() == ("2030-06", 2, 5)
