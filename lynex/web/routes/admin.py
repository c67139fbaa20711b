"""Admin API: storage operations, for an API key with the ``admin`` scope (its own project) or
for the local control token (the whole installation; see lynex/control.py)."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

from litestar import Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.params import JSONBody
from litestar.response import File

from lynex.errors import LynexError
from lynex.storage.backup import backup
from lynex.storage.query import QueryError, parse_time
from lynex.web.auth import AuthFailure, bearer_token, require_key
from lynex.web.responses import error_response, json_response


def _scope(request: Request, scope: str) -> str | None:
    """The project the caller may act on for ``scope``; None means every project (control token)."""
    services = request.app.state.services
    if services.control is not None and services.control.matches(bearer_token(request.headers)):
        return None
    return require_key(request.headers, services.meta, scope).project_id


@post("/v1/admin/compact", sync_to_thread=True)
def compact_now(request: Request) -> Response:
    """Move closed day-partitions to Parquet now (normally scheduled)."""
    services = request.app.state.services
    project_id = _scope(request, "admin")
    compactor = services.compactor
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    done = [compactor.compact_partition(p, day) for p, day, _ in compactor.closed_partitions(now)
            if project_id is None or p == project_id]
    return json_response({"partitions": [{"project_id": r.project_id, "day": r.day.isoformat(), "rows": r.rows,
                                          "bytes": r.bytes, "seconds": round(r.seconds, 3)} for r in done]})


@post("/v1/admin/backup", sync_to_thread=True)
def backup_now(request: Request, data: JSONBody[dict]) -> Response:
    """Consistent backup of the whole installation into a directory on the server's disk."""
    services = request.app.state.services
    if _scope(request, "admin") is not None:
        raise AuthFailure(403, "backups cover every project: use the local control token (lynex backup)")
    target = data.get("dir") if isinstance(data, dict) else None
    if not isinstance(target, str) or not target:
        return error_response(400, "dir: required, a directory path on the server")
    config = services.config
    try:
        info = backup(services.hot, config.meta_path, config.parquet_dir, config.wal_dir, Path(target),
                      secrets={"master.key": config.master_key_path, "license.json": config.license_path})
    except LynexError as exc:
        return error_response(400, f"dir: {exc}")
    return json_response(info)


@get("/v1/export", sync_to_thread=True)
def export(request: Request) -> Response:
    """Spans of a project in a time range as Parquet or JSON lines (a file download)."""
    services = request.app.state.services
    params = request.query_params
    project_id = _scope(request, "read")
    if project_id is None:
        if not params.get("project"):
            raise QueryError("project: required with the control token")
        project_id = services.meta.project(params["project"]).id
    fmt = params.get("format", "jsonl")
    if fmt not in ("parquet", "jsonl"):
        raise QueryError(f"format: '{fmt}' must be parquet or jsonl")
    since = parse_time("since", params["since"]) if params.get("since") else None
    until = parse_time("until", params["until"]) if params.get("until") else None
    fd, path = tempfile.mkstemp(prefix="lynex-export-", suffix=f".{fmt}")
    os.close(fd)
    try:
        services.queries.export(project_id, path, fmt, since, until)
    except BaseException:
        os.unlink(path)
        raise
    media = "application/vnd.apache.parquet" if fmt == "parquet" else "application/x-ndjson"
    return File(path=path, filename=f"lynex-{project_id}.{fmt}", media_type=media,
                background=BackgroundTask(os.unlink, path))


ROUTES = [compact_now, backup_now, export]
