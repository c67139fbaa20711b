"""A real S3-compatible server (moto's, as a process on 127.0.0.1) for the cold-storage tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

import boto3
import httpx
import pytest

from tests.helpers import free_port


@dataclass
class S3Server:
    port: int
    env: dict
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "S3Server":
        exe = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or "moto_server"
        self.proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env={**os.environ, **self.env})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.endpoint + "/", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("moto_server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")

    def make_buckets(self, *names: str) -> None:
        for name in names:
            self.client().create_bucket(Bucket=name)

    def keys(self, bucket: str) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=bucket)
        # Zero-byte "dir/" markers (pyarrow's directory emulation) hold no data.
        return sorted(obj["Key"] for obj in listing.get("Contents", []) if not obj["Key"].endswith("/"))


@pytest.fixture
def s3_server():
    server = S3Server(free_port(), {}).start()
    yield server
    server.stop()


@pytest.fixture
def s3_server_with_auth():
    """Enforces credentials: every request with unknown keys is refused (InvalidAccessKeyId)."""
    server = S3Server(free_port(), {"INITIAL_NO_AUTH_ACTION_COUNT": "0"}).start()
    yield server
    server.stop()
