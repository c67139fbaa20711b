"""CPU priority of Lynex's background work (Linux; a no-op where it is not supported).

Acknowledging ingest is what clients wait for; enrichment, DuckDB inserts and search indexing
can run a little later. Lowering the priority of the threads and processes that do that work
lets the kernel's scheduler hand the CPU to the request path first when the box is short of it,
instead of queueing acknowledgements behind background work (measured: bench/ingest.py).
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)


def lower(nice: int) -> None:
    """Run the calling thread at niceness ``nice`` unless it already runs lower (threads and
    processes it starts later inherit it)."""
    if not nice or not hasattr(os, "setpriority"):
        return
    tid = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except OSError:
        log.debug("could not lower the priority of thread %s", threading.current_thread().name, exc_info=True)
