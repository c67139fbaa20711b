"""The local control channel: how `lynex` CLI commands reach a running server on the same box.

On start the server writes ``<data dir>/control.json`` (mode 0600) with its URL and a fresh
random token. Whoever can read the data directory can already read every byte in it, so the
token grants exactly that: installation-level admin operations (backup, export, compaction) on
``/v1/admin/*``. It changes on every start and is removed on a clean stop.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import httpx

from lynex.errors import LynexError

FILE = "control.json"


@dataclass(frozen=True)
class Control:
    url: str
    token: str

    def matches(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(presented, self.token)


def publish(data_dir: Path, url: str) -> Control:
    control = Control(url=url.rstrip("/"), token="lxc_" + secrets.token_urlsafe(24))
    path = data_dir / FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"url": control.url, "token": control.token}, fh)
    os.replace(tmp, path)
    return control


def withdraw(data_dir: Path) -> None:
    (data_dir / FILE).unlink(missing_ok=True)


def client(data_dir: Path, timeout: float = 600.0) -> httpx.Client:
    """An HTTP client to the running server, authenticated with its control token."""
    try:
        info = json.loads((data_dir / FILE).read_text())
    except (OSError, ValueError):
        raise LynexError(f"a server holds {data_dir} but left no readable {FILE}; run this command as the "
                         "user running the server, or stop the server first") from None
    return httpx.Client(base_url=info["url"], headers={"Authorization": f"Bearer {info['token']}"},
                        timeout=timeout)
