"""`lynex serve` as a real process: CLI admin while serving, graceful stop, kill -9 recovery."""

import subprocess
import sys
import threading
import time

import httpx

from tests.helpers import ServerProcess, lynex_cli, wait_for


def all_ids(client) -> list[str]:
    ids, cursor = [], None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        body = client.get("/v1/spans", params=params).json()
        ids += [s["id"] for s in body["data"]]
        cursor = body["next_cursor"]
        if not cursor:
            return ids


def test_cli_and_server_end_to_end(lynex_server):
    created = lynex_server.create_project("my-app")
    assert created["name"] == "my-app" and created["api_key"].startswith("lx_")
    assert set(created["scopes"]) == {"ingest", "read"}
    with lynex_server.client(created["api_key"]) as client:
        r = client.post("/v1/ingest", json={"spans": [
            {"id": "root", "trace_id": "t1", "kind": "agent", "name": "plan"},
            {"id": "child", "trace_id": "t1", "parent_id": "root", "model": "gpt-4o-mini",
             "input": [{"role": "user", "content": "hi"}], "output": "hello"}]})
        assert r.status_code == 200, r.text
        trace = wait_for(lambda: client.get("/v1/traces/t1").json() if client.get("/v1/traces/t1").status_code == 200
                         else None)
        assert trace["roots"][0]["children"][0]["output"] == "hello"

        # Keys managed from the CLI while the server runs; revocation bites on the next request.
        listed = lynex_cli(lynex_server.data_dir, "keys", "list", "--json").stdout
        assert created["key_id"] in listed and "lx_" not in listed  # secrets never listed
        lynex_cli(lynex_server.data_dir, "keys", "revoke", created["key_id"])
        assert client.post("/v1/ingest", json={"spans": [{"id": "late"}]}).status_code == 401

    projects = lynex_cli(lynex_server.data_dir, "projects", "list", "--json").stdout
    assert "my-app" in projects
    dup = lynex_cli(lynex_server.data_dir, "projects", "create", "my-app", check=False)
    assert dup.returncode == 2 and "already exists" in dup.stderr


def test_second_server_on_same_data_dir_is_refused(lynex_server):
    proc = subprocess.run([sys.executable, "-m", "lynex", "serve", "--port", "1", "--data-dir",
                           str(lynex_server.data_dir)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "another Lynex server" in proc.stderr and "Traceback" not in proc.stderr


def test_sigterm_drains_and_exits_zero(tmp_path):
    server = ServerProcess(data_dir=tmp_path / "d").start()
    key = server.create_project("p")["api_key"]
    with server.client(key) as client:
        for batch in range(5):
            spans = [{"id": f"s{batch}-{i}", "input": "x" * 500} for i in range(200)]
            assert client.post("/v1/ingest", json={"spans": spans}).status_code == 200
    assert server.stop() == 0
    assert "every accepted span is stored" in server.log()
    server.start()
    with server.client(key) as client:
        assert len(all_ids(client)) == 1000
    server.stop()


def test_kill_9_under_load_loses_no_acknowledged_span(tmp_path):
    server = ServerProcess(data_dir=tmp_path / "crash").start()
    key = server.create_project("crash")["api_key"]
    acked: list[str] = []
    unacked: list[list[dict]] = []
    stop = threading.Event()

    def load(worker: int) -> None:
        n = 0
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
            while not stop.is_set():
                spans = [{"id": f"w{worker}-{n + i}", "input": "payload " * 40} for i in range(50)]
                n += 50
                try:
                    r = client.post("/v1/ingest", json={"spans": spans})
                except httpx.HTTPError:
                    unacked.append(spans)
                    time.sleep(0.05)
                    continue
                if r.status_code == 200:
                    acked.extend(s["id"] for s in spans)
                else:
                    unacked.append(spans)

    threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    wait_for(lambda: len(acked) >= 3000, timeout=60)
    server.kill()  # SIGKILL mid-load
    stop.set()
    for t in threads:
        t.join()
    acked_before = list(acked)
    server.start()
    with server.client(key) as client:
        # The SDK way: resend everything that was not acknowledged, and some that was.
        for spans in unacked + [[{"id": i} for i in acked_before[:100]]]:
            assert client.post("/v1/ingest", json={"spans": spans}).status_code == 200
        unacked_ids = {s["id"] for spans in unacked for s in spans}
        expected = set(acked_before) | unacked_ids
        ids = wait_for(lambda: (lambda got: got if len(got) >= len(expected) else None)(all_ids(client)),
                       timeout=30)
    assert len(ids) == len(set(ids)), "a span was stored twice"
    assert set(acked_before) <= set(ids), "an acknowledged span was lost"
    assert set(ids) == expected
    server.stop()
