"""Cold storage: Parquet parts on S3-compatible stores, read back through a bounded local cache.

Objects keep the local layout under ``s3://<bucket>/<prefix>/project=<id>/date=<day>/part-….parquet``
so the cold tier is readable without Lynex (see README: "Reading the data without Lynex").
Uploads are verified (size and Parquet row count read back) before the local copy is deleted.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from lynex.config import ColdLocation

log = logging.getLogger(__name__)


class ColdError(Exception):
    """A cold-storage operation failed; the message names the location and the cause."""


def _filesystem(location: ColdLocation) -> pafs.S3FileSystem:
    if location.checksum_when_required:
        # Read by the AWS SDK inside pyarrow when it builds its S3 client (DESIGN.md).
        os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
        os.environ.setdefault("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required")
    scheme, endpoint = "https", None
    if location.endpoint:
        scheme, _, endpoint = location.endpoint.partition("://")
        if not endpoint:
            scheme, endpoint = "https", location.endpoint
    return pafs.S3FileSystem(
        access_key=location.access_key or None, secret_key=location.secret_key or None,
        region=location.region, scheme=scheme, endpoint_override=endpoint,
        force_virtual_addressing=not location.path_style, connect_timeout=5, request_timeout=30,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=2))


class ColdTier:
    """Upload, verify, fetch (cached) and delete parts per named location."""

    def __init__(self, locations: tuple[ColdLocation, ...], cache_dir: Path, cache_bytes: int):
        self.locations = {loc.name: loc for loc in locations}
        self._fs: dict[str, pafs.S3FileSystem] = {}
        self.cache_dir = cache_dir
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[str, int] = OrderedDict()  # local path → bytes, LRU order
        self._lock = threading.Lock()
        self.last_error: str | None = None
        if cache_dir.exists():
            for path in sorted(cache_dir.rglob("*.parquet"), key=lambda p: p.stat().st_atime):
                self._cache[str(path)] = path.stat().st_size

    def fs(self, name: str) -> pafs.S3FileSystem:
        if name not in self.locations:
            raise ColdError(f"cold location '{name}' is not configured")
        if name not in self._fs:
            self._fs[name] = _filesystem(self.locations[name])
        return self._fs[name]

    def object_key(self, name: str, relative: str) -> str:
        """``bucket/prefix/relative`` — the path pyarrow's S3 filesystem takes."""
        location = self.locations[name]
        prefix = location.prefix.strip("/")
        return "/".join(part for part in (location.bucket, prefix, relative) if part)

    def upload(self, name: str, local: Path, relative: str, rows: int) -> str:
        """Copy a part up and verify it; returns the object key. Raises ColdError on any failure."""
        key = self.object_key(name, relative)
        try:
            fs = self.fs(name)
            with open(local, "rb") as src, fs.open_output_stream(key) as dst:
                while chunk := src.read(8 << 20):
                    dst.write(chunk)
            info = fs.get_file_info(key)
            if info.size != local.stat().st_size:
                raise ColdError(f"uploaded size {info.size} != local size {local.stat().st_size}")
            with fs.open_input_file(key) as fh:
                stored_rows = pq.ParquetFile(fh).metadata.num_rows
            if stored_rows != rows:
                raise ColdError(f"uploaded object has {stored_rows} rows, expected {rows}")
        except ColdError as exc:
            self.last_error = f"cold location '{name}': {exc}"
            raise ColdError(self.last_error) from None
        except (OSError, ValueError) as exc:
            self.last_error = f"cold location '{name}' ({self.locations[name].endpoint or 'AWS'}): {exc}"
            raise ColdError(self.last_error) from None
        self.last_error = None
        return key

    def fetch(self, name: str, key: str) -> str:
        """A local path holding the object (downloaded into the bounded cache on first use)."""
        local = self.cache_dir / name / key
        with self._lock:
            if str(local) in self._cache and local.exists():
                self._cache.move_to_end(str(local))
                return str(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_suffix(".part")
        try:
            with self.fs(name).open_input_stream(key) as src, open(tmp, "wb") as dst:
                while chunk := src.read(8 << 20):
                    dst.write(chunk)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            self.last_error = f"cold location '{name}': cannot read {key}: {exc}"
            raise ColdError(self.last_error) from None
        os.replace(tmp, local)
        with self._lock:
            self._cache[str(local)] = local.stat().st_size
            self._evict(keep=str(local))
        return str(local)

    def _evict(self, keep: str) -> None:
        total = sum(self._cache.values())
        for path in list(self._cache):
            if total <= self.cache_bytes:
                break
            if path == keep:
                continue
            total -= self._cache.pop(path)
            Path(path).unlink(missing_ok=True)

    def delete(self, name: str, key: str) -> None:
        try:
            # pyarrow may leave a zero-byte "directory/" marker once a prefix's last object is
            # gone (its S3 directory emulation); markers hold no data.
            self.fs(name).delete_file(key)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ColdError(f"cold location '{name}': cannot delete {key}: {exc}") from None
        local = self.cache_dir / name / key
        with self._lock:
            self._cache.pop(str(local), None)
        local.unlink(missing_ok=True)

    def cached_bytes(self) -> int:
        return sum(self._cache.values())
