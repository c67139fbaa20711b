"""In-process scheduler (APScheduler 3.x): periodic jobs of the appliance.

Jobs are small functions of the services registered here; later capabilities (compaction,
retention, alert rules, rollups) add theirs with ``add_interval``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Callable

from apscheduler.schedulers.background import BackgroundScheduler

from lynex.storage import aggregates

if TYPE_CHECKING:
    from lynex.app import Services

log = logging.getLogger(__name__)


def _guarded(func: Callable[[], None], job_id: str) -> Callable[[], None]:
    def guarded() -> None:
        try:
            func()
        except Exception:
            log.exception("scheduled job %s failed", job_id)
    return guarded


class Scheduler:
    """A BackgroundScheduler started and stopped by the app lifespan."""

    def __init__(self, services: "Services"):
        self.services = services
        self._scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})

    def add_interval(self, func: Callable[[], None], seconds: float, job_id: str) -> None:
        """Run ``func`` every ``seconds``; failures are logged with their traceback, never fatal."""
        self._scheduler.add_job(_guarded(func, job_id), "interval", seconds=seconds, id=job_id,
                                replace_existing=True)

    def add_once(self, func: Callable[[], None], delay_s: float, job_id: str) -> None:
        """Run ``func`` once, ``delay_s`` from now (same failure handling as add_interval)."""
        when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=delay_s)
        self._scheduler.add_job(_guarded(func, job_id), "date", run_date=when, id=job_id, replace_existing=True)

    def job_ids(self) -> list[str]:
        return [job.id for job in self._scheduler.get_jobs()]

    def __enter__(self) -> "Scheduler":
        pipeline = self.services.pipeline
        # The ingest log is trimmed after each flush too; this catches idle periods.
        self.add_interval(lambda: pipeline.wal.checkpoint(pipeline.applied_seq), 30, "wal-checkpoint")
        minutes = self.services.config.compaction_interval_minutes
        if minutes > 0:
            self.add_interval(self.services.compactor.run, minutes * 60, "compaction")
        minutes = self.services.config.retention_interval_minutes
        if minutes > 0:
            self.add_interval(self.services.retention.run, minutes * 60, "retention")
        # Fill the overview's bucket cache in the background, shortly after start (see rollups.py).
        services = self.services
        self.add_once(lambda: aggregates.warm_overviews(services.queries, [p.id for p in services.meta.projects()]),
                      5, "overview-warmup")
        if self.services.alerts is not None:
            self.add_interval(self.services.alerts.evaluate_all, self.services.config.alert_eval_interval_s, "alerts")
        self._scheduler.start()
        return self

    def __exit__(self, *exc) -> None:
        self._scheduler.shutdown(wait=True)
