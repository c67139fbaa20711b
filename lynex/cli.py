"""The ``lynex`` command: flags → Config → the part that does the work. No logic lives here."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer

from lynex.accounts.cli import users_app
from lynex.billing.cli import license_app
from lynex.config import load_config
from lynex.errors import LynexError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Lynex: self-hosted observability for LLM applications.")
projects_app = typer.Typer(no_args_is_help=True, help="Create and list projects.")
keys_app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API keys.")
app.add_typer(projects_app, name="projects")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(license_app, name="license")

DataDir = typer.Option(None, "--data-dir", help="Data directory (default ~/.lynex).")
ConfigFile = typer.Option(None, "--config", help="TOML configuration file.")
AsJson = typer.Option(False, "--json", help="Print JSON.")


def _config(**flags):
    config_file = flags.pop("config_file", None)
    return load_config(flags, config_file)


def _meta(data_dir, config_file):
    from lynex.storage.meta import MetaStore
    return MetaStore(_config(data_dir=data_dir, config_file=config_file).meta_path)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def serve(
    host: Optional[str] = typer.Option(None, "--host", help="Bind address (default 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", help="Port (default 8600)."),
    otlp_port: Optional[int] = typer.Option(None, "--otlp-port",
                                            help="Also serve on this port, e.g. 4318 for OTLP exporters' default."),
    data_dir: Optional[Path] = DataDir,
    config_file: Optional[Path] = ConfigFile,
    demo: Optional[bool] = typer.Option(None, "--demo/--no-demo", help="Seed a demo project with 14 days of traffic."),
) -> None:
    """Run the server: ingest API, read API, dashboard, scheduler."""
    config = _config(host=host, port=port, otlp_port=otlp_port, data_dir=data_dir, demo=demo,
                     config_file=config_file)
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every job addition at INFO
    from lynex.server import serve as run
    run(config)


@app.command()
def settings(markdown: bool = typer.Option(False, "--markdown", help="Print the README's table.")) -> None:
    """List every setting with its default, environment variable and meaning."""
    from lynex.config import SETTINGS
    if markdown:
        typer.echo("| setting | environment | default | meaning |\n|---|---|---|---|")
    for s in SETTINGS:
        env = "LYNEX_" + s.name.upper()
        if markdown:
            typer.echo(f"| `{s.name}` | `{env}` | `{s.default}` | {s.help} |")
        else:
            typer.echo(f"{s.name:24} {env:30} {str(s.default):12} {s.help}")


@app.command()
def compact(data_dir: Optional[Path] = DataDir, config_file: Optional[Path] = ConfigFile,
            as_json: bool = AsJson) -> None:
    """Move closed day-partitions from the hot store to Parquet now (the server does it on a schedule)."""
    from lynex.maintenance import compact as run, server_running
    config = _config(data_dir=data_dir, config_file=config_file)
    if server_running(config):
        from lynex import control
        with control.client(config.data_dir) as client:
            parts = client.post("/v1/admin/compact").raise_for_status().json()["partitions"]
        typer.echo(json.dumps(parts) if as_json else f"the running server compacted {len(parts)} partition(s)")
        return
    results = run(config)
    rows = sum(r.rows for r in results)
    if as_json:
        typer.echo(json.dumps([{"project_id": r.project_id, "day": r.day.isoformat(), "rows": r.rows,
                                "bytes": r.bytes, "seconds": r.seconds} for r in results]))
    else:
        for r in results:
            typer.echo(f"{r.project_id} {r.day}: {r.rows} rows → {r.bytes / max(r.rows, 1):.0f} B/span, "
                       f"{r.rows / max(r.seconds, 1e-9):,.0f} spans/s")
        typer.echo(f"compacted {len(results)} partition(s), {rows} rows")


@app.command()
def gc(data_dir: Optional[Path] = DataDir, config_file: Optional[Path] = ConfigFile) -> None:
    """Compact, move old partitions to cold storage and delete expired data now."""
    from lynex.maintenance import gc as run
    report = run(_config(data_dir=data_dir, config_file=config_file))
    typer.echo(f"uploaded {report.uploaded} part(s) to cold storage, deleted {report.deleted_parts} part(s) "
               f"and {report.deleted_hot_rows} hot row(s)")
    for error in report.errors or []:
        typer.echo(f"warning: {error}", err=True)


@projects_app.command("storage")
def projects_storage(project: str,
                     local_days: Optional[int] = typer.Option(None, "--local-days"),
                     keep_days: Optional[int] = typer.Option(None, "--keep-days"),
                     location: Optional[str] = typer.Option(None, "--location", help="Cold location name; '' = none."),
                     data_dir: Optional[Path] = DataDir, config_file: Optional[Path] = ConfigFile) -> None:
    """Show or set a project's storage policy (local days, keep days, cold location/region)."""
    import dataclasses
    from lynex.storage.retention import StoragePolicy, get_policy, set_policy
    config = _config(data_dir=data_dir, config_file=config_file)
    meta = _meta(data_dir, config_file)
    pid = meta.project(project).id
    policy = get_policy(meta, pid, StoragePolicy(config.local_days, config.keep_days, config.cold_location))
    changes = {k: v for k, v in (("local_days", local_days), ("keep_days", keep_days), ("location", location))
               if v is not None}
    if changes:
        policy = dataclasses.replace(policy, **changes)
        set_policy(meta, pid, policy, {loc.name for loc in config.cold_locations})
    typer.echo(json.dumps(dataclasses.asdict(policy)))


@app.command()
def backup(directory: Path, data_dir: Optional[Path] = DataDir, config_file: Optional[Path] = ConfigFile) -> None:
    """Consistent backup of the installation into DIRECTORY (works while the server runs)."""
    from lynex.maintenance import offline_store, server_running
    config = _config(data_dir=data_dir, config_file=config_file)
    target = directory.expanduser().resolve()
    if server_running(config):
        from lynex import control
        with control.client(config.data_dir) as client:
            response = client.post("/v1/admin/backup", json={"dir": str(target)})
            if response.status_code != 200:
                _fail(response.json().get("error", response.text))
            info = response.json()
    else:
        from lynex.storage.backup import backup as run
        with offline_store(config) as (hot, _):
            info = run(hot, config.meta_path, config.parquet_dir, config.wal_dir, target)
    typer.echo(f"backup written to {target} in {info['seconds']} s ({info['parquet_parts']} Parquet part(s))")


@app.command()
def restore(directory: Path, data_dir: Optional[Path] = DataDir, config_file: Optional[Path] = ConfigFile) -> None:
    """Restore a backup into an empty data directory (the server must not be running on it)."""
    from lynex.datadir import DataDirLock
    from lynex.storage.backup import restore as run
    config = _config(data_dir=data_dir, config_file=config_file)
    with DataDirLock(config.data_dir):
        info = run(directory.expanduser().resolve(), config.data_dir,
                   secrets={"master.key": config.master_key_path, "license.json": config.license_path})
    for path in info["secrets_kept"]:
        typer.echo(f"kept the existing {path}; the backup's copy is in {directory}/secrets/", err=True)
    typer.echo(f"restored {directory} into {config.data_dir}; start it with: lynex serve --data-dir {config.data_dir}")


@app.command()
def export(project: str = typer.Option(..., "--project", help="Project id or name."),
           since: Optional[str] = typer.Option(None, "--since", help="RFC 3339, epoch ms or e.g. 7d."),
           until: Optional[str] = typer.Option(None, "--until"),
           fmt: str = typer.Option("jsonl", "--format", help="parquet or jsonl."),
           output: Path = typer.Option(..., "--output", "-o", help="File to write."),
           data_dir: Optional[Path] = DataDir, config_file: Optional[Path] = ConfigFile) -> None:
    """Export a project's spans in open formats (works while the server runs)."""
    from lynex.maintenance import offline_store, server_running
    config = _config(data_dir=data_dir, config_file=config_file)
    target = output.expanduser().resolve()
    if server_running(config):
        from lynex import control
        params = {k: v for k, v in (("project", project), ("since", since), ("until", until), ("format", fmt)) if v}
        with control.client(config.data_dir) as client, client.stream("GET", "/v1/export", params=params) as r:
            if r.status_code != 200:
                r.read()
                _fail(r.json().get("error", r.text))
            with open(target, "wb") as fh:
                for chunk in r.iter_bytes():
                    fh.write(chunk)
        typer.echo(f"exported to {target}")
        return
    from lynex.ingest.memtable import Memtable
    from lynex.storage.cold import ColdTier
    from lynex.storage.meta import MetaStore
    from lynex.storage.query import SpanQueries, parse_time
    project_id = MetaStore(config.meta_path).project(project).id
    with offline_store(config) as (hot, _):
        cold = ColdTier(config.cold_locations, config.cold_cache_dir, config.cold_cache_bytes)
        rows = SpanQueries(hot, Memtable(), cold).export(
            project_id, str(target), fmt, parse_time("since", since) if since else None,
            parse_time("until", until) if until else None)
    typer.echo(f"exported {rows} span(s) to {target}")


@app.command()
def version() -> None:
    """Print the version, build date and commit."""
    from lynex.buildinfo import describe
    typer.echo(describe())


@projects_app.command("create")
def projects_create(name: str, data_dir: Optional[Path] = DataDir, config_file: Optional[Path] = ConfigFile,
                    as_json: bool = AsJson) -> None:
    """Create a project and its first API key (scopes ingest, read); the secret is shown once."""
    meta = _meta(data_dir, config_file)
    project = meta.create_project(name)
    key, secret = meta.create_key(project.id, "default", ("ingest", "read"))
    if as_json:
        typer.echo(json.dumps({"id": project.id, "name": project.name, "created_at": project.created_at,
                               "api_key": secret, "key_id": key.id, "scopes": list(key.scopes)}))
    else:
        typer.echo(f"project {project.name} ({project.id})\nAPI key (shown once, keep it): {secret}")


@projects_app.command("list")
def projects_list(data_dir: Optional[Path] = DataDir, config_file: Optional[Path] = ConfigFile,
                  as_json: bool = AsJson) -> None:
    """List projects."""
    projects = _meta(data_dir, config_file).projects()
    if as_json:
        typer.echo(json.dumps([{"id": p.id, "name": p.name, "created_at": p.created_at} for p in projects]))
    else:
        for p in projects:
            typer.echo(f"{p.id}\t{p.name}")


@keys_app.command("create")
def keys_create(project: str = typer.Option(..., "--project", help="Project id or name."),
                name: str = typer.Option("default", "--name"),
                scope: List[str] = typer.Option(["ingest", "read"], "--scope", help="ingest, read, admin (repeat)."),
                data_dir: Optional[Path] = DataDir, config_file: Optional[Path] = ConfigFile,
                as_json: bool = AsJson) -> None:
    """Create an API key; its secret is printed once and stored only as a hash."""
    meta = _meta(data_dir, config_file)
    key, secret = meta.create_key(meta.project(project).id, name, tuple(scope))
    if as_json:
        typer.echo(json.dumps({**key.to_dict(), "api_key": secret}))
    else:
        typer.echo(f"key {key.id} for {key.project_id} scopes={','.join(key.scopes)}\n"
                   f"API key (shown once, keep it): {secret}")


@keys_app.command("list")
def keys_list(project: Optional[str] = typer.Option(None, "--project"), data_dir: Optional[Path] = DataDir,
              config_file: Optional[Path] = ConfigFile, as_json: bool = AsJson) -> None:
    """List API keys (never their secrets)."""
    meta = _meta(data_dir, config_file)
    keys = meta.keys(meta.project(project).id if project else None)
    if as_json:
        typer.echo(json.dumps([k.to_dict() for k in keys]))
    else:
        for k in keys:
            state = "revoked" if k.revoked_at else "active"
            typer.echo(f"{k.id}\t{k.project_id}\t{k.name}\t{','.join(k.scopes)}\t{state}")


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: Optional[Path] = DataDir, config_file: Optional[Path] = ConfigFile) -> None:
    """Revoke a key; the next request that uses it is refused."""
    key = _meta(data_dir, config_file).revoke_key(key_id)
    typer.echo(f"revoked {key.id}")


def main() -> None:
    try:
        app()
    except LynexError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
