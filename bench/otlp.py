"""OTLP/HTTP protobuf ingest vs native /v1/ingest, same server, same run, same span content.

    python bench/otlp.py                      # 4 alternating 10 s phases per protocol
    python bench/otlp.py --seconds 5 --rounds 2
    python bench/otlp.py --convert-only       # no server: µs per span of each OTLP step

`lynex serve` runs as a process; load processes send 100-span requests as fast as the server
acknowledges them (closed loop). Native spans are bench/ingest.py's ~2 KB JSON spans; the OTLP
spans carry the same content as OTel GenAI attributes (model, provider, input/output messages,
usage, session, user, three custom attributes) in one ExportTraceServiceRequest protobuf.
Phases alternate (native, OTLP, native, …) so drift on a shared machine hits both alike.
Prints spans/s per phase, the median per protocol and OTLP as a % of native (goal ≥ 80%), and
the server's CPU time per acknowledged span (server + enricher process, counted until the
server has enriched, stored and indexed the phase's spans; the next phase starts only then): on
a machine shared with other work, throughput swings with the neighbours while CPU per span stays
comparable.

``--convert-only`` times the pure steps in this process instead (CPU time, best of several
repeats, so a busy machine disturbs it less): on the request path, protobuf parse, all of
``decode_otlp`` (which logs the protobuf unconverted), the convert-and-validate path that requests
with ``tag.tags`` take, and native ``decode_batch`` of the equivalent JSON body; in the enrichment
process, the conversion to Lynex spans and the whole ``Enricher.table`` of an OTLP and a native record.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import multiprocessing as mp
import shutil
import signal
import statistics
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BATCH = 100
MARK = b"\xf0\x0d\xba\xbe"  # 4 bytes in every trace/span id of the template, replaced per request

_spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "bench" / "ingest.py")
bench_ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_ingest)


def otlp_template() -> bytes:
    """100 spans with bench/ingest.py's content as GenAI attributes; ids contain MARK."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    native = json.loads(bench_ingest.span_template().replace(b"%s", b"x"))
    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    for key, value in (("service.name", "support-bot"), ("deployment.environment", native["environment"]),
                       ("service.version", native["release"])):
        resource.resource.attributes.add(key=key).value.string_value = value
    scope = resource.scope_spans.add()
    scope.scope.name = "bench"
    now = time.time_ns()
    attributes = {
        "gen_ai.operation.name": "chat", "gen_ai.system": native["provider"], "gen_ai.request.model": native["model"],
        "gen_ai.input.messages": json.dumps([{"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]}
                                             for m in native["input"]]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "finish_reason": "stop",
                                               "parts": [{"type": "text", "content": native["output"]["content"]}]}]),
        "session.id": native["session_id"], "user.id": native["user_id"], **native["metadata"],
    }
    for i in range(BATCH):
        span = scope.spans.add(trace_id=MARK + struct.pack(">I", i + 1) + b"\x01" * 8,
                               span_id=MARK + struct.pack(">I", i + 1), name=native["name"], kind=3,
                               start_time_unix_nano=now, end_time_unix_nano=now + 812_500_000)
        for key, value in attributes.items():
            span.attributes.add(key=key).value.string_value = value
        span.attributes.add(key="gen_ai.usage.input_tokens").value.int_value = native["usage"]["input_tokens"]
        span.attributes.add(key="gen_ai.usage.output_tokens").value.int_value = native["usage"]["output_tokens"]
    body = request.SerializeToString()
    assert body.count(MARK) == 2 * BATCH, "the id marker must occur only in the ids"
    return body


def worker(port: int, key: str, protocol: str, duration: float, threads: int, wid: int, out: mp.Queue) -> None:
    native = bench_ingest.span_template()
    otlp = otlp_template() if protocol == "otlp" else b""
    path, ctype = ("/v1/traces", "application/x-protobuf") if protocol == "otlp" else ("/v1/ingest", "application/json")
    results = {"acked": 0, "status": {}, "errors": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def run(tid: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": ctype}
        n = 0
        while time.monotonic() < deadline:
            n += 1
            if protocol == "otlp":
                body = otlp.replace(MARK, struct.pack(">BBH", wid + 1, tid + 1, n % 65536))
            else:
                body = bench_ingest.make_body(native, f"{protocol}{wid}-{tid}-{time.time_ns()}-", 0)
            try:
                conn.request("POST", path, body, headers)
                resp = conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                with lock:
                    results["errors"] += 1
                continue
            with lock:
                results["status"][resp.status] = results["status"].get(resp.status, 0) + 1
                if resp.status == 200:
                    results["acked"] += BATCH
            if resp.status == 503:
                time.sleep(0.05)
        conn.close()

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put(results)


def server_cpu(server: psutil.Process) -> float:
    """CPU seconds used so far by the server and its worker processes (the enricher)."""
    total = 0.0
    for proc in [server, *server.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def backlog(port: int) -> float:
    """Spans the server acknowledged but has not finished with (enrichment, DuckDB, search index)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("lynex_buffer_in_flight_spans", "lynex_search_queued_rows"):
            values[name] = float(value)
    return sum(values.values())


def drain(port: int, timeout: float = 120.0) -> None:
    """Wait until the server has processed everything acknowledged, so no phase pays for the last."""
    deadline = time.monotonic() + timeout
    while backlog(port) > 0 and time.monotonic() < deadline:
        time.sleep(0.1)


def phase(port: int, key: str, protocol: str, seconds: float, procs: int, threads: int, round_no: int,
          server: psutil.Process) -> tuple[float, float]:
    """One closed-loop phase: (acknowledged spans/s, server CPU µs per acknowledged span)."""
    out: mp.Queue = mp.Queue()
    cpu_before = server_cpu(server)
    workers = [mp.Process(target=worker, args=(port, key, protocol, seconds, threads, round_no * 16 + i, out))
               for i in range(procs)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    acked = sum(r["acked"] for r in results)
    # The spans' processing after the acknowledgement belongs to this phase: wait for it to end.
    drain(port)
    cpu_us = (server_cpu(server) - cpu_before) / max(acked, 1) * 1e6
    statuses: dict = {}
    for r in results:
        for code, count in r["status"].items():
            statuses[code] = statuses.get(code, 0) + count
    rate = acked / elapsed
    print(f"  {protocol:6}  {rate:9,.0f} spans/s   server CPU {cpu_us:6.1f} µs/span   responses "
          f"{dict(sorted(statuses.items()))}   connection errors {sum(r['errors'] for r in results)}", flush=True)
    return rate, cpu_us


def convert_only(repeats: int, number: int) -> None:
    """Print µs per span of each OTLP step, request path and enrichment, against native (no server)."""
    import timeit

    from lynex.ingest.decode import BATCH_SUFFIX, JSON, OTLP, decode_batch
    from lynex.ingest.enrich.cost import load_price_table
    from lynex.ingest.otlp import PROTOBUF, convert_and_validate, decode_otlp
    from lynex.ingest.otlp.convert import convert_request
    from lynex.ingest.otlp.records import raw_spans
    from lynex.ingest.otlp.wire import parse_request
    from lynex.ingest.processor import Enricher
    from lynex.ingest.wal import Record

    body = otlp_template()
    native = bench_ingest.make_body(bench_ingest.span_template(), "convert-", 0)
    request = parse_request(body, PROTOBUF)
    enricher = Enricher(load_price_table(), 1 << 20)
    otlp_record = Record("p", 1, 0, OTLP + BATCH_SUFFIX, [body], BATCH)
    native_record = Record("p", 1, 0, JSON + BATCH_SUFFIX, [native], BATCH)
    steps = {
        "request path": {
            "parse protobuf": lambda: parse_request(body, PROTOBUF),
            "decode_otlp (all of it)": lambda: decode_otlp(body, PROTOBUF, BATCH),
            "convert + validate (tag.tags)": lambda: convert_and_validate(request, BATCH),
            "native decode_batch (JSON)": lambda: decode_batch(native, JSON, BATCH),
        },
        "enrichment process": {
            "convert to span dicts": lambda: convert_request(request),
            "convert to RawSpans": lambda: raw_spans([body], BATCH),
            "Enricher.table, OTLP record": lambda: enricher.table([otlp_record]),
            "Enricher.table, native record": lambda: enricher.table([native_record]),
        },
    }
    print(f"{BATCH} spans per request; best of {repeats} × {number} requests")
    for group, timed in steps.items():
        print(f"  {group}")
        for name, step in timed.items():
            # CPU time, not wall time: on a shared machine, time spent descheduled is not the code's.
            best = min(timeit.repeat(step, number=number, repeat=repeats, timer=time.process_time)) / number / BATCH
            print(f"    {name:30} {best * 1e6:7.2f} µs/span")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="length of each phase")
    parser.add_argument("--rounds", type=int, default=4, help="native+OTLP phase pairs")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--convert-only", action="store_true", help="time the pure steps only (no server)")
    args = parser.parse_args()
    if args.convert_only:
        convert_only(repeats=7, number=20)
        return

    data = Path(tempfile.mkdtemp(prefix="lynex-bench-otlp-"))
    proc, port, key = bench_ingest.start_server(data)
    try:
        print(f"lynex serve on 127.0.0.1:{port}; {args.rounds} rounds × {args.seconds:.0f} s per protocol, "
              f"{args.procs} procs × {args.threads} conns, {BATCH} spans per request")
        server = psutil.Process(proc.pid)
        rates: dict[str, list[float]] = {"native": [], "otlp": []}
        cpu: dict[str, list[float]] = {"native": [], "otlp": []}
        for round_no in range(args.rounds):
            print(f"round {round_no + 1}")
            for protocol in ("native", "otlp"):
                rate, cpu_us = phase(port, key, protocol, args.seconds, args.procs, args.threads, round_no, server)
                rates[protocol].append(rate)
                cpu[protocol].append(cpu_us)
        native, otlp = statistics.median(rates["native"]), statistics.median(rates["otlp"])
        native_cpu, otlp_cpu = statistics.median(cpu["native"]), statistics.median(cpu["otlp"])
        print(f"\nmedian native /v1/ingest (JSON):     {native:9,.0f} spans/s   {native_cpu:6.1f} µs server CPU/span")
        print(f"median OTLP /v1/traces (protobuf):   {otlp:9,.0f} spans/s   {otlp_cpu:6.1f} µs server CPU/span")
        print(f"OTLP / native: {otlp / native:.0%}  (goal ≥ 80%); server CPU per span, native / OTLP: "
              f"{native_cpu / otlp_cpu:.0%}")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
