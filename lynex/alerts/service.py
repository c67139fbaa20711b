"""The alerting service: rules and channels (CRUD), evaluation, incident lifecycle, notifications.

Lifecycle of a rule: ok → firing (one incident opened, one "firing" notification per channel)
→ still firing (the incident's last value updated, nobody notified again) → resolved (one
"resolved" notification). A firing within the rule's cooldown of the last notified one, or while
the rule is muted, is recorded with the reason its notifications were suppressed.

Evaluations run on the scheduler thread (every rule, every ``eval_interval_s``) and on the
realtime thread (rules the ingest counters triggered); one lock serialises transitions.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlencode

from lynex.alerts.channels import SmtpSettings, parse_channel
from lynex.alerts.crypto import SecretBox, load_or_create_key
from lynex.alerts.delivery import DeliverySettings, Outbox
from lynex.alerts.detector import Detector
from lynex.alerts.evaluate import Decision, decide
from lynex.alerts.measure import timeline_params, window_stats
from lynex.alerts.rules import UNITS, Rule, definition, parse_rule
from lynex.alerts.store import AlertStore, Channel, Incident, new_id
from lynex.errors import NotFound
from lynex.metrics import Metrics
from lynex.storage.meta import MetaStore
from lynex.storage.query import SpanQueries

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertSettings:
    eval_interval_s: float = 60.0
    public_url: str = "http://127.0.0.1:8600/"
    realtime_min_interval_s: float = 1.0  # at most one triggered evaluation per rule this often
    delivery: DeliverySettings = DeliverySettings()
    smtp: SmtpSettings = SmtpSettings()


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _naive_utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(tzinfo=None)


class AlertService:
    """Owns the outbox threads and the realtime thread; a context manager entered by the lifespan."""

    def __init__(self, meta: MetaStore, queries: SpanQueries, box: SecretBox, settings: AlertSettings,
                 metrics: Metrics, pipeline=None, clock: Callable[[], float] = time.time):
        self.meta = meta
        self.queries = queries
        self.settings = settings
        self.metrics = metrics
        self.pipeline = pipeline
        self.clock = clock
        self.store = AlertStore(meta, box)
        self.outbox = Outbox(self.store, settings.delivery, settings.smtp, metrics)
        self.detector = Detector(self.trigger, settings.realtime_min_interval_s)
        self._lock = threading.RLock()
        self._triggered: set[str] = set()
        self._wake = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        metrics.describe("lynex_alert_evaluations_total", "counter", "Alert rule evaluations, by source.")
        metrics.describe("lynex_alert_incidents_total", "counter", "Alert incidents opened.")

    @classmethod
    def from_config(cls, config, meta: MetaStore, queries: SpanQueries, metrics: Metrics, pipeline=None):
        """Build the service from the installation's Config (master key created on first start)."""
        box = SecretBox(load_or_create_key(config.master_key_path))
        settings = AlertSettings(
            eval_interval_s=config.alert_eval_interval_s,
            public_url=(config.public_url or config.ui_url).rstrip("/") + "/",
            delivery=DeliverySettings(attempts=config.alert_delivery_attempts,
                                      backoff_s=config.alert_retry_backoff_s,
                                      timeout_s=config.alert_delivery_timeout_s),
            smtp=SmtpSettings(host=config.smtp_host, port=config.smtp_port, username=config.smtp_username,
                              password=config.smtp_password, starttls=config.smtp_starttls,
                              sender=config.smtp_from, ca_file=config.smtp_ca_file,
                              timeout_s=config.alert_delivery_timeout_s))
        return cls(meta, queries, box, settings, metrics, pipeline)

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> "AlertService":
        self.outbox.__enter__()
        self.reload_rules()
        for rule in self.store.rules():
            self.detector.set_firing(rule.id, self.store.open_incident(rule.id) is not None)
        for delivery_id, event_id, channel_id, attempts in self.store.pending_deliveries():
            self.outbox.submit(delivery_id, event_id, channel_id, attempts)  # accepted before the last stop
        self._thread = threading.Thread(target=self._realtime_loop, name="lynex-alert-realtime", daemon=True)
        self._thread.start()
        if self.pipeline is not None:
            self.pipeline.listeners.append(self.detector.on_table)
        return self

    def __exit__(self, *exc) -> None:
        if self.pipeline is not None and self.detector.on_table in self.pipeline.listeners:
            self.pipeline.listeners.remove(self.detector.on_table)
        with self._wake:
            self._stop = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.outbox.__exit__(None, None, None)

    def reload_rules(self) -> None:
        self.detector.set_rules(self.store.rules())

    # -- rules ------------------------------------------------------------------------------
    def _channel_ids(self, project_id: str) -> set[str]:
        return {c.id for c in self.store.channels(project_id)}

    def create_rule(self, project_id: str, data: dict) -> Rule:
        """Validate and store a new rule (AlertValidationError names the bad field)."""
        self.meta.project(project_id)
        rule = parse_rule(data, rule_id=new_id("rule"), project_id=project_id, created_at=time.time(),
                          known_channels=self._channel_ids(project_id))
        rule = self.store.save_rule(rule)
        self.reload_rules()
        return rule

    def update_rule(self, project_id: str, rule_id: str, data: dict) -> Rule:
        """Change some fields of a rule (the others are kept)."""
        current = self.store.rule(rule_id, project_id)
        merged = definition(current)
        if isinstance(data, dict) and "window" in data:
            merged.pop("window_s")
        if isinstance(data, dict) and "cooldown" in data:
            merged.pop("cooldown_s")
        merged.update(data if isinstance(data, dict) else {"rule": data})
        rule = parse_rule(merged, rule_id=current.id, project_id=project_id, created_at=current.created_at,
                          known_channels=self._channel_ids(project_id))
        rule = self.store.save_rule(rule)
        self.reload_rules()
        return rule

    def mute_rule(self, project_id: str, rule_id: str, until: float | None) -> Rule:
        """Suppress the rule's notifications until ``until`` (epoch seconds); None unmutes."""
        return self.update_rule(project_id, rule_id, {"muted_until": until})

    def delete_rule(self, project_id: str, rule_id: str) -> None:
        rule = self.store.rule(rule_id, project_id)
        with self._lock:
            incident = self.store.open_incident(rule.id)
            if incident is not None:  # history stays; a deleted rule cannot resolve it later
                self.store.resolve_incident(incident.id, self.clock(), incident.last_value)
            self.store.delete_rule(rule.id)
        self.reload_rules()

    # -- channels ---------------------------------------------------------------------------
    def create_channel(self, project_id: str, data: dict) -> tuple[Channel, str | None]:
        """Store a channel; returns it and, for a webhook, its signing secret (shown this once)."""
        self.meta.project(project_id)
        name, type_, config, secret, _ = parse_channel(data)
        channel = self.store.add_channel(project_id, name, type_, config, secret)
        return channel, secret if type_ == "webhook" else None

    def update_channel(self, project_id: str, channel_id: str, data: dict) -> Channel:
        channel = self.store.channel(channel_id, project_id)
        merged = {"name": channel.name, **({"to": channel.config["to"]} if channel.type == "email" else {}),
                  **({"url": channel.config["url"]} if channel.type == "webhook" else {})}
        merged.update(data if isinstance(data, dict) else {})
        name, _, config, secret, keep = parse_channel(merged, existing_type=channel.type)
        return self.store.update_channel(channel.id, name, config, secret, keep)

    def delete_channel(self, project_id: str, channel_id: str) -> None:
        channel = self.store.channel(channel_id, project_id)
        for rule in self.store.rules(project_id):
            if channel.id in rule.channels:
                self.store.save_rule(parse_rule({**definition(rule), "channels": [
                    c for c in rule.channels if c != channel.id]}, rule_id=rule.id, project_id=project_id,
                    created_at=rule.created_at))
        self.store.delete_channel(channel.id)
        self.reload_rules()

    def send_test(self, project_id: str, channel_id: str) -> str:
        """Queue a test notification through one channel; returns the delivery id."""
        channel = self.store.channel(channel_id, project_id)
        now = self.clock()
        project = self.meta.project(project_id)
        payload = {"type": "alert.test", "incident_id": None, "state": "test",
                   "project": {"id": project.id, "name": project.name},
                   "rule": {"id": None, "name": "Test notification", "metric": None,
                            "condition": "a test sent from Lynex", "filters": {}},
                   "value": None, "threshold": None, "unit": "",
                   "summary": f"Channel '{channel.name}' works: this is a test notification from Lynex.",
                   "details": {}, "started_at": now, "started_at_iso": _iso(now), "resolved_at": None,
                   "resolved_at_iso": None, "link": f"{self.settings.public_url}p/{project.id}/alerts",
                   "source": "test"}
        event_id = self.store.add_event(project_id, "test", payload, at=now)
        delivery_id = self.store.add_delivery(event_id, channel, "pending")
        self.outbox.submit(delivery_id, event_id, channel.id)
        return delivery_id

    # -- evaluation -------------------------------------------------------------------------
    def trigger(self, rule_id: str) -> None:
        """Ask for an immediate evaluation of a rule (from the ingest counters); never blocks."""
        with self._wake:
            self._triggered.add(rule_id)
            self._wake.notify()

    def _realtime_loop(self) -> None:
        while True:
            with self._wake:
                while not self._triggered and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                due, self._triggered = self._triggered, set()
            for rule_id in due:
                try:
                    rule = self.store.rule(rule_id)
                except NotFound:
                    continue
                try:
                    self.evaluate_rule(rule, "realtime")
                except Exception:
                    log.exception("realtime evaluation of alert rule %s failed", rule_id)

    def evaluate_all(self) -> None:
        """Evaluate every rule (the scheduled job); one failing rule is logged and skipped."""
        for rule in self.store.rules():
            try:
                if rule.enabled:
                    self.evaluate_rule(rule, "schedule")
                else:
                    self._close_if_open(rule)
            except Exception:
                log.exception("evaluation of alert rule %s (%s) failed", rule.id, rule.name)

    def evaluate_rule(self, rule: Rule, source: str = "schedule") -> Decision:
        """Measure, decide, and apply the transition (open / keep / resolve the incident)."""
        with self._lock:
            now = self.clock()
            decision = decide(rule, window_stats(self.queries, rule, _naive_utc(now)))
            self.metrics.inc("lynex_alert_evaluations_total", source=source)
            incident = self.store.open_incident(rule.id)
            if decision.firing and incident is None:
                self._open(rule, decision, now, source)
            elif decision.firing:
                self.store.touch_incident(incident.id, decision.value)
            elif incident is not None:
                self._resolve(rule, incident, decision, now)
            self.detector.set_firing(rule.id, decision.firing)
            return decision

    def _close_if_open(self, rule: Rule) -> None:
        with self._lock:
            incident = self.store.open_incident(rule.id)
            if incident is not None:
                self.store.resolve_incident(incident.id, self.clock(), incident.last_value)
                self.detector.set_firing(rule.id, False)

    def _suppression(self, rule: Rule, now: float) -> str | None:
        if rule.muted_until and rule.muted_until > now:
            return f"muted until {_iso(rule.muted_until)}"
        last = self.store.last_notified_start(rule.id)
        if last is not None and now - last < rule.cooldown_s:
            return f"cooldown: notified {int(now - last)}s ago (cooldown {int(rule.cooldown_s)}s)"
        return None

    def _open(self, rule: Rule, decision: Decision, now: float, source: str) -> None:
        incident = Incident(id=new_id("inc"), rule_id=rule.id, project_id=rule.project_id, rule_name=rule.name,
                            state="firing", started_at=now, resolved_at=None, value=decision.value,
                            threshold=decision.threshold, last_value=decision.value, summary=decision.summary,
                            details=decision.details, source=source, suppressed=self._suppression(rule, now))
        self.store.add_incident(incident)
        self.metrics.inc("lynex_alert_incidents_total")
        log.warning("alert firing: %s (%s): %s", rule.name, rule.project_id, decision.summary)
        since = _naive_utc(now - rule.window_s)
        self._notify(rule, incident, "firing", decision, self._link(rule, since, _naive_utc(now)))

    def _resolve(self, rule: Rule, incident: Incident, decision: Decision, now: float) -> None:
        self.store.resolve_incident(incident.id, now, decision.value)
        incident.state, incident.resolved_at = "resolved", now
        log.info("alert resolved: %s (%s): %s", rule.name, rule.project_id, decision.summary)
        since = _naive_utc(incident.started_at - rule.window_s)
        self._notify(rule, incident, "resolved", decision, self._link(rule, since, _naive_utc(now)))

    def _link(self, rule: Rule, since: dt.datetime, until: dt.datetime) -> str:
        query = urlencode(timeline_params(rule, since, until))
        return f"{self.settings.public_url}p/{rule.project_id}/spans?{query}"

    def _notify(self, rule: Rule, incident: Incident, kind: str, decision: Decision, link: str) -> None:
        project = self.meta.project(rule.project_id)
        payload = {
            "type": f"alert.{kind}", "incident_id": incident.id, "state": kind,
            "project": {"id": project.id, "name": project.name},
            "rule": {"id": rule.id, "name": rule.name, "metric": rule.metric, "condition": rule.describe(),
                     "window_s": rule.window_s, "filters": rule.filters},
            "value": decision.value, "threshold": decision.threshold, "unit": UNITS[rule.metric],
            "summary": decision.summary, "details": decision.details,
            "started_at": incident.started_at, "started_at_iso": _iso(incident.started_at),
            "resolved_at": incident.resolved_at, "resolved_at_iso": _iso(incident.resolved_at),
            "link": link, "source": incident.source,
        }
        event_id = self.store.add_event(rule.project_id, kind, payload, incident.id, rule.id, self.clock())
        for channel_id in rule.channels:
            try:
                channel = self.store.channel(channel_id)
            except NotFound:
                continue
            if incident.suppressed:
                self.store.add_delivery(event_id, channel, "suppressed", incident.suppressed)
                continue
            delivery_id = self.store.add_delivery(event_id, channel, "pending")
            self.outbox.submit(delivery_id, event_id, channel.id)

    # -- read side --------------------------------------------------------------------------
    def annotations(self, project_id: str, since: dt.datetime, until: dt.datetime) -> list[dict]:
        """Firing/resolved events of a project in [since, until) (naive UTC): marks for the charts."""
        epoch = dt.datetime(1970, 1, 1)
        return self.store.events(project_id, (since - epoch).total_seconds(), (until - epoch).total_seconds())
