"""What the Python SDK costs the application: calling-thread time per span, wrap_openai overhead, memory.

Run: python bench/sdk_overhead.py [--spans 50000]
Prints figures; asserts nothing. Everything talks to servers this script starts on 127.0.0.1.
Goals: p50 <= 10 us and p99 <= 50 us per span on the calling thread; wrap_openai <= 2 % of a 50 ms call;
memory bounded by max_queue_size when the server is down.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, List

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "sdk", "python", "src"))
import lynex_sdk  # noqa: E402


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    delay = 0.0

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path.endswith("/chat/completions"):
            time.sleep(self.delay)
            body = json.dumps({"id": "c1", "object": "chat.completion", "created": 0, "model": "m",
                               "choices": [{"index": 0, "finish_reason": "stop",
                                            "message": {"role": "assistant", "content": "hello"}}],
                               "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}).encode()
        else:
            body = b'{"accepted": 0, "rejected": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(delay: float = 0.0) -> ThreadingHTTPServer:
    handler = type("Handler", (_Quiet,), {"delay": delay})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def timed(fn: Callable[[], Any], n: int) -> List[float]:
    """Per-call wall time in microseconds on the calling thread."""
    out = [0.0] * n
    clock = time.perf_counter_ns
    for i in range(n):
        t0 = clock()
        fn()
        out[i] = (clock() - t0) / 1000.0
    return out


def pct(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(label: str, samples: List[float], base: List[float]) -> None:
    p50, p99 = pct(samples, 0.50), pct(samples, 0.99)
    extra50, extra99 = p50 - pct(base, 0.50), p99 - pct(base, 0.99)
    print(f"  {label:<34} p50 {p50:7.2f} us  p99 {p99:7.2f} us   (SDK share: p50 {extra50:6.2f}, p99 {extra99:6.2f})")


def bench_spans(n: int) -> None:
    ingest = serve()
    spool = tempfile.mkdtemp(prefix="lynex-bench-")
    lynex_sdk.init(api_key="bench", host=f"http://127.0.0.1:{ingest.server_address[1]}", spool_dir=spool,
                   max_queue_size=max(10_000, n + 10))

    def plain(question: str) -> str:
        return question.upper()

    observed = lynex_sdk.observe(name="answer", kind="chain")(plain)

    def log_call() -> None:
        lynex_sdk.log(input="What is Lynex?", output="An observability appliance.", model="gpt-4o-mini",
                      provider="openai", latency_ms=812.0, usage={"input_tokens": 12, "output_tokens": 7})

    def span_call() -> None:
        with lynex_sdk.span("step", kind="tool") as s:
            s.set_output("ok")

    for fn in (lambda: plain("q"), lambda: observed("q"), log_call, span_call):
        timed(fn, 2000)  # warm up
    lynex_sdk.flush(10)
    gc.collect()
    base = timed(lambda: plain("What is Lynex?"), n)
    results = {}
    for label, fn in (("@observe(fn)", lambda: observed("What is Lynex?")), ("log(...)", log_call),
                      ("with span(...)", span_call)):
        results[label] = timed(fn, n)
        lynex_sdk.flush(30)
    print(f"per-span cost on the calling thread ({n} calls each, worker shipping to a local server):")
    row("un-instrumented call (baseline)", base, base)
    for label, samples in results.items():
        row(label, samples, base)
    stats = lynex_sdk.stats()
    print(f"  delivered {stats['sent']} spans, dropped {sum(stats['dropped'].values())}")
    lynex_sdk.shutdown(5)
    ingest.shutdown()


def bench_openai(calls: int) -> None:
    try:
        import openai
    except ImportError:
        print("wrap_openai: skipped (pip install openai)")
        return
    provider, ingest = serve(delay=0.05), serve()
    lynex_sdk.init(api_key="bench", host=f"http://127.0.0.1:{ingest.server_address[1]}",
                   spool_dir=tempfile.mkdtemp(prefix="lynex-bench-"))
    url = f"http://127.0.0.1:{provider.server_address[1]}/v1"
    plain = openai.OpenAI(api_key="k", base_url=url, max_retries=0)
    wrapped = lynex_sdk.wrap_openai(openai.OpenAI(api_key="k", base_url=url, max_retries=0))
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello " * 50}]

    def one(client: Any) -> float:
        t0 = time.perf_counter()
        client.chat.completions.create(model="gpt-4o-mini", messages=messages, temperature=0.2)
        return (time.perf_counter() - t0) * 1000.0

    one(plain), one(wrapped)
    a: List[float] = []
    b: List[float] = []
    for _ in range(calls):  # interleaved so drift hits both equally
        a.append(one(plain))
        b.append(one(wrapped))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"wrap_openai on a 50 ms fake chat completion ({calls} calls each, interleaved):")
    print(f"  plain client   median {ma:7.2f} ms   mean {statistics.mean(a):7.2f} ms")
    print(f"  wrapped client median {mb:7.2f} ms   mean {statistics.mean(b):7.2f} ms")
    print(f"  overhead       median {mb - ma:+7.3f} ms = {100 * (mb - ma) / ma:+.2f} %"
          f"   mean {statistics.mean(b) - statistics.mean(a):+7.3f} ms")
    lynex_sdk.shutdown(5)
    provider.shutdown()
    ingest.shutdown()


def rss_mib() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_memory(n: int) -> None:
    # Server unreachable and spool disabled: the only buffer is the bounded queue.
    lynex_sdk.init(api_key="bench", host="http://127.0.0.1:9", spool_dir="", max_retries=0,
                   retry_backoff_base=30, retry_backoff_max=30)
    gc.collect()
    before = rss_mib()
    payload = "x" * 1000  # + a per-span prefix below, so every queued span holds its own 1 KB
    peak = before
    t0 = time.perf_counter()
    for i in range(n):
        lynex_sdk.log(input=f"{i}:{payload}", output="y", metadata={"i": i})
        if i % 20_000 == 0:
            peak = max(peak, rss_mib())
    elapsed = time.perf_counter() - t0
    peak = max(peak, rss_mib())
    stats = lynex_sdk.stats()
    print(f"memory with the server down and no spool ({n} spans of ~1 KB, max_queue_size 10,000):")
    print(f"  RSS {before:.1f} MiB -> peak {peak:.1f} MiB (+{peak - before:.1f} MiB); queued {stats['queued']}, "
          f"dropped queue_full {stats['dropped']['queue_full']}, network_error {stats['dropped']['network_error']}")
    print(f"  calling thread: {1e6 * elapsed / n:.2f} us per log() on average while dropping")
    started = time.perf_counter()
    lynex_sdk.shutdown(0.5)
    print(f"  shutdown(0.5) returned in {1000 * (time.perf_counter() - started):.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--openai-calls", type=int, default=60)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    bench_spans(args.spans)
    bench_openai(args.openai_calls)
    bench_memory(200_000)


if __name__ == "__main__":
    main()
