"""Composition root: ``create_app(config)`` builds the Litestar app; one lifespan starts and stops
every long-lived part, in order. Nothing else constructs collaborators.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import AsyncIterator

import pyarrow as pa
from litestar import Litestar
from litestar.datastructures import State

from lynex import control
from lynex.alerts import AlertService
from lynex.billing import Billing
from lynex.config import Config
from lynex.control import Control
from lynex.datadir import DataDirLock
from lynex.ingest.enrich.cost import load_price_table
from lynex.ingest.pipeline import Pipeline, PipelineSettings
from lynex.ingest.processor import Enricher
from lynex.metrics import Metrics
from lynex.scheduler import Scheduler
from lynex.search import SearchIndex, SearchSettings
from lynex.storage.cold import ColdTier
from lynex.storage.compact import Compactor
from lynex.storage.hot import HotStore
from lynex.storage.meta import MetaStore
from lynex.storage.query import SpanQueries
from lynex.storage.retention import Retention, StoragePolicy
from lynex.web.errors import EXCEPTION_HANDLERS
from lynex.web.routes import admin, alerts_api, ingest, langfuse, ops, otlp, read, ui, usage_api

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The running parts, as handlers see them through ``request.app.state.services``."""

    config: Config
    metrics: Metrics
    meta: MetaStore | None = None
    hot: HotStore | None = None
    pipeline: Pipeline | None = None
    queries: SpanQueries | None = None
    compactor: Compactor | None = None
    cold: ColdTier | None = None
    retention: Retention | None = None
    control: Control | None = None
    search: SearchIndex | None = None
    scheduler: Scheduler | None = None
    alerts: AlertService | None = None
    billing: Billing | None = None
    ready: bool = False
    notices: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    services: Services = app.state.services
    config = services.config
    with contextlib.ExitStack() as stack:
        # Order matters: the lock first (one server per data dir), the store before the
        # pipeline that replays into it, the scheduler last (its jobs use everything else).
        # Exit runs in reverse: the scheduler stops, then the pipeline drains into DuckDB.
        stack.enter_context(DataDirLock(config.data_dir))
        services.meta = MetaStore(config.meta_path)
        stack.callback(services.meta.close)
        services.hot = HotStore(config.hot_path, config.duckdb_memory_limit)
        stack.callback(services.hot.close)
        services.hot.describe_metrics(services.metrics)
        services.metrics.gauge("lynex_arrow_allocated_bytes", pa.total_allocated_bytes,
                               "Bytes allocated by Arrow's memory pool (memtable, tables in flight).")
        enricher = Enricher(load_price_table(config.prices_file), config.max_text_bytes)
        # The search index before the pipeline: on exit the pipeline drains first, then the index
        # commits what it was handed. It catches up from the store above its own watermark.
        def every_tier_after(after_seq: int, max_rows: int):
            # Catch-up reads hot rows and Parquet parts alike (an index rebuilt after compaction
            # needs both); the query layer exists once the pipeline is up, a moment from now.
            while services.queries is None and not ready_failed.is_set():
                time.sleep(0.05)
            return services.queries.rows_after(after_seq, max_rows) if services.queries else None

        ready_failed = threading.Event()
        services.search = stack.enter_context(SearchIndex(config.data_dir / "search", SearchSettings(),
                                                          source=every_tier_after))
        stack.callback(ready_failed.set)  # unwound before the index stops: a waiting catch-up gives up
        services.search.describe_metrics(services.metrics)
        services.pipeline = stack.enter_context(Pipeline(
            services.hot, config.wal_dir, enricher,
            PipelineSettings(
                buffer_max_spans=config.buffer_max_spans,
                buffer_max_bytes=config.buffer_max_bytes,
                flush_interval_s=config.flush_interval_ms / 1000.0,
                flush_max_rows=config.flush_max_rows,
                dedup_window=config.dedup_window,
                wal_fsync=config.wal_fsync,
                processor_process=config.processor_process,
                enrichment_workers=config.enrichment_workers,
                prices_file=config.prices_file,
                max_text_bytes=config.max_text_bytes,
            ),
            services.metrics,
        ))
        services.cold = ColdTier(config.cold_locations, config.cold_cache_dir, config.cold_cache_bytes)
        while not services.pipeline.caught_up():  # spans replayed from the log are readable when ready
            await asyncio.sleep(0.02)
        services.pipeline.listeners.append(services.search.add)
        services.queries = SpanQueries(services.hot, services.pipeline.memtable, services.cold, services.search,
                                       locate=services.pipeline.locate)
        services.compactor = Compactor(services.hot, config.parquet_dir, services.pipeline.run_on_writer,
                                       config.compaction_grace_minutes)
        services.compactor.sweep_orphans()
        services.retention = Retention(
            services.hot, services.meta, services.cold, config.parquet_dir, services.pipeline.run_on_writer,
            StoragePolicy(config.local_days, config.keep_days, config.cold_location),
            on_delete_before=services.search.delete_before)
        # Alerts read through the query layer and listen to the pipeline; entered after it, so on
        # exit they detach before the pipeline drains (and after the scheduler's last evaluation).
        services.alerts = stack.enter_context(AlertService.from_config(
            config, services.meta, services.queries, services.metrics, services.pipeline))
        # Billing reads the store's usage rollup and warns through the alert channels.
        services.billing = stack.enter_context(Billing.from_config(
            config, services.meta, services.hot, services.alerts))
        services.scheduler = stack.enter_context(Scheduler(services))
        services.scheduler.add_interval(services.billing.run, 300, "billing")  # storage samples, warnings
        token = services.meta.ensure_setup_token()
        if token:
            services.notices.append(f"First start: create the admin account at {config.ui_url}setup "
                                    f"with the one-time setup token {token}")
        if config.demo:
            from lynex.demo import seed_demo  # only the demo needs the generator
            notice = await seed_demo(services)
            if notice:
                services.notices.append(notice)
        services.control = control.publish(config.data_dir, config.ui_url)
        stack.callback(control.withdraw, config.data_dir)
        services.ready = True
        for notice in services.notices:
            log.warning(notice)
        try:
            yield
        finally:
            services.ready = False
            log.info("stopping: draining accepted spans into the store")


def create_app(config: Config) -> Litestar:
    """Build the whole application for ``config``; parts start in the lifespan."""
    services = Services(config=config, metrics=Metrics())
    return Litestar(
        route_handlers=[*ingest.ROUTES, *otlp.ROUTES, *langfuse.ROUTES, *read.ROUTES, *admin.ROUTES, *ops.ROUTES, *usage_api.ROUTES, alerts_api.router(), *ui.router()],
        lifespan=[_lifespan, ui.lifespan],  # the dashboard's live tail attaches to the running pipeline
        state=State({"services": services, "ui": ui.UiState.build()}),
        openapi_config=None,
        request_max_body_size=config.max_body_bytes,
        exception_handlers=EXCEPTION_HANDLERS,
        logging_config=None,
    )
