"""Backup and restore of a whole installation, consistent while the server keeps ingesting.

A backup directory holds ``meta.sqlite`` (SQLite's online backup API), ``hot.duckdb`` (DuckDB's
``COPY FROM DATABASE`` in one read snapshot), the local Parquet parts that snapshot's manifest
names, and the ingest-log segments; restoring replays the log above the snapshot's watermark, so
spans acknowledged while the backup ran are not lost. Cold parts stay where they are (the
manifest keeps pointing at them): back the bucket up with the store's own tools.

The installation's master key (it decrypts stored channel secrets) and license file come along
when they exist, under ``secrets/`` with owner-only permissions: a backup without the key would
restore alert channels nobody can decrypt. Treat a backup directory like the key itself.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

from lynex.errors import LynexError
from lynex.storage.hot import HotStore

MANIFEST = "lynex-backup.json"


SECRETS = ("master.key", "license.json")  # names under secrets/, restored into the data dir


def _copy_private(source: Path, target: Path) -> None:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(source.read_bytes())


def backup(hot: HotStore, meta_path: Path, parquet_root: Path, wal_dir: Path, dest: Path,
           secrets: dict[str, Path] | None = None) -> dict:
    """Write a backup of the installation into ``dest`` (which must be empty or absent).

    ``secrets`` maps names of SECRETS to the files configured for them (copied when present)."""
    if dest.exists() and any(dest.iterdir()):
        raise LynexError(f"backup directory {dest} is not empty; choose a new one")
    dest.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with sqlite3.connect(meta_path) as src, sqlite3.connect(dest / "meta.sqlite") as dst:
        src.backup(dst)
    cur = hot.cursor()
    try:
        target = str(dest / "hot.duckdb").replace("'", "''")
        cur.execute(f"ATTACH '{target}' AS backup_db")
        cur.execute("BEGIN TRANSACTION")
        database = cur.execute("SELECT current_database()").fetchone()[0]
        parts = [row[0] for row in cur.execute("SELECT path FROM parquet_files WHERE tier = 'local'").fetchall()]
        watermark = cur.execute("SELECT applied_seq FROM ingest_state WHERE k = 'wal'").fetchone()[0]
        cur.execute(f"COPY FROM DATABASE {database} TO backup_db")
        cur.execute("COMMIT")
        cur.execute("DETACH backup_db")
    finally:
        cur.close()
    copied = 0
    for part in parts:
        source = Path(part)
        target_path = dest / "parquet" / source.relative_to(parquet_root)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target_path)
        copied += 1
    (dest / "wal").mkdir()
    for segment in sorted(wal_dir.glob("*.wal")):  # append-only: a later copy only holds more
        shutil.copy2(segment, dest / "wal" / segment.name)
    saved = []
    for name, path in (secrets or {}).items():
        if name in SECRETS and path.is_file():
            _copy_private(path, dest / "secrets" / name)
            saved.append(name)
    info = {"created_at": started, "seconds": round(time.time() - started, 3), "watermark": watermark,
            "parquet_parts": copied, "parquet_root": str(parquet_root), "secrets": saved}
    (dest / MANIFEST).write_text(json.dumps(info, indent=1))
    return info


def restore(src: Path, data_dir: Path, secrets: dict[str, Path] | None = None) -> dict:
    """Lay a backup out as ``data_dir`` (which must hold no installation yet).

    Saved secrets go where ``secrets`` says (default: ``data_dir/<name>``); an existing file
    there is left alone (and reported) rather than overwritten."""
    info_path = src / MANIFEST
    if not info_path.exists():
        raise LynexError(f"{src} is not a Lynex backup (no {MANIFEST})")
    if (data_dir / "hot.duckdb").exists() or (data_dir / "meta.sqlite").exists():
        raise LynexError(f"{data_dir} already holds an installation; restore into an empty data directory")
    info = json.loads(info_path.read_text())
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "meta.sqlite", data_dir / "meta.sqlite")
    shutil.copy2(src / "hot.duckdb", data_dir / "hot.duckdb")
    shutil.copytree(src / "wal", data_dir / "wal", dirs_exist_ok=True)
    if (src / "parquet").exists():
        shutil.copytree(src / "parquet", data_dir / "parquet", dirs_exist_ok=True)
    info["secrets_restored"], info["secrets_kept"] = [], []
    for name in info.get("secrets", []):
        target = (secrets or {}).get(name, data_dir / name)
        if target.exists():
            info["secrets_kept"].append(str(target))
            continue
        _copy_private(src / "secrets" / name, target)
        info["secrets_restored"].append(str(target))
    # Manifest paths name the old data dir: point them at the restored parts.
    old_root, new_root = info["parquet_root"], str(data_dir / "parquet")
    hot = HotStore(data_dir / "hot.duckdb")
    try:
        hot.con.execute("UPDATE parquet_files SET path = replace(path, ?, ?) WHERE tier = 'local'",
                        [old_root, new_root])
    finally:
        hot.close()
    os.sync()
    return info
