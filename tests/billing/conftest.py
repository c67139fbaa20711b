"""Billing fixtures: a vendor key pair made per test session, license files, a movable clock."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar.testing import TestClient

from lynex.app import create_app
from lynex.billing.license import sign
from lynex.storage.meta import MetaStore


def public_b64(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                          serialization.PublicFormat.Raw)).decode()


@pytest.fixture(scope="session")
def vendor_key() -> Ed25519PrivateKey:
    """The tests' own 'vendor' key: the real vendor's private key is not in the repository."""
    return Ed25519PrivateKey.generate()


@pytest.fixture
def issue(vendor_key):
    """issue(**fields) → license file bytes signed by the test vendor key."""
    def make(key: Ed25519PrivateKey | None = None, **fields) -> bytes:
        payload = {"license_id": "lic_test", "customer": "Acme Corp", "plan": "team",
                   "issued_at": "2030-01-01T00:00:00Z", "expires_at": "2031-01-01T00:00:00Z", **fields}
        return sign(payload, key or vendor_key)
    return make


class Clock:
    """The billing clock of a test: starts at ``at`` and moves only when told."""

    def __init__(self, at: dt.datetime):
        self.now = at.replace(tzinfo=dt.timezone.utc).timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, at: dt.datetime) -> None:
        self.now = at.replace(tzinfo=dt.timezone.utc).timestamp()


@pytest.fixture
def licensed_client(make_config, vendor_key, issue, tmp_path):
    """licensed_client(license_bytes, clock) → (TestClient, project_id, headers) with that license."""
    clients = []

    def make(license_bytes: bytes | None, clock: Clock | None = None, **overrides):
        config = make_config(license_public_key=public_b64(vendor_key), **overrides)
        config.data_dir.mkdir(parents=True, exist_ok=True)
        if license_bytes is not None:
            config.license_path.write_bytes(license_bytes)
        client = TestClient(app=create_app(config)).__enter__()
        clients.append(client)
        client.config = config
        client.services = client.app.state.services
        if clock is not None:
            client.services.billing.clock = clock
        meta = MetaStore(config.meta_path)
        project = meta.create_project(f"billing-{len(clients)}")
        _, secret = meta.create_key(project.id, "test", ("ingest", "read"))
        return client, project.id, {"Authorization": f"Bearer {secret}"}

    yield make
    for client in clients:
        client.__exit__(None, None, None)
