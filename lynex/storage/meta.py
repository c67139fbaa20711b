"""Metadata in SQLite (WAL mode): projects, API keys, installation settings.

SQLite rather than DuckDB so the CLI can administer a running server (DuckDB's file lock
admits one process). API key secrets are high-entropy random strings, so a SHA-256 digest
compared in constant time is the right storage (a slow KDF buys nothing for them).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from lynex.errors import LynexError, NotFound

SCOPES = ("ingest", "read", "admin")
KEY_PREFIX = "lx"
_NAME_RX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,62}$")

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE projects (
               id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at REAL NOT NULL)""",
        """CREATE TABLE api_keys (
               id TEXT PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects(id),
               name TEXT NOT NULL, secret_hash BLOB NOT NULL, scopes TEXT NOT NULL,
               created_at REAL NOT NULL, revoked_at REAL)""",
        "CREATE INDEX api_keys_project ON api_keys(project_id)",
        "CREATE TABLE settings (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
    ],
    # Dashboard accounts (lynex/accounts): local users and their browser sessions.
    2: [
        """CREATE TABLE users (
               id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
               password_hash TEXT NOT NULL, created_at REAL NOT NULL, disabled_at REAL,
               last_login_at REAL)""",
        """CREATE TABLE sessions (
               token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),
               csrf TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL)""",
        "CREATE INDEX sessions_user ON sessions(user_id)",
    ],
    # Alerts (lynex/alerts/store.py): rules, channels (secrets encrypted), incidents and their
    # notifications. Incidents keep the rule's name so history survives the rule's deletion.
    3: [
        """CREATE TABLE alert_channels (
               id TEXT PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects(id), name TEXT NOT NULL,
               type TEXT NOT NULL, config TEXT NOT NULL, secret TEXT, created_at REAL NOT NULL,
               updated_at REAL NOT NULL)""",
        "CREATE INDEX alert_channels_project ON alert_channels(project_id)",
        """CREATE TABLE alert_rules (
               id TEXT PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects(id), definition TEXT NOT NULL,
               created_at REAL NOT NULL, updated_at REAL NOT NULL)""",
        "CREATE INDEX alert_rules_project ON alert_rules(project_id)",
        """CREATE TABLE alert_incidents (
               id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, project_id TEXT NOT NULL, rule_name TEXT NOT NULL,
               state TEXT NOT NULL, started_at REAL NOT NULL, resolved_at REAL, value REAL, threshold REAL,
               last_value REAL, summary TEXT NOT NULL, details TEXT NOT NULL, source TEXT NOT NULL,
               suppressed TEXT)""",
        "CREATE INDEX alert_incidents_rule ON alert_incidents(rule_id, state)",
        "CREATE INDEX alert_incidents_project ON alert_incidents(project_id, started_at)",
        """CREATE TABLE alert_events (
               id TEXT PRIMARY KEY, incident_id TEXT, rule_id TEXT, project_id TEXT NOT NULL, kind TEXT NOT NULL,
               at REAL NOT NULL, payload TEXT NOT NULL)""",
        "CREATE INDEX alert_events_project ON alert_events(project_id, at)",
        """CREATE TABLE alert_deliveries (
               id TEXT PRIMARY KEY, event_id TEXT NOT NULL, channel_id TEXT NOT NULL, channel_name TEXT NOT NULL,
               status TEXT NOT NULL, attempts INTEGER NOT NULL, last_error TEXT, updated_at REAL NOT NULL)""",
        "CREATE INDEX alert_deliveries_event ON alert_deliveries(event_id)",
        "CREATE INDEX alert_deliveries_status ON alert_deliveries(status)",
    ],
    # Billing (lynex/billing/meter.py): what the ingest edge saw per hour, project and API key
    # (hour = epoch seconds of the hour's start by the billing clock), bytes stored per tier
    # sampled per day, and which quota warnings were already sent (one per month and level).
    4: [
        """CREATE TABLE usage_requests (
               hour INTEGER NOT NULL, project_id TEXT NOT NULL, key_id TEXT NOT NULL,
               requests INTEGER NOT NULL DEFAULT 0, spans_accepted INTEGER NOT NULL DEFAULT 0,
               spans_duplicate INTEGER NOT NULL DEFAULT 0, spans_rejected INTEGER NOT NULL DEFAULT 0,
               spans_over_quota INTEGER NOT NULL DEFAULT 0, bytes_received INTEGER NOT NULL DEFAULT 0,
               PRIMARY KEY (hour, project_id, key_id))""",
        """CREATE TABLE usage_storage (
               day TEXT NOT NULL, project_id TEXT NOT NULL, tier TEXT NOT NULL, bytes INTEGER NOT NULL,
               rows INTEGER NOT NULL, sampled_at REAL NOT NULL, PRIMARY KEY (day, project_id, tier))""",
        """CREATE TABLE billing_notices (
               period TEXT NOT NULL, quota TEXT NOT NULL, level INTEGER NOT NULL, at REAL NOT NULL,
               PRIMARY KEY (period, quota, level))""",
    ],
}


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    created_at: float


@dataclass(frozen=True)
class ApiKey:
    id: str
    project_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: float
    revoked_at: float | None

    def to_dict(self) -> dict:
        return {"id": self.id, "project_id": self.project_id, "name": self.name, "scopes": list(self.scopes),
                "created_at": self.created_at, "revoked": self.revoked_at is not None}


class MetaError(LynexError):
    """Bad metadata input (name taken, unknown scope…); the message names the field."""


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


class MetaStore:
    """Thread-safe access to meta.sqlite; each thread gets its own connection."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._keys_generation = 0  # bumped by key changes made here (authenticate's cache)
        self._migrate()

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA foreign_keys=ON")
            con.execute("PRAGMA busy_timeout=10000")
            self._local.con = con
        return con

    def _migrate(self) -> None:
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            for target in sorted(v for v in MIGRATIONS if v > version):
                for statement in MIGRATIONS[target]:
                    con.execute(statement)
                con.execute(f"PRAGMA user_version = {target}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    # -- projects -------------------------------------------------------------------------
    def create_project(self, name: str) -> Project:
        """Create a project; names are unique, 1–63 chars of letters, digits, space, _ . -"""
        name = name.strip()
        if not _NAME_RX.match(name):
            raise MetaError(f"name: '{name}' must be 1-63 letters, digits, spaces, '_', '.' or '-'")
        project = Project(id="prj_" + secrets.token_hex(6), name=name, created_at=time.time())
        try:
            self._con().execute("INSERT INTO projects VALUES (?, ?, ?)",
                                (project.id, project.name, project.created_at))
        except sqlite3.IntegrityError:
            raise MetaError(f"name: a project named '{name}' already exists") from None
        return project

    def projects(self) -> list[Project]:
        rows = self._con().execute("SELECT id, name, created_at FROM projects ORDER BY created_at").fetchall()
        return [Project(*row) for row in rows]

    def project(self, ref: str) -> Project:
        """A project by id or by name."""
        row = self._con().execute("SELECT id, name, created_at FROM projects WHERE id = ? OR name = ?",
                                  (ref, ref)).fetchone()
        if row is None:
            raise NotFound(f"no project with id or name '{ref}'")
        return Project(*row)

    def rename_project(self, project_id: str, name: str) -> Project:
        """Rename a project (same name rules as create; the id, and so every key and span, stays)."""
        name = name.strip()
        if not _NAME_RX.match(name):
            raise MetaError(f"name: '{name}' must be 1-63 letters, digits, spaces, '_', '.' or '-'")
        try:
            cur = self._con().execute("UPDATE projects SET name = ? WHERE id = ?", (name, project_id))
        except sqlite3.IntegrityError:
            raise MetaError(f"name: a project named '{name}' already exists") from None
        if cur.rowcount == 0:
            raise NotFound(f"no project with id '{project_id}'")
        return self.project(project_id)

    # -- API keys -------------------------------------------------------------------------
    def create_key(self, project_id: str, name: str = "default",
                   scopes: tuple[str, ...] = ("ingest", "read")) -> tuple[ApiKey, str]:
        """Create a key; returns it and its secret, which is never stored and shown only now."""
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown or not scopes:
            raise MetaError(f"scopes: {', '.join(unknown) or 'none given'}; choose from {', '.join(SCOPES)}")
        self.project(project_id)
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(24)
        key = ApiKey(key_id, project_id, name, tuple(dict.fromkeys(scopes)), time.time(), None)
        self._con().execute(
            "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
            (key.id, key.project_id, key.name, _digest(secret), ",".join(key.scopes), key.created_at))
        self._keys_generation += 1
        return key, f"{KEY_PREFIX}_{key_id}_{secret}"

    def keys(self, project_id: str | None = None) -> list[ApiKey]:
        sql = "SELECT id, project_id, name, scopes, created_at, revoked_at FROM api_keys"
        args: tuple = ()
        if project_id:
            sql += " WHERE project_id = ?"
            args = (project_id,)
        rows = self._con().execute(sql + " ORDER BY created_at", args).fetchall()
        return [ApiKey(r[0], r[1], r[2], tuple(r[3].split(",")), r[4], r[5]) for r in rows]

    def revoke_key(self, key_id: str) -> ApiKey:
        cur = self._con().execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                                  (time.time(), key_id))
        self._keys_generation += 1  # this thread's cached answers (other threads see data_version move)
        if cur.rowcount == 0 and not any(k.id == key_id for k in self.keys()):
            raise NotFound(f"no API key with id '{key_id}'")
        return next(k for k in self.keys() if k.id == key_id)

    def authenticate(self, token: str) -> ApiKey | None:
        """The live key a bearer token names, or None (unknown, malformed, revoked).

        Every ingest request asks, so answers are cached per thread — valid while no other
        connection has committed (SQLite's ``data_version``: the CLI or another thread revoking
        a key) and no key was created or revoked through this store (``_keys_generation``).
        Revocation still takes effect on the very next request."""
        con = self._con()
        local = self._local
        version = (con.execute("PRAGMA data_version").fetchone()[0], self._keys_generation)
        cache = getattr(local, "auth_cache", None)
        if cache is None or local.auth_version != version or len(cache) > 4096:
            cache = local.auth_cache = {}
            local.auth_version = version
        slot = _digest(token)  # keyed by digest: no string compares of secrets in the dict
        if slot in cache:
            return cache[slot]
        key = cache[slot] = self._authenticate(token)
        return key

    def _authenticate(self, token: str) -> ApiKey | None:
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            return None
        row = self._con().execute(
            "SELECT id, project_id, name, scopes, created_at, revoked_at, secret_hash FROM api_keys WHERE id = ?",
            (parts[1],)).fetchone()
        if row is None:
            _digest(parts[2])  # same work either way: no timing hint that the id exists
            return None
        if not hmac.compare_digest(row[6], _digest(parts[2])) or row[5] is not None:
            return None
        return ApiKey(row[0], row[1], row[2], tuple(row[3].split(",")), row[4], row[5])

    # -- installation settings ------------------------------------------------------------
    def get_setting(self, key: str) -> str | None:
        row = self._con().execute("SELECT v FROM settings WHERE k = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_setting(self, key: str, value: str) -> None:
        self._con().execute("INSERT INTO settings VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
                            (key, value))

    def ensure_setup_token(self) -> str | None:
        """On first start, a one-time token for creating the first admin account (shown once)."""
        if self.get_setting("setup_token_hash") or self.get_setting("setup_done"):
            return None
        token = secrets.token_urlsafe(18)
        self.set_setting("setup_token_hash", _digest(token).hex())
        return token
