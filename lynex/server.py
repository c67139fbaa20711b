"""Run the app under Granian, in this process, with exactly one worker.

Embedded (one process) rather than Granian's supervisor + worker processes: the DuckDB file
lock, the ingest log and the data-dir lock all belong to one process, and ``kill -9`` of that
process leaves no orphaned worker holding them.
"""

from __future__ import annotations

import asyncio
import gc
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
    # Modules, routes and templates live as long as the process: moved out of the collector's
    # sight, full collections stay short (a long one stalls the event loop, i.e. every ack).
    gc.collect()
    gc.freeze()
    logging.getLogger("granian").setLevel(logging.ERROR)  # its "embedded is experimental" notice
    servers = [Server(app, address=config.host, port=config.port, interface=Interfaces.ASGI,
                      log_enabled=False, backlog=1024)]
    if config.otlp_port:
        # The same app object on a second port, without lifespan (ASGINL): every part lives once,
        # started and stopped by the main listener; /v1/traces answers 503 until it is ready.
        servers.append(Server(app, address=config.host, port=config.otlp_port, interface=Interfaces.ASGINL,
                              log_enabled=False, backlog=1024))

    def stop() -> None:
        app.state.ui.live.end_streams()  # open live tails would otherwise hold the graceful stop
        for server in reversed(servers):  # the OTLP listener first: no new work while the main one drains
            server.stop()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        print(f"Lynex is listening at {config.ui_url}  (data: {config.data_dir})", flush=True)
        if config.otlp_port:
            print(f"OTLP/HTTP exporters: port {config.otlp_port} also serves POST /v1/traces", flush=True)
        tasks = [asyncio.ensure_future(server.serve()) for server in servers]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop()  # one listener ended (signal or failure): end the other too, then drain
        await asyncio.gather(*tasks)

    asyncio.run(main())
    print("Lynex stopped; every accepted span is stored.", flush=True)
