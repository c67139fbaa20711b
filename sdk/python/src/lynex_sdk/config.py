"""SDK configuration: built once by `init()`, frozen, passed down. The only module that reads os.environ."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

DEFAULT_HOST = "http://127.0.0.1:8600"

#: before_send receives the span as it will go on the wire and returns it (possibly edited) or None to drop.
BeforeSend = Callable[[Dict[str, Any]], Optional[Dict[str, Any]]]


@dataclass(frozen=True)
class Config:
    """Every SDK setting, validated. Build it with `Config.resolve(...)`."""

    api_key: str = ""
    host: str = DEFAULT_HOST
    environment: Optional[str] = None
    release: Optional[str] = None
    sample_rate: float = 1.0
    before_send: Optional[BeforeSend] = None
    capture_content: bool = True
    enabled: bool = True
    #: Directory for the offline spool; None = ~/.cache/lynex-sdk/<project hash>; "" disables the spool.
    spool_dir: Optional[str] = None
    spool_max_bytes: int = 64 * 1024 * 1024
    max_queue_size: int = 10_000
    batch_max_spans: int = 100
    batch_max_bytes: int = 1024 * 1024
    flush_interval: float = 1.0
    request_timeout: float = 5.0
    shutdown_timeout: float = 2.0
    #: Quick in-line retries of one batch before it is spooled and the transport backs off.
    max_retries: int = 2
    retry_backoff_base: float = 0.25
    retry_backoff_max: float = 30.0
    #: Longest string kept in input/output/metadata; longer text is truncated with a marker.
    max_string_chars: int = 100_000
    gzip: bool = True
    extra_headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ingest_url(self) -> str:
        """Full URL of the ingest endpoint."""
        return self.host.rstrip("/") + "/v1/ingest"

    def resolved_spool_dir(self) -> Optional[str]:
        """Spool directory for this project (None = spool disabled)."""
        if self.spool_dir == "":
            return None
        base = self.spool_dir or os.path.join(os.path.expanduser("~"), ".cache", "lynex-sdk")
        # One sub-directory per (host, key) so a spool is never replayed to another project.
        digest = hashlib.sha256(f"{self.host}\0{self.api_key}".encode()).hexdigest()[:16]
        return os.path.join(base, digest)

    @classmethod
    def resolve(cls, env: Optional[Mapping[str, str]] = None, **kwargs: Any) -> Tuple["Config", List[str]]:
        """Merge keyword arguments over LYNEX_* environment variables; return (config, problems).

        A non-empty problem list means the SDK must run as a no-op; each problem says how to fix it.
        """
        env = os.environ if env is None else env
        problems: List[str] = []
        values: Dict[str, Any] = {k: v for k, v in kwargs.items() if v is not None}
        for key, var in (("api_key", "LYNEX_API_KEY"), ("host", "LYNEX_HOST"),
                         ("environment", "LYNEX_ENVIRONMENT"), ("release", "LYNEX_RELEASE"),
                         ("spool_dir", "LYNEX_SPOOL_DIR")):
            if key not in values and env.get(var):
                values[key] = env[var]
        if "enabled" not in values and env.get("LYNEX_ENABLED", "").lower() in ("0", "false", "no", "off"):
            values["enabled"] = False
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        for name in unknown:
            problems.append(f"unknown option {name!r} passed to lynex_sdk.init(); remove it")
            values.pop(name)
        try:
            config = cls(**values)
        except TypeError as exc:  # pragma: no cover - guarded by the unknown-key check
            return cls(enabled=False), [f"invalid lynex_sdk options: {exc}"]
        problems.extend(config._problems())
        return config, problems

    def _problems(self) -> List[str]:
        out: List[str] = []
        if not self.enabled:
            return out
        if not isinstance(self.api_key, str) or not self.api_key:
            out.append("no API key: pass lynex_sdk.init(api_key=...) or set LYNEX_API_KEY")
        parts = urlsplit(self.host) if isinstance(self.host, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            out.append(f"invalid host {self.host!r}: use a URL like {DEFAULT_HOST} (init(host=...) or LYNEX_HOST)")
        if not _is_number(self.sample_rate) or not 0.0 <= float(self.sample_rate) <= 1.0:
            out.append(f"invalid sample_rate {self.sample_rate!r}: use a number between 0.0 and 1.0")
        if self.before_send is not None and not callable(self.before_send):
            out.append("before_send must be a function taking a span dict and returning a dict or None")
        for name in ("max_queue_size", "batch_max_spans", "batch_max_bytes", "spool_max_bytes", "max_string_chars"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                out.append(f"invalid {name} {value!r}: use a positive integer")
        for name in ("flush_interval", "request_timeout", "shutdown_timeout", "retry_backoff_base",
                     "retry_backoff_max"):
            value = getattr(self, name)
            if not _is_number(value) or value <= 0:
                out.append(f"invalid {name} {value!r}: use a positive number of seconds")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            out.append(f"invalid max_retries {self.max_retries!r}: use an integer >= 0")
        return out


def _is_number(value: Union[int, float, Any]) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
