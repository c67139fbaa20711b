"""Retention and tiering: per-project policy, enforced by a scheduled job and by ``lynex gc``.

Per project: ``local_days`` (parts older than this move to the project's cold location, when it
has one) and ``keep_days`` (data older than this is deleted everywhere: hot rows, local parts,
cold objects, the search index). Deletion is two-phase through the manifest — parts are first
marked ``deleting`` (no query reads them), then the files/objects are removed, then the rows —
so a store that is down only delays it; nothing is forgotten half-deleted.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from lynex.storage.cold import ColdError, ColdTier
from lynex.storage.compact import WriterRun
from lynex.storage.hot import HotStore
from lynex.storage.meta import MetaError, MetaStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoragePolicy:
    local_days: int = 30
    keep_days: int = 365
    location: str = ""  # cold storage location name ("" = keep everything local)

    def validate(self, known_locations: set[str]) -> None:
        if self.local_days < 1:
            raise MetaError(f"local_days: must be at least 1, got {self.local_days}")
        if self.keep_days < self.local_days:
            raise MetaError(f"keep_days: must be at least local_days ({self.local_days}), got {self.keep_days}")
        if self.location and self.location not in known_locations:
            raise MetaError(f"location: '{self.location}' is not configured (known: "
                            f"{', '.join(sorted(known_locations)) or 'none'})")


def get_policy(meta: MetaStore, project_id: str, default: StoragePolicy) -> StoragePolicy:
    raw = meta.get_setting(f"storage_policy:{project_id}")
    return StoragePolicy(**{**asdict(default), **json.loads(raw)}) if raw else default


def set_policy(meta: MetaStore, project_id: str, policy: StoragePolicy, known_locations: set[str]) -> None:
    policy.validate(known_locations)
    meta.project(project_id)
    meta.set_setting(f"storage_policy:{project_id}", json.dumps(asdict(policy)))


@dataclass
class RetentionReport:
    uploaded: int = 0
    deleted_parts: int = 0
    deleted_hot_rows: int = 0
    errors: list[str] | None = None


class Retention:
    """Applies every project's policy: tier to cold, then delete what is past keep_days."""

    def __init__(self, hot: HotStore, meta: MetaStore, cold: ColdTier, parquet_root: Path,
                 run_on_writer: WriterRun, default: StoragePolicy,
                 on_delete_before: Callable[[str, dt.datetime], None] | None = None):
        self.hot = hot
        self.meta = meta
        self.cold = cold
        self.parquet_root = parquet_root
        self.run_on_writer = run_on_writer
        self.default = default
        self.on_delete_before = on_delete_before  # e.g. the search index

    def run(self, now: dt.datetime | None = None) -> RetentionReport:
        now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        report = RetentionReport(errors=[])
        for project in self.meta.projects():
            policy = get_policy(self.meta, project.id, self.default)
            try:
                self._delete_expired(project.id, now - dt.timedelta(days=policy.keep_days), report)
                if policy.location:
                    self._tier(project.id, policy, now.date() - dt.timedelta(days=policy.local_days), report)
            except ColdError as exc:
                log.error("retention for project %s: %s (data kept locally; retried next run)", project.id, exc)
                report.errors.append(str(exc))
        self._finish_deletions(report)
        return report

    def _rows(self, sql: str, args: list) -> list[tuple]:
        cur = self.hot.cursor()
        try:
            return cur.execute(sql, args).fetchall()
        finally:
            cur.close()

    def _tier(self, project_id: str, policy: StoragePolicy, before: dt.date, report: RetentionReport) -> None:
        parts = self._rows("SELECT path, rows FROM parquet_files WHERE project_id = ? AND tier = 'local'"
                           " AND day < ? ORDER BY day", [project_id, before])
        for path, rows in parts:
            local = Path(path)
            relative = local.relative_to(self.parquet_root).as_posix()
            key = self.cold.upload(policy.location, local, relative, rows)

            def switch(con, path=path, key=key):
                con.execute("UPDATE parquet_files SET tier = 'cold', location = ?, path = ? WHERE path = ?",
                            [policy.location, key, path])
            self.run_on_writer(switch)
            local.unlink(missing_ok=True)  # only after the verified upload is what queries read
            report.uploaded += 1

    def _delete_expired(self, project_id: str, cutoff: dt.datetime, report: RetentionReport) -> None:
        def mark(con):
            con.execute("BEGIN")
            deleted = con.execute("DELETE FROM spans WHERE project_id = ? AND start_time < ?",
                                  [project_id, cutoff]).fetchone()[0]
            con.execute("UPDATE parquet_files SET tier = 'deleting:' || tier WHERE project_id = ? AND day < ?"
                        " AND tier IN ('local', 'cold')", [project_id, cutoff.date()])
            con.execute("COMMIT")
            return deleted
        report.deleted_hot_rows += self.run_on_writer(mark)
        if self.on_delete_before is not None:
            self.on_delete_before(project_id, cutoff)

    def _finish_deletions(self, report: RetentionReport) -> None:
        for path, tier, location in self._rows(
                "SELECT path, tier, location FROM parquet_files WHERE tier LIKE 'deleting:%'", []):
            try:
                if tier == "deleting:cold":
                    self.cold.delete(location, path)
                else:
                    Path(path).unlink(missing_ok=True)
            except ColdError as exc:
                report.errors.append(str(exc))
                continue
            self.run_on_writer(lambda con, path=path: con.execute("DELETE FROM parquet_files WHERE path = ?", [path]))
            report.deleted_parts += 1
