"""Storage maintenance without a running server (``lynex compact``, ``lynex gc``…).

The server runs the same jobs on its scheduler; these entry points open the data directory
themselves, so they refuse (with the data-dir lock's message) while a server owns it.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from lynex.config import Config
from lynex.datadir import DataDirLock
from lynex.errors import DataDirLocked
from lynex.storage.cold import ColdTier
from lynex.storage.compact import CompactResult, Compactor
from lynex.storage.hot import HotStore
from lynex.storage.meta import MetaStore
from lynex.storage.retention import Retention, RetentionReport, StoragePolicy


@contextlib.contextmanager
def offline_store(config: Config) -> Iterator[tuple[HotStore, Compactor]]:
    """Lock the data dir and open the hot store and compactor; the caller is the only writer."""
    with DataDirLock(config.data_dir):
        hot = HotStore(config.hot_path, config.duckdb_memory_limit)
        try:
            def direct(fn):
                with hot.writing():
                    return fn(hot.con)
            yield hot, Compactor(hot, config.parquet_dir, direct, config.compaction_grace_minutes)
        finally:
            hot.close()


def compact(config: Config) -> list[CompactResult]:
    """Compact every closed partition now."""
    with offline_store(config) as (_, compactor):
        compactor.sweep_orphans()
        return compactor.run()


def gc(config: Config) -> RetentionReport:
    """Compact, then apply every project's tiering and retention policy now."""
    with offline_store(config) as (hot, compactor):
        compactor.sweep_orphans()
        compactor.run()
        meta = MetaStore(config.meta_path)
        cold = ColdTier(config.cold_locations, config.cold_cache_dir, config.cold_cache_bytes)
        retention = Retention(hot, meta, cold, config.parquet_dir, compactor.run_on_writer,
                              StoragePolicy(config.local_days, config.keep_days, config.cold_location))
        try:
            return retention.run()
        finally:
            meta.close()


def server_running(config: Config) -> bool:
    """True when a server holds the data directory (then work goes through its control channel)."""
    try:
        DataDirLock(config.data_dir).check()
    except DataDirLocked:
        return True
    return False
