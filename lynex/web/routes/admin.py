"""Admin API (scope ``admin``): storage operations on the key's own project."""

from __future__ import annotations

import datetime as dt

from litestar import Request, Response, post

from lynex.web.auth import AuthFailure, require_key
from lynex.web.responses import error_response, json_response


@post("/v1/admin/compact", sync_to_thread=True)
def compact_now(request: Request) -> Response:
    """Move this project's closed day-partitions to Parquet now (normally scheduled)."""
    services = request.app.state.services
    try:
        key = require_key(request, services.meta, "admin")
    except AuthFailure as exc:
        return error_response(exc.status, exc.message)
    compactor = services.compactor
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    done = [compactor.compact_partition(p, day) for p, day, _ in compactor.closed_partitions(now)
            if p == key.project_id]
    return json_response({"partitions": [{"day": r.day.isoformat(), "rows": r.rows, "bytes": r.bytes,
                                          "seconds": round(r.seconds, 3)} for r in done]})


ROUTES = [compact_now]
