"""Live tail: newly processed spans fanned out from the ingest processor to SSE subscribers.

The processor thread calls ``on_table`` for each Arrow table it publishes; the hub hands the
table to the event loop (``call_soon_threadsafe``) and each subscriber's bounded queue. A slow
browser loses tables (counted), never slows ingest.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import pyarrow as pa

log = logging.getLogger(__name__)
QUEUE_TABLES = 64


@dataclass(eq=False)
class Subscriber:
    project_id: str
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_TABLES))
    dropped: int = 0


class LiveHub:
    """Fan-out of new span tables to live-tail subscribers; attach in the lifespan."""

    def __init__(self):
        self._subscribers: set[Subscriber] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pipeline = None
        self._closed = False

    def attach(self, pipeline, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pipeline = pipeline
        pipeline.listeners.append(self.on_table)

    def close(self) -> None:
        """Detach from the pipeline and end every open stream."""
        if self._pipeline is not None and self.on_table in self._pipeline.listeners:
            self._pipeline.listeners.remove(self.on_table)
        self._closed = True
        for sub in list(self._subscribers):
            self._offer(sub, None)

    def end_streams(self) -> None:
        """Ask every open stream to finish (from any thread): called when the server begins to stop."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self.close)
            except RuntimeError:
                pass

    def on_table(self, table: pa.Table) -> None:
        """Called on the processor thread: never blocks, never raises into ingest."""
        loop = self._loop
        if not self._subscribers or loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._fanout, table)
        except RuntimeError:  # loop closing
            pass

    def _fanout(self, table: pa.Table) -> None:
        projects = None
        for sub in list(self._subscribers):
            if projects is None:
                projects = set(table.column("project_id").unique().to_pylist())
            if sub.project_id in projects:
                self._offer(sub, table)

    @staticmethod
    def _offer(sub: Subscriber, item) -> None:
        try:
            sub.queue.put_nowait(item)
        except asyncio.QueueFull:
            sub.dropped += 1

    def subscribe(self, project_id: str) -> Subscriber:
        sub = Subscriber(project_id)
        self._subscribers.add(sub)
        if self._closed:  # stopping: the stream ends at once
            self._offer(sub, None)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
