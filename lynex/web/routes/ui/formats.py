"""Jinja filters: numbers, durations, costs and times as the dashboard shows them."""

from __future__ import annotations

import datetime as dt

from markupsafe import Markup, escape


def ms(value) -> str:
    """Latency: '820 ms', '1.42 s', '3m 05s'."""
    if value is None:
        return "–"
    value = float(value)
    if value < 1000:
        return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"
    if value < 60_000:
        return f"{value / 1000:.2f} s"
    minutes, seconds = divmod(value / 1000, 60)
    return f"{int(minutes)}m {int(seconds):02d}s"


def usd(value) -> str:
    if value is None:
        return "–"
    value = float(value)
    if value == 0:
        return "$0"
    if abs(value) < 0.01:
        text = f"${value:.6f}".rstrip("0").rstrip(".")
        return text if text != "$0" else "<$0.000001"
    return f"${value:,.2f}" if abs(value) >= 100 else f"${value:.4f}"


def count(value) -> str:
    if value is None:
        return "–"
    value = float(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e4)):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}" if unit != "k" else f"{value / 1e3:.1f}k"
    return f"{int(value):,}" if value == int(value) else f"{value:,.2f}"


def pct(value) -> str:
    return "–" if value is None else f"{float(value) * 100:.1f}%"


def iso(value: dt.datetime | None) -> str:
    """Naive UTC → RFC 3339 with Z (what ``<time datetime>`` and the read API carry)."""
    if value is None:
        return ""
    return value.isoformat(timespec="milliseconds") + "Z"


def timestamp(value: dt.datetime | None) -> Markup:
    """A ``<time>`` in UTC; app.js rewrites its text into the viewer's time zone."""
    if value is None:
        return Markup("–")
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(
        iso(value), value.strftime("%Y-%m-%d %H:%M:%S") + " UTC")


def epoch(value: float | None) -> dt.datetime | None:
    """Epoch seconds (metadata timestamps) → naive UTC."""
    if value is None:
        return None
    return dt.datetime.fromtimestamp(float(value), dt.timezone.utc).replace(tzinfo=None)


def epoch_us(value: dt.datetime | None) -> str:
    """Naive UTC → epoch microseconds: the ``at`` hint of span links (see SpanQueries.get_span)."""
    return "" if value is None else str((value - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1))


def from_epoch_us(text: str | None) -> dt.datetime | None:
    """The ``at`` query parameter back to naive UTC; anything malformed is simply no hint."""
    if not text or not text.isdigit() or len(text) > 19:
        return None
    return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(text))


def flagged(flags, name: str) -> bool:
    return bool(flags) and name in flags


def truncate(text: str | None, limit: int = 140) -> str:
    if not text:
        return ""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


FILTERS = {"ms": ms, "usd": usd, "count": count, "pct": pct, "iso": iso, "epoch": epoch, "epoch_us": epoch_us,
           "timestamp": timestamp,
           "flagged": flagged, "truncate_text": truncate, "e": escape}
