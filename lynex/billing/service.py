"""The billing service: the license in force, the monthly span quota at ingest, usage warnings.

Ingest asks :meth:`Billing.admit` before the spans are admitted and reports the outcome with
:meth:`Billing.settle`; reservations make concurrent requests unable to overshoot the quota
together. The month's count lives in memory, seeded from the edge meter on start and at each
month change of the (injectable) clock. Reads never pass through here.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lynex.billing import quota, report
from lynex.billing.license import Entitlement, License, LicenseError, entitlement, load_public_key, verify
from lynex.billing.meter import EdgeCounts, Meter
from lynex.billing.quota import Refusal
from lynex.ingest.dedup import RecentIds

log = logging.getLogger(__name__)


def read_license(path: Path, public_key) -> tuple[License | None, str]:
    """(license, "") / (None, "") when there is no file / (None, reason) when it is unusable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror}"
    try:
        return verify(data, public_key), ""
    except LicenseError as exc:
        return None, str(exc)


@dataclass
class Ticket:
    """One ingest request's admission: the spans it reserved, or why it was refused."""

    project_id: str
    key_id: str
    reserved: int
    bytes_received: int
    refusal: Refusal | None = None
    counts: EdgeCounts = field(default_factory=EdgeCounts)


class Billing:
    """Entered by the app lifespan; ``clock`` returns epoch seconds (tests move it across months)."""

    def __init__(self, meter: Meter, license_path: Path, public_key_text: str = "", alerts=None,
                 clock: Callable[[], float] = time.time, public_url: str = ""):
        self.meter = meter
        self.license_path = license_path
        self.public_key = load_public_key(public_key_text)
        self.alerts = alerts
        self.clock = clock
        self.public_url = public_url
        self._lock = threading.Lock()
        self._month = ""
        self._used = 0
        self._reserved = 0
        self._month_since = self._month_until = 0.0  # bounds of self._month (epoch seconds)
        self._entitled: tuple[float, Entitlement] | None = None  # (clock, answer) of entitlement()
        self._license_stamp: tuple | None = None
        self._license: tuple[License | None, str] = (None, "")

    @classmethod
    def from_config(cls, config, meta, hot, alerts=None) -> "Billing":
        return cls(Meter(meta, hot), config.license_path, config.license_public_key, alerts,
                   public_url=config.public_url or config.ui_url)

    def __enter__(self) -> "Billing":
        entitled = self.entitlement()
        if entitled.message:
            log.warning("%s", entitled.message)
        return self

    def __exit__(self, *exc) -> None:
        self.meter.flush()  # the last second's edge counts

    # -- the license ------------------------------------------------------------------------
    def entitlement(self) -> Entitlement:
        """The plan in force now; the license file is re-read when it changes (``license install``).

        Every ingest request asks: the answer is reused for up to a second of the billing clock
        (a stat and a datetime per request were ~5% of the event loop at full ingest rate)."""
        now = self.clock()
        cached = self._entitled
        if cached is not None and 0 <= now - cached[0] < 1.0:
            return cached[1]
        entitled = self._entitlement_now(now)
        self._entitled = (now, entitled)
        return entitled

    def _entitlement_now(self, now: float) -> Entitlement:
        try:
            st = self.license_path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None
        if stamp != self._license_stamp:
            self._license = read_license(self.license_path, self.public_key)
            self._license_stamp = stamp
        lic, error = self._license
        return entitlement(lic, dt.datetime.fromtimestamp(now, dt.timezone.utc), error)

    # -- the monthly span quota -------------------------------------------------------------
    def _roll(self, now: float) -> None:
        if self._month_since <= now < self._month_until:  # the common case: still the same month
            return
        month = quota.month_key(now)
        start = quota.month_start(now)
        since = start.replace(tzinfo=dt.timezone.utc).timestamp()
        until = quota.next_month(start).replace(tzinfo=dt.timezone.utc).timestamp()
        if month != self._month:
            self._month, self._used = month, self.meter.accepted_between(since, until)
        self._month_since, self._month_until = since, until

    def month_usage(self) -> tuple[str, int, int]:
        """(month, spans accepted so far, limit) by the billing clock."""
        with self._lock:
            self._roll(self.clock())
            return self._month, self._used, self.entitlement().limits.spans_per_month

    def admit(self, project_id: str, key_id: str, batch, recent: RecentIds | None, body_bytes: int) -> Ticket:
        """Reserve room for the batch's new spans this month, or say which quota refuses it."""
        now = self.clock()
        limit = self.entitlement().limits.spans_per_month
        incoming = len(batch.accepted)
        with self._lock:
            self._roll(now)
            if quota.check_spans(self._used + self._reserved, incoming, limit, now) is not None and recent:
                # Close to the limit: SDK retries of stored spans are free, count only new ids.
                keys = {RecentIds.key(project_id, s.id) for _, s, _ in batch.accepted}
                incoming = sum(1 for k in keys if k not in recent)
            refusal = quota.check_spans(self._used + self._reserved, incoming, limit, now)
            ticket = Ticket(project_id, key_id, 0 if refusal else incoming, body_bytes, refusal)
            self._reserved += ticket.reserved
        ticket.counts.bytes_received = body_bytes
        if refusal:
            ticket.counts.spans_over_quota = len(batch.accepted)
            ticket.counts.spans_rejected = len(batch.rejected)
        return ticket

    def settle(self, ticket: Ticket, result) -> None:
        """Record the request's outcome (``result`` None: nothing accepted) and free its reservation."""
        counts = ticket.counts
        if result is not None:
            counts.spans_accepted = result.accepted - result.duplicates
            counts.spans_duplicate = result.duplicates
            counts.spans_rejected = len(result.rejected)
        now = self.clock()
        with self._lock:
            self._reserved -= ticket.reserved
            self._roll(now)
            before = self._used
            self._used += counts.spans_accepted
            after, month = self._used, self._month
        try:
            self.meter.record(now, ticket.project_id, ticket.key_id, counts)
        except Exception:
            log.exception("could not record usage of one ingest request")
        if counts.spans_accepted or counts.spans_over_quota:
            limit = self.entitlement().limits.spans_per_month
            level = 100 if counts.spans_over_quota else quota.warning_level(after, limit)
            if level and quota.warning_level(before, limit) < level or counts.spans_over_quota:
                self.warn(month, "spans_per_month", level, after, limit)

    # -- warnings ---------------------------------------------------------------------------
    def warn(self, month: str, name: str, level: int, used: int, limit: int) -> bool:
        """Send the ``level``% warning of ``name`` once per month: a log line and every alert channel."""
        if not self.meter.claim_notice(month, name, level, time.time()):
            return False
        summary = (f"This Lynex installation has used {used:,} of its {limit:,} {name.replace('_', ' ')} "
                   f"in {month} ({level}%)." + (" New spans are refused with 429 until the month ends."
                                                if level >= 100 else ""))
        log.warning("usage warning: %s", summary)
        if self.alerts is not None:
            try:
                self._notify_channels(name, level, used, limit, summary)
            except Exception:
                log.exception("could not send the usage warning through alert channels")
        return True

    def _notify_channels(self, name: str, level: int, used: int, limit: int, summary: str) -> None:
        store, outbox = self.alerts.store, self.alerts.outbox
        for project in self.meter.meta.projects():
            channels = store.channels(project.id)
            if not channels:
                continue
            payload = {
                "type": "alert.firing", "incident_id": None, "state": "firing",
                "project": {"id": project.id, "name": project.name},
                "rule": {"id": f"quota:{name}", "name": f"Usage {level}% of {name.replace('_', ' ')}",
                         "metric": name, "condition": f"{name} ≥ {level}% of {limit:,}", "window_s": 0,
                         "filters": {}},
                "value": used, "threshold": limit * level // 100, "unit": "spans", "summary": summary,
                "details": {}, "started_at": time.time(), "link": f"{self.public_url}usage", "source": "billing",
            }
            event_id = store.add_event(project.id, "quota", payload)
            for channel in channels:
                outbox.submit(store.add_delivery(event_id, channel, "pending"), event_id, channel.id)

    def banners(self) -> list[str]:
        """Messages every dashboard page shows: license state and this month's quota warnings."""
        out = []
        entitled = self.entitlement()
        if entitled.message:
            out.append(entitled.message)
        month, used, limit = self.month_usage()
        level = quota.warning_level(used, limit)
        if level:
            out.append(f"{used:,} of {limit:,} spans used this month ({used * 100 // limit}%)"
                       + (": new spans are refused until the month ends." if level >= 100 else "."))
        return out

    # -- the scheduler's job ----------------------------------------------------------------
    def run(self) -> None:
        """Periodic: sample bytes stored per tier; re-check the warnings (a license may have changed)."""
        self.meter.sample_storage(self.clock())
        month, used, limit = self.month_usage()
        level = quota.warning_level(used, limit)
        if level:
            self.warn(month, "spans_per_month", level, used, limit)

    # -- reports ----------------------------------------------------------------------------
    def month_range(self, ts: float | None = None) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) of the billing month holding ``ts`` (default: now by the billing clock)."""
        start = quota.month_start(self.clock() if ts is None else ts)
        return start, quota.next_month(start)

    def report(self, since: dt.datetime, until: dt.datetime, group_by: str, projects: list[str] | None):
        """(rows, totals) of usage in [since, until) (naive UTC), grouped; ``projects`` None = all."""
        return report.group(group_by, self.meter.edge_rows(since, until, projects),
                            self.meter.stored_rows(since, until, projects),
                            self.meter.storage_rows(since, until, projects))
