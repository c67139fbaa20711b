"""Shared fixtures: the real app in-process (TestClient) and `lynex serve` as a process."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar.testing import TestClient

from lynex.app import create_app
from lynex.config import load_config
from lynex.storage.meta import MetaStore
from tests.helpers import ServerProcess


@pytest.fixture
def make_config(tmp_path):
    """Config on a temp data dir; fsync off by default in-process (the process tests keep it on)."""
    def make(**overrides):
        # In-process tests enrich in-thread (no worker spawn per app); the process tests use the default.
        flags = {"data_dir": str(tmp_path / "data"), "wal_fsync": False, "flush_interval_ms": 200.0,
                 "processor_process": False}
        flags.update(overrides)
        return load_config(flags, environ={})
    return make


@pytest.fixture
def app_client(make_config):
    """The real app (real DuckDB + SQLite in tmp) behind Litestar's TestClient, lifespan run."""
    config = make_config()
    with TestClient(app=create_app(config)) as client:
        client.config = config
        yield client


@pytest.fixture
def project(app_client):
    """A project and an ingest+read key in the in-process app: (project_id, api_key)."""
    meta = MetaStore(app_client.config.meta_path)
    proj = meta.create_project("test-project")
    _, secret = meta.create_key(proj.id, "test", ("ingest", "read"))
    return proj.id, secret


@pytest.fixture
def auth(project):
    return {"Authorization": f"Bearer {project[1]}"}


@pytest.fixture
def lynex_server(tmp_path):
    """`lynex serve` started as a real process on a free port; stopped (or killed) afterwards."""
    server = ServerProcess(data_dir=Path(tmp_path) / "server-data").start()
    yield server
    server.kill()
