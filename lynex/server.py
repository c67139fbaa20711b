"""Run the app under Granian, in this process, with exactly one worker.

Embedded (one process) rather than Granian's supervisor + worker processes: the DuckDB file
lock, the ingest log and the data-dir lock all belong to one process, and ``kill -9`` of that
process leaves no orphaned worker holding them.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from granian.constants import Interfaces
from granian.server.embed import Server

from lynex.app import create_app
from lynex.config import Config
from lynex.datadir import DataDirLock

log = logging.getLogger(__name__)


def serve(config: Config) -> None:
    """Serve until SIGTERM/SIGINT; then stop accepting, drain accepted spans, return."""
    DataDirLock(config.data_dir).check()  # a clear error before anything starts
    sys.setswitchinterval(0.0005)
    app = create_app(config)
    logging.getLogger("granian").setLevel(logging.ERROR)  # its "embedded is experimental" notice
    server = Server(app, address=config.host, port=config.port, interface=Interfaces.ASGI,
                    log_enabled=False, backlog=1024)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, server.stop)
        print(f"Lynex is listening at {config.ui_url}  (data: {config.data_dir})", flush=True)
        await server.serve()

    asyncio.run(main())
    print("Lynex stopped; every accepted span is stored.", flush=True)
