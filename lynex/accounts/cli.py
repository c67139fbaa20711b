"""``lynex users create|list|disable``: manage dashboard accounts (works while the server runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from lynex.accounts.store import ROLES, AccountError, Accounts

users_app = typer.Typer(no_args_is_help=True, help="Create, list and disable dashboard accounts.")

DataDir = typer.Option(None, "--data-dir", help="Data directory (default ~/.lynex).")
ConfigFile = typer.Option(None, "--config", help="TOML configuration file.")
AsJson = typer.Option(False, "--json", help="Print JSON.")


def _accounts(data_dir: Optional[Path], config_file: Optional[Path]) -> Accounts:
    from lynex.config import load_config
    from lynex.storage.meta import MetaStore
    config = load_config({"data_dir": data_dir}, config_file)
    return Accounts(MetaStore(config.meta_path))


@users_app.command("create")
def users_create(email: str,
                 role: str = typer.Option("member", "--role", help=f"One of: {', '.join(ROLES)}."),
                 password_stdin: bool = typer.Option(False, "--password-stdin",
                                                     help="Read the password from standard input (scripts)."),
                 data_dir: Optional[Path] = DataDir, config_file: Optional[Path] = ConfigFile,
                 as_json: bool = AsJson) -> None:
    """Create an account; the password is prompted for (hidden) unless --password-stdin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password (10+ characters)", hide_input=True, confirmation_prompt=True)
    user = _accounts(data_dir, config_file).create_user(email, password, role)
    if as_json:
        typer.echo(json.dumps(user.to_dict()))
    else:
        typer.echo(f"created {user.role} {user.email} ({user.id})")


@users_app.command("list")
def users_list(data_dir: Optional[Path] = DataDir, config_file: Optional[Path] = ConfigFile,
               as_json: bool = AsJson) -> None:
    """List accounts (never their password hashes)."""
    users = _accounts(data_dir, config_file).users()
    if as_json:
        typer.echo(json.dumps([u.to_dict() for u in users]))
    else:
        for u in users:
            typer.echo(f"{u.id}\t{u.email}\t{u.role}\t{'disabled' if u.disabled_at else 'active'}")


@users_app.command("disable")
def users_disable(email: str, data_dir: Optional[Path] = DataDir,
                  config_file: Optional[Path] = ConfigFile) -> None:
    """Disable an account and sign it out everywhere at once."""
    user = _accounts(data_dir, config_file).disable(email)
    typer.echo(f"disabled {user.email}")


__all__ = ["users_app", "AccountError"]
