"""Dashboard benchmark: server time of the overview, timeline, span and trace pages over N spans.

    python bench/dashboard.py                    # 1,000,000 spans over 14 days + one 10,000-span trace
    python bench/dashboard.py --spans 200000     # quicker

Fills a hot store directly from Arrow (the ingest path has its own benchmark), then runs the real
app in process (Litestar TestClient, signed-in session) and prints p50/p95 of full page requests:
query + template render + response, i.e. the server's share of a page load. Issue targets at
10M spans: overview p95 ≤ 300 ms, timeline ≤ 150 ms, span ≤ 50 ms, 10k-span trace ≤ 500 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyarrow as pa  # noqa: E402

from lynex.accounts import Accounts  # noqa: E402
from lynex.config import load_config  # noqa: E402
from lynex.storage.hot import HotStore  # noqa: E402
from lynex.storage.meta import MetaStore  # noqa: E402
from lynex.storage.schema import ARROW_SCHEMA  # noqa: E402

MODELS = [("gpt-4o-mini", "openai", 0.15e-6, 0.6e-6), ("gpt-4o", "openai", 2.5e-6, 10e-6),
          ("claude-3-5-haiku", "anthropic", 0.8e-6, 4e-6), ("claude-3-5-sonnet", "anthropic", 3e-6, 15e-6),
          ("llama-3.1-70b", "vllm", 0.0, 0.0)]
ERRORS = [("RateLimitError", "rate_limit"), ("Timeout", "timeout"), ("BadRequestError", "context_length")]
BATCH = 125_000


def batch(rng: random.Random, project_id: str, n: int, first_seq: int, now: dt.datetime, days: int,
          trace: str | None = None) -> pa.Table:
    """``n`` span rows; with ``trace``, one trace: a root and n-1 children in 100 subtrees."""
    cols: dict[str, list] = {f.name: [] for f in ARROW_SCHEMA}
    for i in range(n):
        seq = first_seq + i
        model, provider, pin, pout = MODELS[rng.randrange(5)] if not trace else MODELS[0]
        start = (now - dt.timedelta(seconds=rng.random() * days * 86400)) if not trace else \
            now - dt.timedelta(seconds=60) + dt.timedelta(milliseconds=i * 5)
        latency = rng.lognormvariate(6, 0.8)
        error = rng.random() < 0.02
        itok, otok = rng.randint(50, 3000), rng.randint(5, 800)
        estimated = rng.random() < 0.1
        sid = f"{trace}-{i}" if trace else f"s{seq}"
        parent = None if not trace or i == 0 else (f"{trace}-0" if i <= 100 else f"{trace}-{1 + (i % 100)}")
        row = {
            "project_id": project_id, "id": sid, "trace_id": trace or f"t{seq // 4}", "parent_id": parent,
            "session_id": f"sess{seq % 5000}", "user_id": f"user{seq % 900}", "name": "chat", "kind": "llm",
            "start_time": start, "end_time": start + dt.timedelta(milliseconds=latency), "latency_ms": latency,
            "ttft_ms": latency / 3, "status": "error" if error else "ok",
            "error_type": ERRORS[seq % 3][0] if error else None, "error_message": "failed" if error else None,
            "error_class": ERRORS[seq % 3][1] if error else None, "model": model, "provider": provider,
            "input": json.dumps([{"role": "system", "content": "You are a support assistant."},
                                 {"role": "user", "content": f"Ticket {seq}: my order {rng.randint(1, 10**6)} "
                                                             "has not arrived, what can I do?"}]),
            "output": json.dumps({"role": "assistant", "content": f"Sorry about order {seq}; here is what to do."}),
            "input_tokens": itok, "output_tokens": otok, "total_tokens": itok + otok, "cached_tokens": None,
            "reasoning_tokens": None, "cost_usd": itok * pin + otok * pout, "model_parameters": '{"temperature":0.2}',
            "metadata": '{"tenant":"acme"}', "tags": None, "environment": "prod" if seq % 5 else "staging",
            "release": f"1.{seq % 7}.0", "prompt_name": None, "prompt_version": None,
            "flags": ["tokens_estimated", "cost_computed"] if estimated else None, "received_at": start, "seq": seq,
        }
        for name, value in row.items():
            cols[name].append(value)
    return pa.Table.from_pydict(cols, schema=ARROW_SCHEMA)


def fill(data_dir: Path, project_id: str, spans: int, days: int, now: dt.datetime) -> float:
    rng = random.Random(7)
    t0 = time.perf_counter()
    hot = HotStore(data_dir / "hot.duckdb")
    seq = 1
    try:
        while seq <= spans:
            n = min(BATCH, spans - seq + 1)
            hot.insert(batch(rng, project_id, n, seq, now, days), seq + n - 1)
            seq += n
            print(f"  filled {seq - 1:,} spans", end="\r", flush=True)
        hot.insert(batch(rng, project_id, 10_000, seq, now, days, trace="bigtrace"), seq + 9_999)
    finally:
        hot.close()
    print()
    return time.perf_counter() - t0


def timed(client, url: str, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.get(url)
        samples.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    from litestar.testing import TestClient

    from lynex.app import create_app

    data_dir = Path(tempfile.mkdtemp(prefix="lynex-bench-dash-")) / "data"
    config = load_config({"data_dir": str(data_dir), "wal_fsync": False}, environ={})
    meta = MetaStore(config.meta_path)
    project = meta.create_project("bench")
    accounts = Accounts(meta)
    token, _ = accounts.create_session(accounts.create_user("bench@example.com", "bench-password-1", "admin"))
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    print(f"filling {args.spans:,} spans over {args.days} days + one 10,000-span trace …")
    seconds = fill(data_dir, project.id, args.spans, args.days, now)
    print(f"filled in {seconds:.1f} s ({(args.spans + 10_000) / seconds:,.0f} rows/s)")
    base = f"/p/{project.id}"
    pages = [
        ("overview 24h", f"{base}/overview?range=24h"),
        ("overview 7d", f"{base}/overview?range=7d"),
        ("overview 30d + model filter", f"{base}/overview?range=30d&model=gpt-4o"),
        ("timeline (newest 50)", f"{base}/spans"),
        ("timeline status=error, 7d", f"{base}/spans?status=error&range=7d"),
        ("timeline user_id filter", f"{base}/spans?user_id=user17"),
        ("span detail", f"{base}/spans/s{args.spans // 2}"),
        ("trace, 10,000 spans", f"{base}/traces/bigtrace"),
    ]
    with TestClient(app=create_app(config)) as client:
        client.cookies.set("lynex_session", token)
        print(f"\n{'page':32} {'p50 ms':>8} {'p95 ms':>8}   ({args.runs} runs each, after 1 warm-up)")
        for label, url in pages:
            timed(client, url, 1)
            p50, p95 = timed(client, url, args.runs)
            print(f"{label:32} {p50:8.1f} {p95:8.1f}")


if __name__ == "__main__":
    main()
