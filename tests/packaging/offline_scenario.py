"""What a customer does on an air-gapped box, against the built binary; run inside `unshare -n`.

    python offline_scenario.py write  BINARY DATA_DIR STATE.json   # serve, set up, ingest, pages, compact
    python offline_scenario.py verify BINARY DATA_DIR STATE.json   # serve again, read what `write` stored

Each step raises on failure; the last line printed is a JSON report for the test to check. Runs as a
script (not in pytest) because it must live in the network namespace with the server it talks to.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

N_SPANS = 60
PASSWORD = "offline-install-check"


def only_loopback() -> list[str]:
    """The interfaces of this network namespace; and proof that nothing outside is reachable."""
    names = sorted(name for _, name in socket.if_nameindex())
    assert names == ["lo"], f"expected a loopback-only namespace, found {names}"
    try:
        socket.create_connection(("192.0.2.1", 443), timeout=2).close()  # TEST-NET-1: unroutable anyway
        raise AssertionError("an outside address was reachable")
    except OSError:
        pass
    return names


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary: str, data_dir: Path):
        self.binary, self.data_dir, self.port = binary, data_dir, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"serve-{self.port}.log"

    def __enter__(self) -> "Server":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        env = {**os.environ, "LYNEX_FLUSH_INTERVAL_MS": "500"}  # hot store sooner, for the compaction step
        self.proc = subprocess.Popen([self.binary, "serve", "--port", str(self.port), "--data-dir",
                                      str(self.data_dir)], stdout=open(self.log_path, "w"),
                                     stderr=subprocess.STDOUT, env=env)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() - started > 60:
                raise RuntimeError(f"not ready after 60 s:\n{self.log()}")
            time.sleep(0.05)
        self.ready_s = round(time.monotonic() - started, 2)
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        assert self.proc.returncode == 0, f"serve exited {self.proc.returncode}:\n{self.log()}"
        log = self.log()
        assert "Traceback" not in log, log

    def log(self) -> str:
        return self.log_path.read_text()

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([self.binary, *args, "--data-dir", str(self.data_dir)], input=stdin,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"lynex {' '.join(args)} → {done.returncode}\n{done.stdout}{done.stderr}"
        return done.stdout


def spans(now: dt.datetime) -> list[dict]:
    """Spans over the last four days (at least two closed days to compact), one trace of three."""
    out = []
    for i in range(N_SPANS):
        start = now - dt.timedelta(days=i % 4, minutes=i)  # ≥ 2 closed days even just after midnight
        out.append({"id": f"off-{i}", "trace_id": "trace-a" if i < 3 else f"t-{i}",
                    "parent_id": "off-0" if 0 < i < 3 else None, "model": "gpt-4o-mini", "provider": "openai",
                    "start_time": start.isoformat().replace("+00:00", "Z"), "latency_ms": 100 + i,
                    "input": [{"role": "user", "content": f"question {i} <script>x</script>"}],
                    "output": f"answer {i}", "usage": {"input_tokens": 10, "output_tokens": 5},
                    "status": "error" if i % 10 == 0 else "ok",
                    **({"error": {"type": "RateLimit", "message": "slow down"}} if i % 10 == 0 else {})})
    return out


def read_all(client: httpx.Client) -> list[dict]:
    rows, cursor = [], None
    while True:
        page = client.get("/v1/spans", params={"limit": 100, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        rows += body["data"]
        cursor = body.get("next_cursor")
        if not cursor:
            return rows


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def write(binary: str, data_dir: Path, state_path: Path) -> dict:
    report = {"interfaces": only_loopback(), "version": subprocess.run(
        [binary, "version"], capture_output=True, text=True, check=True).stdout.strip()}
    with Server(binary, data_dir) as server:
        report["ready_s"] = server.ready_s
        token = re.search(r"setup token (\S+)", server.log())
        assert token, server.log()
        project = json.loads(server.cli("projects", "create", "offline", "--json"))
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {project['api_key']}"},
                           timeout=30)
        batch = spans(dt.datetime.now(dt.timezone.utc))
        first = api.post("/v1/ingest", json={"spans": batch[:30]})
        body = gzip.compress(json.dumps({"spans": batch[30:]}).encode())
        second = api.post("/v1/ingest", content=body, headers={"Content-Type": "application/json",
                                                               "Content-Encoding": "gzip"})
        assert first.status_code == second.status_code == 200, (first.text, second.text)
        assert first.json()["accepted"] + second.json()["accepted"] == N_SPANS
        assert wait_for(lambda: len(read_all(api)) == N_SPANS), len(read_all(api))
        one = api.get("/v1/spans/off-5").json()
        assert one["cost_usd"] and one["cost_usd"] > 0, one  # the bundled price table was found
        tree = api.get("/v1/traces/trace-a")
        assert tree.status_code == 200 and "off-2" in tree.text, tree.text

        # The dashboard: first-start setup with the printed token, then the project's pages.
        ui = httpx.Client(base_url=server.url, timeout=30)
        home = ui.get("/")
        assert home.status_code in (302, 303) and home.headers["location"].endswith("/setup"), home
        form = ui.get("/setup")
        assert form.status_code == 200 and form.headers["content-type"].startswith("text/html")
        csrf = re.search(r'name="_csrf" value="([^"]+)"', form.text).group(1)
        done = ui.post("/setup", data={"_csrf": csrf, "token": token.group(1), "email": "admin@example.com",
                                       "password": PASSWORD, "password2": PASSWORD})
        assert done.status_code in (302, 303), done.text
        pid = project["id"]
        pages = {}
        for path in ("/", f"/p/{pid}/overview", f"/p/{pid}/spans", f"/p/{pid}/spans/off-5",
                     f"/p/{pid}/traces/trace-a", "/projects", f"/p/{pid}/settings"):
            page = ui.get(path, follow_redirects=True)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), \
                (path, page.status_code, page.text[:500])
            assert "<script>x</script>" not in page.text  # untrusted text stays escaped
            pages[path] = page.status_code
        overview = ui.get(f"/p/{pid}/overview").text
        assets = sorted(set(re.findall(r'(?:src|href)="(/static/[^"?]+)', overview)))
        assert assets, "the overview references no vendored assets"
        for asset in assets:
            assert ui.get(asset).status_code == 200, asset
        external = re.findall(r'(?:src|href)="(https?://[^"]+)"', overview)
        assert not external, f"the dashboard loads from outside: {external}"
        report["pages"], report["assets"] = pages, assets

        # Compaction through the control channel of the running server (`lynex compact`).
        # Spans reach the hot store at the next flush (500 ms here), so compact until both closed days moved.
        compacted: list = []
        deadline = time.monotonic() + 30
        while len(compacted) < 2 and time.monotonic() < deadline:
            compacted += json.loads(server.cli("compact", "--json"))
            time.sleep(0.5)
        assert len(compacted) >= 2, compacted  # two closed days
        report["compacted"] = compacted
        assert len(read_all(api)) == N_SPANS  # hot ∪ Parquet still answers every span
        metrics = api.get("/metrics")
        assert metrics.status_code == 200
    state_path.write_text(json.dumps({"api_key": project["api_key"], "project_id": pid,
                                      "compacted_days": len(compacted)}))
    return report


def verify(binary: str, data_dir: Path, state_path: Path) -> dict:
    state = json.loads(state_path.read_text())
    report = {"interfaces": only_loopback(), "version": subprocess.run(
        [binary, "version"], capture_output=True, text=True, check=True).stdout.strip()}
    with Server(binary, data_dir) as server:
        report["ready_s"] = server.ready_s
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {state['api_key']}"},
                           timeout=30)
        rows = read_all(api)
        assert sorted(r["id"] for r in rows) == sorted(f"off-{i}" for i in range(N_SPANS)), len(rows)
        assert api.get("/v1/traces/trace-a").status_code == 200
        more = api.post("/v1/ingest", json={"spans": [{"id": "after-upgrade", "latency_ms": 1}]})
        assert more.status_code == 200, more.text
        assert wait_for(lambda: api.get("/v1/spans/after-upgrade").status_code == 200)
        report["spans_read"] = len(rows)
    return report


if __name__ == "__main__":
    mode, binary, data_dir, state = sys.argv[1:5]
    run = {"write": write, "verify": verify}[mode]
    print(json.dumps(run(binary, Path(data_dir), Path(state))))
