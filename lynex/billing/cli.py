"""``lynex license install|show`` and ``lynex usage``: work while the server runs (it re-reads the file)."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Optional

import typer

from lynex.billing.license import LicenseError, entitlement, load_public_key, verify

license_app = typer.Typer(no_args_is_help=True, help="Install and show the license (offline, Ed25519-signed).")

DataDir = typer.Option(None, "--data-dir", help="Data directory (default ~/.lynex).")
ConfigFile = typer.Option(None, "--config", help="TOML configuration file.")
AsJson = typer.Option(False, "--json", help="Print JSON.")


def _config(data_dir, config_file):
    from lynex.config import load_config
    return load_config({"data_dir": data_dir}, config_file)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _print(ent, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(ent.as_dict(), indent=2))
        return
    lic = ent.license
    lines = [f"state:    {ent.state}", f"plan:     {ent.plan.name}"]
    if lic:
        lines += [f"customer: {lic.customer}", f"license:  {lic.license_id}",
                  f"expires:  {lic.expires_at:%Y-%m-%d %H:%M} UTC"]
    limits = ent.plan.limits.as_dict()
    lines += ["limits:   " + ", ".join(f"{k}={'unlimited' if v == 0 else f'{v:,}'}" for k, v in limits.items()),
              "features: " + (", ".join(sorted(ent.plan.features)) or "none")]
    if ent.message:
        lines.append(f"note:     {ent.message}")
    typer.echo("\n".join(lines))


@license_app.command("install")
def license_install(file: Path, data_dir: Optional[Path] = DataDir, config_file: Optional[Path] = ConfigFile,
                    as_json: bool = AsJson) -> None:
    """Verify FILE against the vendor key and make it the installation's license."""
    config = _config(data_dir, config_file)
    try:
        data = file.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror}")
    try:
        lic = verify(data, load_public_key(config.license_public_key))
    except LicenseError as exc:
        _fail(f"{file}: {exc}; the installed license (if any) is unchanged")
    target = config.license_path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)  # atomic: a running server reads the old or the new file, never half
    typer.echo(f"installed license {lic.license_id} for {lic.customer} at {target}", err=True)
    _print(entitlement(lic, dt.datetime.now(dt.timezone.utc)), as_json)


@license_app.command("show")
def license_show(data_dir: Optional[Path] = DataDir, config_file: Optional[Path] = ConfigFile,
                 as_json: bool = AsJson) -> None:
    """Show the license in force, its plan, limits, features and expiry (or the free tier)."""
    from lynex.billing.service import read_license
    config = _config(data_dir, config_file)
    lic, error = read_license(config.license_path, load_public_key(config.license_public_key))
    _print(entitlement(lic, dt.datetime.fromtimestamp(time.time(), dt.timezone.utc), error), as_json)
