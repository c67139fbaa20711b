"""Alert metadata in meta.sqlite: rules, channels (secrets encrypted), incidents, events, deliveries.

Tables are created by migration 3 of ``lynex/storage/meta.py``. Incidents and events keep the
rule's name and values as they were, so history survives edits and deletion of the rule.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field

from lynex.alerts.crypto import SecretBox
from lynex.alerts.rules import Rule, definition, parse_rule
from lynex.errors import NotFound
from lynex.storage.meta import MetaStore


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


@dataclass(frozen=True)
class Channel:
    """A notification target; its secret (HMAC key, Slack URL, …) is never part of this object."""

    id: str
    project_id: str
    name: str
    type: str
    config: dict
    has_secret: bool
    created_at: float

    def to_dict(self) -> dict:
        return {"id": self.id, "project_id": self.project_id, "name": self.name, "type": self.type,
                "config": self.config, "has_secret": self.has_secret, "created_at": self.created_at}


@dataclass
class Incident:
    id: str
    rule_id: str
    project_id: str
    rule_name: str
    state: str  # firing | resolved
    started_at: float
    resolved_at: float | None
    value: float | None
    threshold: float | None
    last_value: float | None
    summary: str
    details: dict
    source: str  # schedule | realtime
    suppressed: str | None  # why nobody was notified (muted, cooldown), or None
    deliveries: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


_INCIDENT_COLS = ("id, rule_id, project_id, rule_name, state, started_at, resolved_at, value, threshold, "
                  "last_value, summary, details, source, suppressed")


def _incident(row) -> Incident:
    values = list(row)
    values[11] = json.loads(values[11])
    return Incident(*values)


class AlertStore:
    """Thread-safe (MetaStore gives each thread its own SQLite connection)."""

    def __init__(self, meta: MetaStore, box: SecretBox):
        self.meta = meta
        self.box = box

    def _con(self):
        return self.meta._con()

    # -- channels ---------------------------------------------------------------------------
    def add_channel(self, project_id: str, name: str, type_: str, config: dict, secret: str | None) -> Channel:
        channel_id = new_id("ch")
        sealed = self.box.encrypt(secret, channel_id) if secret else None
        now = time.time()
        self._con().execute("INSERT INTO alert_channels VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (channel_id, project_id, name, type_, json.dumps(config), sealed, now, now))
        return self.channel(channel_id)

    def update_channel(self, channel_id: str, name: str, config: dict, secret: str | None,
                       keep_secret: bool) -> Channel:
        channel = self.channel(channel_id)
        if keep_secret:
            self._con().execute("UPDATE alert_channels SET name = ?, config = ?, updated_at = ? WHERE id = ?",
                                (name, json.dumps(config), time.time(), channel.id))
        else:
            sealed = self.box.encrypt(secret, channel.id) if secret else None
            self._con().execute(
                "UPDATE alert_channels SET name = ?, config = ?, secret = ?, updated_at = ? WHERE id = ?",
                (name, json.dumps(config), sealed, time.time(), channel.id))
        return self.channel(channel.id)

    def channels(self, project_id: str) -> list[Channel]:
        rows = self._con().execute(
            "SELECT id, project_id, name, type, config, secret IS NOT NULL, created_at FROM alert_channels"
            " WHERE project_id = ? ORDER BY created_at", (project_id,)).fetchall()
        return [Channel(r[0], r[1], r[2], r[3], json.loads(r[4]), bool(r[5]), r[6]) for r in rows]

    def channel(self, channel_id: str, project_id: str | None = None) -> Channel:
        row = self._con().execute(
            "SELECT id, project_id, name, type, config, secret IS NOT NULL, created_at FROM alert_channels"
            " WHERE id = ?", (channel_id,)).fetchone()
        if row is None or (project_id is not None and row[1] != project_id):
            raise NotFound(f"no alert channel '{channel_id}' in this project")
        return Channel(row[0], row[1], row[2], row[3], json.loads(row[4]), bool(row[5]), row[6])

    def channel_secret(self, channel_id: str) -> str | None:
        row = self._con().execute("SELECT secret FROM alert_channels WHERE id = ?", (channel_id,)).fetchone()
        if row is None or row[0] is None:
            return None
        return self.box.decrypt(row[0], channel_id)

    def delete_channel(self, channel_id: str) -> None:
        self._con().execute("DELETE FROM alert_channels WHERE id = ?", (channel_id,))

    # -- rules ------------------------------------------------------------------------------
    def save_rule(self, rule: Rule) -> Rule:
        now = time.time()
        self._con().execute(
            "INSERT INTO alert_rules VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
            " definition = excluded.definition, updated_at = excluded.updated_at",
            (rule.id, rule.project_id, json.dumps(definition(rule)), rule.created_at or now, now))
        return self.rule(rule.id)

    def _rule(self, row) -> Rule:
        return parse_rule(json.loads(row[2]), rule_id=row[0], project_id=row[1], created_at=row[3])

    def rules(self, project_id: str | None = None) -> list[Rule]:
        sql = "SELECT id, project_id, definition, created_at FROM alert_rules"
        args: tuple = ()
        if project_id is not None:
            sql, args = sql + " WHERE project_id = ?", (project_id,)
        return [self._rule(r) for r in self._con().execute(sql + " ORDER BY created_at", args).fetchall()]

    def rule(self, rule_id: str, project_id: str | None = None) -> Rule:
        row = self._con().execute("SELECT id, project_id, definition, created_at FROM alert_rules WHERE id = ?",
                                  (rule_id,)).fetchone()
        if row is None or (project_id is not None and row[1] != project_id):
            raise NotFound(f"no alert rule '{rule_id}' in this project")
        return self._rule(row)

    def delete_rule(self, rule_id: str) -> None:
        self._con().execute("DELETE FROM alert_rules WHERE id = ?", (rule_id,))

    # -- incidents --------------------------------------------------------------------------
    def open_incident(self, rule_id: str) -> Incident | None:
        row = self._con().execute(f"SELECT {_INCIDENT_COLS} FROM alert_incidents WHERE rule_id = ?"
                                  " AND state = 'firing' ORDER BY started_at DESC LIMIT 1", (rule_id,)).fetchone()
        return _incident(row) if row else None

    def last_notified_start(self, rule_id: str) -> float | None:
        """When the rule's last incident that did notify started (for the cooldown)."""
        row = self._con().execute("SELECT max(started_at) FROM alert_incidents WHERE rule_id = ?"
                                  " AND suppressed IS NULL", (rule_id,)).fetchone()
        return row[0] if row else None

    def add_incident(self, incident: Incident) -> None:
        self._con().execute(
            f"INSERT INTO alert_incidents ({_INCIDENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (incident.id, incident.rule_id, incident.project_id, incident.rule_name, incident.state,
             incident.started_at, incident.resolved_at, incident.value, incident.threshold, incident.last_value,
             incident.summary, json.dumps(incident.details), incident.source, incident.suppressed))

    def touch_incident(self, incident_id: str, last_value: float | None) -> None:
        self._con().execute("UPDATE alert_incidents SET last_value = ? WHERE id = ?", (last_value, incident_id))

    def resolve_incident(self, incident_id: str, at: float, last_value: float | None) -> None:
        self._con().execute("UPDATE alert_incidents SET state = 'resolved', resolved_at = ?, last_value = ?"
                            " WHERE id = ?", (at, last_value, incident_id))

    def incidents(self, project_id: str, limit: int = 100, rule_id: str | None = None) -> list[Incident]:
        sql = f"SELECT {_INCIDENT_COLS} FROM alert_incidents WHERE project_id = ?"
        args: list = [project_id]
        if rule_id:
            sql += " AND rule_id = ?"
            args.append(rule_id)
        rows = self._con().execute(sql + " ORDER BY started_at DESC LIMIT ?", [*args, limit]).fetchall()
        incidents = [_incident(r) for r in rows]
        by_id = {i.id: i for i in incidents}
        if by_id:
            marks = ",".join("?" * len(by_id))
            for d in self._con().execute(
                    "SELECT e.incident_id, e.kind, e.at, d.id, d.channel_id, d.channel_name, d.status, d.attempts,"
                    f" d.last_error, d.updated_at FROM alert_events e JOIN alert_deliveries d ON d.event_id = e.id"
                    f" WHERE e.incident_id IN ({marks}) ORDER BY e.at, d.channel_name", list(by_id)).fetchall():
                by_id[d[0]].deliveries.append(
                    {"event": d[1], "at": d[2], "id": d[3], "channel_id": d[4], "channel": d[5], "status": d[6],
                     "attempts": d[7], "error": d[8], "updated_at": d[9]})
        return incidents

    def incident(self, incident_id: str, project_id: str) -> Incident:
        row = self._con().execute(f"SELECT {_INCIDENT_COLS} FROM alert_incidents WHERE id = ? AND project_id = ?",
                                  (incident_id, project_id)).fetchone()
        if row is None:
            raise NotFound(f"no incident '{incident_id}' in this project")
        return next(i for i in self.incidents(project_id, 10_000) if i.id == incident_id)

    # -- events and deliveries ----------------------------------------------------------------
    def add_event(self, project_id: str, kind: str, payload: dict, incident_id: str | None = None,
                  rule_id: str | None = None, at: float | None = None) -> str:
        event_id = new_id("ev")
        self._con().execute("INSERT INTO alert_events VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (event_id, incident_id, rule_id, project_id, kind, at or time.time(),
                             json.dumps(payload)))
        return event_id

    def event_payload(self, event_id: str) -> dict:
        row = self._con().execute("SELECT payload FROM alert_events WHERE id = ?", (event_id,)).fetchone()
        if row is None:
            raise NotFound(f"no alert event '{event_id}'")
        return json.loads(row[0])

    def events(self, project_id: str, since: float, until: float) -> list[dict]:
        """Firing/resolved events of a project in [since, until) (epoch seconds): chart annotations."""
        rows = self._con().execute(
            "SELECT e.id, e.kind, e.at, e.incident_id, e.rule_id, i.rule_name, i.summary FROM alert_events e"
            " LEFT JOIN alert_incidents i ON i.id = e.incident_id WHERE e.project_id = ? AND e.at >= ?"
            " AND e.at < ? AND e.kind IN ('firing', 'resolved') ORDER BY e.at", (project_id, since, until))
        return [{"id": r[0], "kind": r[1], "at": r[2], "incident_id": r[3], "rule_id": r[4], "rule_name": r[5],
                 "summary": r[6]} for r in rows.fetchall()]

    def add_delivery(self, event_id: str, channel: Channel, status: str, error: str | None = None) -> str:
        delivery_id = new_id("dl")
        self._con().execute("INSERT INTO alert_deliveries VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                            (delivery_id, event_id, channel.id, channel.name, status, error, time.time()))
        return delivery_id

    def update_delivery(self, delivery_id: str, status: str, attempts: int, error: str | None) -> None:
        self._con().execute("UPDATE alert_deliveries SET status = ?, attempts = ?, last_error = ?, updated_at = ?"
                            " WHERE id = ?", (status, attempts, error, time.time(), delivery_id))

    def delivery(self, delivery_id: str) -> dict:
        row = self._con().execute("SELECT id, event_id, channel_id, channel_name, status, attempts, last_error"
                                  " FROM alert_deliveries WHERE id = ?", (delivery_id,)).fetchone()
        if row is None:
            raise NotFound(f"no delivery '{delivery_id}'")
        return dict(zip(("id", "event_id", "channel_id", "channel", "status", "attempts", "error"), row))

    def recent_deliveries(self, project_id: str, limit: int = 50) -> list[dict]:
        """The project's latest deliveries (tests included), newest first: per-channel status."""
        rows = self._con().execute(
            "SELECT d.id, e.kind, e.at, d.channel_id, d.channel_name, d.status, d.attempts, d.last_error, d.updated_at"
            " FROM alert_deliveries d JOIN alert_events e ON e.id = d.event_id WHERE e.project_id = ?"
            " ORDER BY e.at DESC, d.channel_name LIMIT ?", (project_id, limit)).fetchall()
        keys = ("id", "event", "at", "channel_id", "channel", "status", "attempts", "error", "updated_at")
        return [dict(zip(keys, r)) for r in rows]

    def pending_deliveries(self) -> list[tuple[str, str, str, int]]:
        """(delivery id, event id, channel id, attempts) of deliveries not finished before a restart."""
        return self._con().execute("SELECT id, event_id, channel_id, attempts FROM alert_deliveries"
                                   " WHERE status IN ('pending', 'retrying') ORDER BY updated_at").fetchall()
