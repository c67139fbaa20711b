"""The outbox: deliveries sent by worker threads, retried with exponential backoff, never blocking.

A delivery is a row (pending → sent | retrying → failed) written before the first attempt, so
history shows it and a restart resumes it. Waiting retries sit in a heap ordered by due time,
not in a sleeping thread: a dead receiver never holds up the other channels.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from dataclasses import dataclass

from lynex.alerts.channels import DeliveryError, SmtpSettings, send
from lynex.errors import NotFound
from lynex.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliverySettings:
    attempts: int = 5          # total tries before a delivery is recorded as failed
    backoff_s: float = 2.0     # wait before try n+1: backoff_s × 2^(n-1), ±10% jitter
    timeout_s: float = 10.0    # per HTTP request
    workers: int = 2
    max_pending: int = 10_000  # queue bound: beyond it deliveries fail at once ("outbox full")


class Outbox:
    """Worker threads draining a bounded, time-ordered queue of deliveries; a context manager."""

    def __init__(self, store, settings: DeliverySettings, smtp: SmtpSettings, metrics: Metrics):
        self.store = store
        self.settings = settings
        self.smtp = smtp
        self.metrics = metrics
        self._heap: list[tuple[float, int, str, str, str, int]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._busy = 0
        self._stop = False
        self._threads: list[threading.Thread] = []
        metrics.describe("lynex_alert_deliveries_total", "counter", "Alert notifications by channel type and outcome.")
        metrics.gauge("lynex_alert_outbox_pending", lambda: len(self._heap) + self._busy,
                      "Alert deliveries waiting for a (re)try or being sent.")

    def __enter__(self) -> "Outbox":
        for n in range(self.settings.workers):
            thread = threading.Thread(target=self._loop, name=f"lynex-alert-delivery-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc) -> None:
        """Stop: unsent deliveries stay 'pending'/'retrying' in the store and resume on next start."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=self.settings.timeout_s + 5)

    def submit(self, delivery_id: str, event_id: str, channel_id: str, attempts_done: int = 0,
               delay_s: float = 0.0) -> bool:
        """Queue a delivery; False (and recorded as failed) when the outbox is full."""
        with self._cond:
            if len(self._heap) >= self.settings.max_pending:
                full = True
            else:
                full = False
                heapq.heappush(self._heap, (time.monotonic() + delay_s, next(self._order), delivery_id,
                                            event_id, channel_id, attempts_done))
                self._cond.notify()
        if full:
            self.store.update_delivery(delivery_id, "failed", attempts_done, "outbox full: too many pending deliveries")
            self.metrics.inc("lynex_alert_deliveries_total", type="unknown", status="dropped")
        return not full

    def idle(self) -> bool:
        """Nothing queued or in flight (tests wait on this)."""
        with self._cond:
            return not self._heap and self._busy == 0

    def _next(self):
        with self._cond:
            while not self._stop:
                if self._heap:
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        self._busy += 1
                        return heapq.heappop(self._heap)
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _loop(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            try:
                self._attempt(*item[2:])
            except Exception:
                log.exception("alert delivery %s crashed; recorded as failed", item[2])
                try:
                    self.store.update_delivery(item[2], "failed", item[5] + 1, "internal error (see server log)")
                except Exception:
                    log.exception("could not record the failed delivery %s", item[2])
            finally:
                with self._cond:
                    self._busy -= 1

    def _attempt(self, delivery_id: str, event_id: str, channel_id: str, attempts_done: int) -> None:
        attempt = attempts_done + 1
        try:
            channel = self.store.channel(channel_id)
        except NotFound:
            self.store.update_delivery(delivery_id, "failed", attempts_done, "the channel was deleted")
            return
        try:
            secret = self.store.channel_secret(channel_id)
            send(channel, secret, self.store.event_payload(event_id), delivery_id, self.smtp, self.settings.timeout_s)
        except DeliveryError as exc:
            last = attempt >= self.settings.attempts or not exc.retryable
            if last:
                log.warning("alert delivery %s to channel %s failed after %d attempt(s): %s",
                            delivery_id, channel.name, attempt, exc)
                self.store.update_delivery(delivery_id, "failed", attempt, str(exc))
                self.metrics.inc("lynex_alert_deliveries_total", type=channel.type, status="failed")
                return
            delay = self.settings.backoff_s * 2 ** (attempt - 1) * random.uniform(0.9, 1.1)
            self.store.update_delivery(delivery_id, "retrying", attempt, str(exc))
            self.metrics.inc("lynex_alert_deliveries_total", type=channel.type, status="retry")
            self.submit(delivery_id, event_id, channel_id, attempt, delay)
            return
        except Exception as exc:  # a secret that cannot be decrypted, a bad stored payload…
            log.exception("alert delivery %s to channel %s cannot be sent", delivery_id, channel.name)
            self.store.update_delivery(delivery_id, "failed", attempt, f"cannot send: {exc}")
            self.metrics.inc("lynex_alert_deliveries_total", type=channel.type, status="failed")
            return
        self.store.update_delivery(delivery_id, "sent", attempt, None)
        self.metrics.inc("lynex_alert_deliveries_total", type=channel.type, status="sent")
