"""One frozen Config, built once: defaults < TOML file < LYNEX_* environment < CLI flags.

This is the only module that reads the environment. ``SETTINGS`` is the single table that
drives the README's configuration section and ``lynex settings``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Mapping

from lynex.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str


MiB = 1024 * 1024

SETTINGS: tuple[Setting, ...] = (
    Setting("host", str, "127.0.0.1", "Address the HTTP server binds to."),
    Setting("port", int, 8600, "Port of the HTTP server (UI, ingest and read API)."),
    Setting("otlp_port", int, 0, "Optional second port serving the same app for OTLP exporters' defaults "
            "(4318); 0 = off."),
    Setting("data_dir", str, "~/.lynex", "Directory holding meta.sqlite, hot.duckdb and the ingest log."),
    Setting("demo", bool, False, "Fill a 'demo' project with 14 days of realistic traffic on start."),
    Setting("max_body_bytes", int, 10 * MiB, "Largest accepted request body, as sent (compressed)."),
    Setting("max_decompressed_bytes", int, 50 * MiB, "Largest body after gzip inflation; bombs are cut off."),
    Setting("max_batch_spans", int, 10_000, "Most spans accepted in one ingest request."),
    Setting("max_text_bytes", int, 1 * MiB, "Text fields longer than this are truncated and the span flagged."),
    Setting("duckdb_memory_limit", str, "512MB",
            "DuckDB's memory limit (its buffer pool), e.g. 512MB or 2GB; at least buffer_max_bytes "
            "(checked at start: below it, checkpoints under full ingest failed for want of memory)."),
    Setting("buffer_max_spans", int, 250_000, "Spans accepted but not yet stored before ingest answers 503."),
    Setting("buffer_max_bytes", int, 256 * MiB, "Bytes of accepted spans held in memory before they are in "
            "DuckDB (waiting + queryable in memory); above it ingest answers 503. Inserts start at 64 MiB "
            "(or half of this, if smaller: smaller DuckDB inserts cost more CPU per row)."),
    Setting("wal_fsync", bool, True, "fsync the ingest log before acknowledging (turn off only for tests)."),
    Setting("flush_interval_ms", float, 10000.0,
            "Longest a span waits in memory (already queryable) before its DuckDB insert."),
    Setting("flush_max_rows", int, 122_880, "Most rows written to DuckDB in one transaction."),
    Setting("processor_process", bool, True,
            "Enrich spans in a separate process (uses a second core); off = in the server process."),
    Setting("enrichment_workers", int, 2,
            "Enrichment processes (with processor_process), each fed two batches at a time. OTLP "
            "spans cost ~4x native ones to enrich: with two, OTLP ingest keeps pace on 2 cores."),
    Setting("dedup_window", int, 1_000_000, "How many recent span ids are remembered to drop SDK retries."),
    Setting("prices_file", str, "", "Optional TOML/JSON price table merged over the built-in one."),
    Setting("compaction_interval_minutes", float, 10.0,
            "How often closed day-partitions move from DuckDB to Parquet (0 = only on demand)."),
    Setting("compaction_grace_minutes", float, 60.0,
            "How long after a UTC day ends before it counts as closed (room for late spans)."),
    Setting("local_days", int, 30, "Default days a project's data stays on local disk before moving to cold storage."),
    Setting("keep_days", int, 365, "Default days a project's data is kept at all; older data is deleted everywhere."),
    Setting("cold_location", str, "", "Default cold storage location for projects ([cold.<name>] in the config file)."),
    Setting("cold_cache_bytes", int, 2 * 1024 * MiB, "Local cache for Parquet parts read back from cold storage."),
    Setting("retention_interval_minutes", float, 60.0, "How often tiering and retention run (0 = only lynex gc)."),
    Setting("log_level", str, "info", "Logging level: debug, info, warning, error."),
    Setting("public_url", str, "", "Base URL of the dashboard used in alert links (default http://host:port/)."),
    Setting("master_key_file", str, "", "File holding the installation's master key (encrypts channel secrets); "
            "default <data_dir>/master.key, created with 0600 on first start."),
    Setting("alert_eval_interval_s", float, 60.0, "How often every alert rule is evaluated, seconds."),
    Setting("alert_delivery_attempts", int, 5, "Tries per alert notification before it is recorded as failed."),
    Setting("alert_retry_backoff_s", float, 2.0, "Wait before the 2nd try of a notification; doubles each try."),
    Setting("alert_delivery_timeout_s", float, 10.0, "Timeout of one webhook, Slack or SMTP attempt, seconds."),
    Setting("smtp_host", str, "", "SMTP server for email alerts (empty: email channels cannot send)."),
    Setting("smtp_port", int, 587, "SMTP port (587 with STARTTLS)."),
    Setting("smtp_username", str, "", "SMTP login (empty: no AUTH)."),
    Setting("smtp_password", str, "", "SMTP password; prefer LYNEX_SMTP_PASSWORD over the config file."),
    Setting("smtp_starttls", bool, True, "Upgrade the SMTP connection with STARTTLS before AUTH."),
    Setting("smtp_from", str, "lynex@localhost", "Sender address of alert emails."),
    Setting("smtp_ca_file", str, "", "CA bundle trusted for the SMTP server's certificate (default: system CAs)."),
    Setting("license_file", str, "", "The license file in force (default <data_dir>/license.json, where "
            "'lynex license install' puts it); none = the free tier."),
    Setting("license_public_key", str, "", "Ed25519 public key (base64 or PEM) licenses are verified against; "
            "empty = the vendor key built into Lynex. Only for private builds and tests."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclasses.dataclass(frozen=True)
class ColdLocation:
    """A named S3-compatible storage location (``[cold.<name>]`` in the config file).

    Credentials may come from ``LYNEX_COLD_<NAME>_ACCESS_KEY`` / ``_SECRET_KEY`` instead of the file.
    """

    name: str
    bucket: str
    endpoint: str = ""  # e.g. http://127.0.0.1:9000; empty means AWS itself
    prefix: str = "lynex"
    region: str = "us-east-1"
    access_key: str = ""
    secret_key: str = dataclasses.field(default="", repr=False)
    path_style: bool = True
    # pyarrow's S3 client sends aws-chunked checksums some S3-compatible servers mishandle.
    checksum_when_required: bool = True


@dataclasses.dataclass(frozen=True)
class Config:
    """Every setting of one Lynex installation; built by :func:`load_config`."""

    host: str = "127.0.0.1"
    port: int = 8600
    otlp_port: int = 0
    data_dir: Path = Path("~/.lynex")
    demo: bool = False
    max_body_bytes: int = 10 * MiB
    max_decompressed_bytes: int = 50 * MiB
    max_batch_spans: int = 10_000
    max_text_bytes: int = 1 * MiB
    duckdb_memory_limit: str = "512MB"
    buffer_max_spans: int = 250_000
    buffer_max_bytes: int = 256 * MiB
    wal_fsync: bool = True
    flush_interval_ms: float = 10000.0
    flush_max_rows: int = 122_880
    processor_process: bool = True
    enrichment_workers: int = 2
    dedup_window: int = 1_000_000
    prices_file: str = ""
    compaction_interval_minutes: float = 10.0
    compaction_grace_minutes: float = 60.0
    local_days: int = 30
    keep_days: int = 365
    cold_location: str = ""
    cold_cache_bytes: int = 2 * 1024 * MiB
    retention_interval_minutes: float = 60.0
    log_level: str = "info"
    public_url: str = ""
    master_key_file: str = ""
    alert_eval_interval_s: float = 60.0
    alert_delivery_attempts: int = 5
    alert_retry_backoff_s: float = 2.0
    alert_delivery_timeout_s: float = 10.0
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = dataclasses.field(default="", repr=False)
    smtp_starttls: bool = True
    smtp_from: str = "lynex@localhost"
    smtp_ca_file: str = ""
    license_file: str = ""
    license_public_key: str = ""
    cold_locations: tuple[ColdLocation, ...] = ()

    def find_cold_location(self, name: str) -> ColdLocation:
        for location in self.cold_locations:
            if location.name == name:
                return location
        known = ", ".join(loc.name for loc in self.cold_locations) or "none configured"
        raise ConfigError(f"no cold storage location named '{name}' ({known}); add [cold.{name}] to the config file")

    @property
    def meta_path(self) -> Path:
        return self.data_dir / "meta.sqlite"

    @property
    def hot_path(self) -> Path:
        return self.data_dir / "hot.duckdb"

    @property
    def wal_dir(self) -> Path:
        return self.data_dir / "wal"

    @property
    def parquet_dir(self) -> Path:
        return self.data_dir / "parquet"

    @property
    def master_key_path(self) -> Path:
        return Path(self.master_key_file).expanduser() if self.master_key_file else self.data_dir / "master.key"

    @property
    def license_path(self) -> Path:
        return Path(self.license_file).expanduser() if self.license_file else self.data_dir / "license.json"

    @property
    def cold_cache_dir(self) -> Path:
        return self.data_dir / "cold-cache"

    @property
    def ui_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}/"


def _coerce(setting: Setting, value: Any, source: str) -> Any:
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, setting.type) and not (setting.type is int and isinstance(value, bool)):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if setting.type is bool:
                if text.lower() in ("1", "true", "yes", "on"):
                    return True
                if text.lower() in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError(text)
            if setting.type is int:
                return int(text)
            if setting.type is float:
                return float(text)
            return text
        except ValueError:
            pass
    if setting.type is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise ConfigError(
        f"{source}: setting '{setting.name}' must be a {setting.type.__name__}, got {value!r}"
    )


def _from_file(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; pass an existing TOML file to --config")
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}")
    section = dict(raw.get("lynex", raw))
    section.pop("cold", None)
    out = {}
    for key, value in section.items():
        name = key.replace("-", "_")
        if name not in _BY_NAME:
            known = ", ".join(sorted(_BY_NAME))
            raise ConfigError(f"config file {path}: unknown setting '{key}'; known settings: {known}")
        out[name] = _coerce(_BY_NAME[name], value, f"config file {path}")
    return out


_COLD_FIELDS = {f.name: f for f in dataclasses.fields(ColdLocation) if f.name != "name"}


def _cold_locations(path: Path | None, environ: Mapping[str, str]) -> tuple[ColdLocation, ...]:
    """``[cold.<name>]`` tables of the config file, credentials overridable from the environment."""
    if path is None:
        return ()
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    tables = raw.get("lynex", raw).get("cold", raw.get("cold", {}))
    locations = []
    for name, table in tables.items():
        where = f"config file {path}: [cold.{name}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table with at least bucket = \"...\"")
        unknown = set(table) - set(_COLD_FIELDS)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(_COLD_FIELDS)}")
        values = dict(table)
        for key in ("access_key", "secret_key", "endpoint"):
            env = f"LYNEX_COLD_{name.upper()}_{key.upper()}"
            if env in environ:
                values[key] = environ[env]
        if not values.get("bucket"):
            raise ConfigError(f"{where}: bucket is required")
        for key, value in values.items():
            expected = bool if _COLD_FIELDS[key].type in (bool, "bool") else str
            if not isinstance(value, expected):
                raise ConfigError(f"{where}: {key} must be a {expected.__name__}, got {value!r}")
        locations.append(ColdLocation(name=name, **values))
    return tuple(locations)


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    out = {}
    for setting in SETTINGS:
        key = "LYNEX_" + setting.name.upper()
        if key in environ:
            out[setting.name] = _coerce(setting, environ[key], f"environment variable {key}")
    return out


def load_config(
    flags: Mapping[str, Any] | None = None,
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the one Config: defaults < config file < LYNEX_* environment < flags (None = unset)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    file_path = config_file or environ.get("LYNEX_CONFIG")
    if file_path:
        values.update(_from_file(Path(file_path).expanduser()))
    values.update(_from_env(environ))
    for name, value in (flags or {}).items():
        if value is None:
            continue
        if name not in _BY_NAME:
            raise ConfigError(f"unknown setting '{name}'")
        values[name] = _coerce(_BY_NAME[name], value, f"flag --{name.replace('_', '-')}")
    values["data_dir"] = Path(values.get("data_dir", "~/.lynex")).expanduser().resolve()
    values["cold_locations"] = _cold_locations(Path(file_path).expanduser() if file_path else None, environ)
    config = Config(**values)
    _validate(config)
    return config


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}


def memory_size(text: str, name: str) -> int:
    """Bytes of a size as DuckDB reads it ("512MB" = 512·10⁶, "1GiB" = 2³⁰); ConfigError if unreadable."""
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(f"setting '{name}' must be a size such as 512MB or 2GiB, got {text!r}")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "B").lower()])


def _validate(config: Config) -> None:
    if not 0 < config.port < 65536:
        raise ConfigError(f"port must be between 1 and 65535, got {config.port}")
    if not 0 <= config.otlp_port < 65536 or config.otlp_port == config.port:
        raise ConfigError(f"otlp_port must be 0 (off) or a port other than {config.port}, got {config.otlp_port}")
    for name in ("max_body_bytes", "max_decompressed_bytes", "max_batch_spans", "max_text_bytes",
                 "buffer_max_spans", "buffer_max_bytes", "flush_max_rows", "dedup_window"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"setting '{name}' must be positive, got {getattr(config, name)}")
    if not 1 <= config.enrichment_workers <= 32:
        raise ConfigError(f"enrichment_workers must be between 1 and 32, got {config.enrichment_workers}")
    duckdb_bytes = memory_size(config.duckdb_memory_limit, "duckdb_memory_limit")
    if duckdb_bytes < config.buffer_max_bytes:
        # Measured with DuckDB's default row groups: with less, a checkpoint under full ingest
        # failed for want of memory and DuckDB invalidated the database (the store is reopened,
        # an outage of seconds). With the store's 16k-row groups (storage/hot.py) checkpoints
        # need far less, but wide reads under full ingest still ran out at 320MB with the
        # default 256 MiB buffer, so the rule stays until it is measured again.
        raise ConfigError(f"duckdb_memory_limit ({config.duckdb_memory_limit}) must be at least buffer_max_bytes "
                          f"({config.buffer_max_bytes / MiB:.0f} MiB): DuckDB needs room for an insert of half "
                          "the buffer and its checkpoint; raise the limit or lower buffer_max_bytes")
    if config.cold_location:
        config.find_cold_location(config.cold_location)  # raises with the list of configured ones
    if config.keep_days < config.local_days:
        raise ConfigError(f"keep_days ({config.keep_days}) must be at least local_days ({config.local_days})")
    if config.alert_eval_interval_s <= 0 or config.alert_delivery_attempts < 1 or config.alert_retry_backoff_s < 0:
        raise ConfigError("alert_eval_interval_s must be > 0, alert_delivery_attempts ≥ 1 and "
                          "alert_retry_backoff_s ≥ 0")
    if config.public_url and not config.public_url.startswith(("http://", "https://")):
        raise ConfigError(f"public_url must start with http:// or https://, got {config.public_url!r}")
    if config.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"log_level must be one of debug, info, warning, error; got {config.log_level!r}")
