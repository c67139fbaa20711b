"""Live tail over a real `lynex serve`: spans arrive as SSE events; open streams never hold a stop."""

from __future__ import annotations

import threading

import httpx

from lynex.accounts import Accounts
from lynex.storage.meta import MetaStore
from tests.helpers import wait_for
from tests.web.conftest import PASSWORD


def test_live_stream_filters_and_ends_on_sigterm(lynex_server):
    project = lynex_server.create_project("live")
    accounts = Accounts(MetaStore(lynex_server.data_dir / "meta.sqlite"))
    token, _ = accounts.create_session(accounts.create_user("a@example.com", PASSWORD, "admin"))
    lines: list[str] = []

    def listen() -> None:
        url = f"{lynex_server.url}/p/{project['id']}/live?model=wanted"
        with httpx.stream("GET", url, cookies={"lynex_session": token}, timeout=60) as response:
            lines.append(str(response.status_code))
            for line in response.iter_lines():
                lines.append(line)

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    wait_for(lambda: ": live tail connected" in lines, timeout=10)
    api = lynex_server.client(project["api_key"])
    assert api.post("/v1/ingest", json={"spans": [{"id": "skip-me", "model": "other", "name": "other-span"},
                                                   {"id": "take-me", "model": "wanted", "name": "wanted-span"}]}
                    ).status_code == 200
    wait_for(lambda: any("wanted-span" in line for line in lines), timeout=10)
    assert "event: span" in lines and not any("other-span" in line for line in lines)
    assert lynex_server.stop(timeout=30) == 0  # would hang on the open stream without end_streams()
    reader.join(timeout=10)
    assert not reader.is_alive()
