"""Ingest benchmark: `lynex serve` as a process, a load generator on 127.0.0.1, printed figures.

    python bench/ingest.py                       # sustained 60 s at 20k spans/s, then a 10 s burst
    python bench/ingest.py --sustained 20 --rate 30000 --burst 5
    git archive <old commit> | tar -x -C /tmp/base   # then, before/after in one run:
    python bench/ingest.py --sustained 20 --burst 5 --compare /tmp/base --rounds 2

Spans are ~2 KB (chat messages, metadata), sent in batches of 100 as JSON. Figures: spans/s
acknowledged, ack latency percentiles, acknowledged → queryable latency (a probe ingests a
marker span and polls the read API), server RSS, 503s and any other errors. At the end the
server is stopped and the DuckDB rows are counted against the acknowledged spans.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BATCH = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def span_template() -> bytes:
    """A ~2 KB span with a %s slot for its id (bytes %-formatting is cheap)."""
    words = "the quick brown fox jumps over the lazy dog while the agent plans its next tool call".split()
    rng = random.Random(7)
    prompt = " ".join(rng.choice(words) for _ in range(160))
    answer = " ".join(rng.choice(words) for _ in range(110))
    span = {
        "id": "@@ID@@", "trace_id": "@@ID@@", "name": "chat", "kind": "llm", "model": "gpt-4o-mini",
        "provider": "openai", "latency_ms": 812.5, "status": "ok", "environment": "prod", "release": "v1.4.2",
        "input": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": prompt}],
        "output": {"role": "assistant", "content": answer},
        "usage": {"input_tokens": 231, "output_tokens": 160},
        "metadata": {"customer": "acme", "feature": "support-bot", "region": "eu-west-1"},
        "tags": ["bench", "support"], "user_id": "user-42", "session_id": "sess-7",
    }
    return json.dumps(span).encode().replace(b"@@ID@@", b"%s")


def make_body(template: bytes, prefix: str, start: int) -> bytes:
    parts = [template % ((f"{prefix}{start + i}".encode(),) * 2) for i in range(BATCH)]
    return b'{"spans":[' + b",".join(parts) + b"]}"


def worker(port: int, key: str, rate_per_worker: float, duration: float, threads: int, out: mp.Queue, tag: str) -> None:
    """One load process: ``threads`` keep-alive connections, open-loop paced to the rate."""
    template = span_template()
    results = {"acked": 0, "latencies": [], "status": {}, "errors": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + duration
    interval = threads * BATCH / rate_per_worker if rate_per_worker > 0 else 0.0

    def run(tid: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        prefix = f"{tag}-{tid}-{uuid.uuid4().hex[:6]}-"
        n = 0
        next_at = time.monotonic() + random.random() * interval
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if interval and now < next_at:
                time.sleep(next_at - now)
            next_at += interval
            body = make_body(template, prefix, n)
            n += BATCH
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/v1/ingest", body, {"Authorization": f"Bearer {key}",
                                                          "Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                with lock:
                    results["errors"] += 1
                continue
            elapsed = time.perf_counter() - t0
            with lock:
                results["status"][status] = results["status"].get(status, 0) + 1
                if status == 200:
                    results["acked"] += BATCH
                    results["latencies"].append(elapsed)
                elif status == 503:
                    time.sleep(float(resp.getheader("Retry-After", "1")) / 10)  # bounded: keep pushing
        conn.close()

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put(results)


def probe(port: int, key: str, stop: threading.Event, lags: list[float], acked_count: list[int]) -> None:
    """Ingest a marker span every 250 ms and time until the read API returns it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    while not stop.is_set():
        span_id = "probe-" + uuid.uuid4().hex
        try:
            conn.request("POST", "/v1/ingest", json.dumps({"spans": [{"id": span_id, "name": "probe"}]}), headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                time.sleep(0.25)
                continue
            acked = time.perf_counter()
            acked_count[0] += 1
            while not stop.is_set():
                conn.request("GET", f"/v1/spans/{span_id}", headers=headers)
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    lags.append(time.perf_counter() - acked)
                    break
                time.sleep(0.025)  # the lag is measured to 25 ms; polling faster loads the server
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        time.sleep(0.25)


def start_server(data: Path, ready_tries: int = 400, source: Path = ROOT) -> tuple[subprocess.Popen, int, str]:
    """`lynex serve` on a free port over ``data`` with a fresh project: (process, port, API key).

    ``source``: the checkout whose ``lynex`` package runs (``--compare`` runs an older one)."""
    port = free_port()
    python = sys.executable
    env = {**os.environ, "PYTHONPATH": str(source)}
    created = json.loads(subprocess.check_output(
        [python, "-m", "lynex", "projects", "create", "bench", "--json", "--data-dir", str(data)], cwd=source, env=env))
    log = open(data / "server.log", "w")
    proc = subprocess.Popen([python, "-m", "lynex", "serve", "--port", str(port), "--data-dir", str(data)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=source, env=env)
    for _ in range(ready_tries):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        time.sleep(0.05)
    return proc, port, created["api_key"]


GAUGES = ("lynex_buffer_bytes", "lynex_memtable_bytes", "lynex_duckdb_memory_bytes", "lynex_arrow_allocated_bytes",
          "lynex_search_queued_bytes")
# Rows the indexer's queue could not take (read back later); hot-store reopens after a fatal DuckDB error.
COUNTS = ("lynex_search_dropped_rows", "lynex_store_reopens")


def server_cpu(server: psutil.Process) -> float:
    """CPU seconds (user + system) used so far by the server and its live children."""
    total = 0.0
    for proc in [server, *server.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def server_rss(server: psutil.Process, peaks: dict[int, int] | None = None) -> int:
    """RSS of the server and its children (enrichment worker, search writer); ``peaks`` keeps
    each process's highest RSS, by pid."""
    total = 0
    for proc in [server, *server.children(recursive=True)]:
        try:
            rss = proc.memory_info().rss
        except psutil.Error:
            continue
        total += rss
        if peaks is not None:
            peaks[proc.pid] = max(peaks.get(proc.pid, 0), rss)
    return total


def metrics_text(port: int, timeout: float = 2.0) -> str:
    """The server's /metrics page ("" when it cannot be read)."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", "/metrics")
        return c.getresponse().read().decode()
    except (OSError, http.client.HTTPException):
        return ""


def scrape_gauges(port: int, names: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for line in metrics_text(port).splitlines():
        name, _, value = line.partition(" ")
        if name in names:
            out[name] = float(value)
    return out


def server_pss(server: psutil.Process) -> int:
    """Proportional set size of the server and its children: shared libraries and memory files
    mapped by several of them count once in total (a sum of RSS counts them in each)."""
    total = 0
    for proc in [server, *server.children(recursive=True)]:
        try:
            total += proc.memory_full_info().pss
        except psutil.Error:
            continue
    return total


# Where an ack's time goes inside the server (the rest is HTTP, queueing and the client).
HANDLER_HISTOGRAMS = {"lynex_ingest_request_seconds": "in the ingest handler (auth → durable ack)",
                      "lynex_wal_wait_seconds": "of which waiting for the log's group commit (write + fdatasync)"}


def scrape_histogram(port: int, name: str) -> dict[float, float]:
    """Cumulative counts by upper bound of a histogram on /metrics ({} when unreadable)."""
    prefix = name + '_bucket{le="'
    return {float(line[len(prefix):line.index('"', len(prefix))]): float(line.rsplit(" ", 1)[1])
            for line in metrics_text(port, 5.0).splitlines() if line.startswith(prefix)}


def histogram_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """Quantile ``q`` of what was observed between two scrapes, interpolated linearly inside its
    bucket as Prometheus' ``histogram_quantile`` does (so ±half a bucket, not a measurement)."""
    bounds = sorted(after)
    if not bounds:
        return float("nan")
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1]
    if not total:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for bound, count in zip(bounds, counts):
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = bound, count
    return float("nan")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def phase(name: str, port: int, key: str, rate: float, duration: float, procs: int, threads: int,
          server: psutil.Process) -> int:
    out: mp.Queue = mp.Queue()
    stop = threading.Event()
    lags: list[float] = []
    probes_acked = [0]
    rss: list[int] = []
    peaks: dict[int, int] = {}
    pss: list[int] = []
    prober = threading.Thread(target=probe, args=(port, key, stop, lags, probes_acked), daemon=True)
    prober.start()
    workers = [mp.Process(target=worker, args=(port, key, rate / procs, duration, threads, out, f"{name}{i}"))
               for i in range(procs)]
    handler0 = {n: scrape_histogram(port, n) for n in HANDLER_HISTOGRAMS}
    t0 = time.perf_counter()
    cpu0 = server_cpu(server)
    for w in workers:
        w.start()
    gauges: dict[str, float] = {}
    ticks = 0
    # Results are read as they come: a load process cannot exit before its (large) result has
    # left its queue, so waiting for the processes first would deadlock on long runs.
    results: list[dict] = []
    while len(results) < len(workers):
        rss.append(server_rss(server, peaks))
        if ticks % 4 == 0:  # a scrape every 2 s, like a (busy) Prometheus
            pss.append(server_pss(server))
            for gauge, value in scrape_gauges(port, GAUGES + COUNTS).items():
                gauges[gauge] = max(gauges.get(gauge, 0.0), value)
        ticks += 1
        try:
            results.append(out.get(timeout=0.5))
        except queue.Empty:
            pass
    elapsed = time.perf_counter() - t0
    cpu = server_cpu(server) - cpu0
    handler = {n: scrape_histogram(port, n) for n in HANDLER_HISTOGRAMS}
    for w in workers:
        w.join()
    stop.set()
    prober.join()
    acked = sum(r["acked"] for r in results)
    latencies = [x for r in results for x in r["latencies"]]
    statuses: dict = {}
    for r in results:
        for k, v in r["status"].items():
            statuses[k] = statuses.get(k, 0) + v
    errors = sum(r["errors"] for r in results)
    print(f"\n== {name}: target {'max' if not rate else f'{rate:,.0f}'} spans/s for {duration:.0f} s "
          f"({procs} procs × {threads} conns, batches of {BATCH}, ~2 KB spans)")
    print(f"acknowledged: {acked:,} spans in {elapsed:.1f} s = {acked / elapsed:,.0f} spans/s")
    print(f"responses: {dict(sorted(statuses.items()))}; connection errors: {errors}")
    print(f"server CPU: {cpu:.1f} s = {cpu / elapsed * 100:.0f}% of one core, {cpu / max(acked, 1) * 1e6:.1f} µs per span")
    if latencies:
        print(f"ack latency ms: p50 {pct(latencies, .5) * 1e3:.1f}  p95 {pct(latencies, .95) * 1e3:.1f}  "
              f"p99 {pct(latencies, .99) * 1e3:.1f}  max {max(latencies) * 1e3:.1f}")
    for name, label in HANDLER_HISTOGRAMS.items():
        if handler[name]:
            print(f"{label}, from /metrics buckets: p50 ≈ {histogram_quantile(handler0[name], handler[name], .5) * 1e3:.1f} ms"
                  f"  p99 ≈ {histogram_quantile(handler0[name], handler[name], .99) * 1e3:.1f} ms")
    if lags:
        print(f"ack → queryable ms ({len(lags)} probes): p50 {pct(lags, .5) * 1e3:.0f}  "
              f"p99 {pct(lags, .99) * 1e3:.0f}  max {max(lags) * 1e3:.0f}")
    if rss:
        print(f"server RSS MiB (server + its worker processes): start {rss[0] / 2**20:.0f}  max {max(rss) / 2**20:.0f}"
              f"  end {rss[-1] / 2**20:.0f}; peak per process: server {peaks.pop(server.pid, 0) / 2**20:.0f}, "
              + ", ".join(f"child {pid} {v / 2**20:.0f}" for pid, v in sorted(peaks.items()) if v > 32 << 20))
    if pss:
        print(f"server PSS MiB (the same processes, shared pages counted once; every 2 s): max {max(pss) / 2**20:.0f}")
    if gauges:
        print("max of gauges MiB: " + "  ".join(f"{n.removeprefix('lynex_').removesuffix('_bytes')} {v / 2**20:.0f}"
                                              for n, v in gauges.items() if n in GAUGES))
        print("search index: rows left to catch-up by a full queue "
              f"{gauges.get('lynex_search_dropped_rows', 0):,.0f}; hot store reopened after a fatal "
              f"DuckDB error: {gauges.get('lynex_store_reopens', 0):.0f} times")
    figures = {"spans/s": acked / elapsed, "CPU µs/span": cpu / max(acked, 1) * 1e6, "ack p50": pct(latencies, .5) * 1e3, "ack p99": pct(latencies, .99) * 1e3,
               "queryable p99": pct(lags, .99) * 1e3, "RSS max MiB": max(rss) / 2**20 if rss else float("nan"),
               "PSS max MiB": max(pss) / 2**20 if pss else float("nan"),
               "503s": statuses.get(503, 0)}
    return acked + probes_acked[0], figures


def run(args, source: Path = ROOT) -> dict[str, dict]:
    """One server over a fresh data dir: the phases, a drain, the stored-rows check."""
    data = Path(tempfile.mkdtemp(prefix="lynex-bench-"))
    proc, port, key = start_server(data, source=source)
    results: dict[str, dict] = {}
    try:
        server = psutil.Process(proc.pid)
        print(f"lynex serve ({source}) pid {proc.pid} on 127.0.0.1:{port}, data {data}; {os.cpu_count()} CPUs")
        total = 0
        if args.sustained:
            acked, results["sustained"] = phase("sustained", port, key, args.rate, args.sustained, args.procs,
                                                args.threads, server)
            total += acked
        if args.burst:
            acked, results["burst"] = phase("burst", port, key, 0, args.burst, args.procs, args.threads, server)
            total += acked
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
        print(f"\nshutdown (drain to DuckDB) took {time.perf_counter() - t0:.1f} s, exit code {proc.returncode}")
        import duckdb
        con = duckdb.connect(str(data / "hot.duckdb"), read_only=True)
        stored, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM spans").fetchone()
        print(f"stored rows: {stored:,} (distinct ids {distinct:,}); acknowledged: {total:,}; "
              f"{'OK' if stored == distinct == total else 'MISMATCH'}")
        print(f"hot.duckdb size: {(data / 'hot.duckdb').stat().st_size / 2**20:.0f} MiB")
    finally:
        if proc.poll() is None:
            proc.kill()
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
    return results


def compare(args) -> None:
    """Alternate runs of an older checkout (``--compare DIR``, e.g. a git worktree) and this one, so
    machine noise hits both alike; print each run and the median per side."""
    import statistics
    sides = {"before": Path(args.compare).resolve(), "after": Path(args.source).resolve()}
    seen: dict[str, list[dict]] = {"before": [], "after": []}
    for round_no in range(args.rounds):
        for side, source in sides.items():
            print(f"\n######## round {round_no + 1}, {side}")
            seen[side].append(run(args, source))
    print("\n======== medians over rounds (before → after)")
    for phase_name in seen["after"][0]:
        for figure in seen["after"][0][phase_name]:
            b = statistics.median(r[phase_name][figure] for r in seen["before"])
            a = statistics.median(r[phase_name][figure] for r in seen["after"])
            print(f"{phase_name:9} {figure:14} {b:10,.1f} → {a:10,.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sustained", type=float, default=60, help="seconds of sustained load (0 = skip)")
    parser.add_argument("--rate", type=float, default=20_000, help="sustained target spans/s")
    parser.add_argument("--burst", type=float, default=10, help="seconds of unthrottled burst (0 = skip)")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--compare", metavar="DIR", help="also run the checkout in DIR, alternating (before/after)")
    parser.add_argument("--rounds", type=int, default=2, help="with --compare: runs per side")
    parser.add_argument("--source", default=str(ROOT), help="checkout to run (default: this one), e.g. a "
                        "`git archive` snapshot while the working tree has changes of others")
    args = parser.parse_args()
    if args.compare:
        compare(args)
    else:
        run(args, Path(args.source).resolve())


if __name__ == "__main__":
    main()
