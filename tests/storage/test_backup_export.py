"""Backup while serving, restore, and export in open formats (offline and through a running server)."""

import json
import threading

import httpx
import pyarrow.parquet as pq

from tests.helpers import ServerProcess, lynex_cli, wait_for


def all_ids(client):
    ids, cursor = [], None
    while True:
        body = client.get("/v1/spans", params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
        ids += [s["id"] for s in body["data"]]
        cursor = body["next_cursor"]
        if not cursor:
            return ids


def test_backup_while_ingesting_then_restore(tmp_path):
    server = ServerProcess(data_dir=tmp_path / "live").start()
    key = server.create_project("p")["api_key"]
    acked: list[str] = []
    stop = threading.Event()

    def load():
        n = 0
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as client:
            while not stop.is_set():
                spans = [{"id": f"s{n + i}", "input": "hello " * 50} for i in range(50)]
                n += 50
                if client.post("/v1/ingest", json={"spans": spans}).status_code == 200:
                    acked.extend(s["id"] for s in spans)

    thread = threading.Thread(target=load)
    thread.start()
    wait_for(lambda: len(acked) > 2000, timeout=60)
    before_backup = set(acked)
    result = lynex_cli(server.data_dir, "backup", str(tmp_path / "bk"))
    assert "backup written" in result.stdout
    stop.set()
    thread.join()
    server.stop()

    # The master key (decrypts stored channel secrets) travels with the backup, owner-only.
    saved_key = tmp_path / "bk" / "secrets" / "master.key"
    assert saved_key.read_bytes() == (server.data_dir / "master.key").read_bytes()
    assert saved_key.stat().st_mode & 0o777 == 0o600
    assert json.loads((tmp_path / "bk" / "lynex-backup.json").read_text())["secrets"] == ["master.key"]

    restored = tmp_path / "restored"
    lynex_cli(restored, "restore", str(tmp_path / "bk"))
    assert (restored / "master.key").read_bytes() == saved_key.read_bytes()
    assert (restored / "master.key").stat().st_mode & 0o777 == 0o600
    second = ServerProcess(data_dir=restored).start()
    with second.client(key) as client:  # the API key came along in meta.sqlite
        ids = all_ids(client)
    second.stop()
    assert len(ids) == len(set(ids))
    assert before_backup <= set(ids)


def test_export_offline_and_through_the_running_server(tmp_path):
    server = ServerProcess(data_dir=tmp_path / "d").start()
    key = server.create_project("p")["api_key"]
    spans = [{"id": f"e{i}", "start_time": 1_735_689_600_000 + i * 3_600_000, "input": [{"role": "user", "content": f"q{i}"}],
              "metadata": {"n": i}} for i in range(30)]
    with server.client(key) as client:
        assert client.post("/v1/ingest", json={"spans": spans}).status_code == 200
        wait_for(lambda: len(all_ids(client)) == 30)
    out = tmp_path / "live.jsonl"
    lynex_cli(server.data_dir, "export", "--project", "p", "--format", "jsonl", "-o", str(out),
              "--since", "2025-01-01T05:00:00Z", "--until", "2025-01-01T10:00:00Z")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["e5", "e6", "e7", "e8", "e9"]
    assert rows[0]["input"] == [{"role": "user", "content": "q5"}] and rows[0]["metadata"] == {"n": 5}
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/v1/export", params={"project": "p"}).status_code == 401
    server.stop()

    parquet = tmp_path / "all.parquet"
    result = lynex_cli(server.data_dir, "export", "--project", "p", "--format", "parquet", "-o", str(parquet))
    assert "exported 30 span(s)" in result.stdout
    table = pq.read_table(parquet)
    assert table.num_rows == 30 and table.column("id").to_pylist()[0] == "e0"
    bad = lynex_cli(server.data_dir, "export", "--project", "p", "--format", "xml", "-o", str(parquet), check=False)
    assert bad.returncode == 2 and "format: 'xml'" in bad.stderr
