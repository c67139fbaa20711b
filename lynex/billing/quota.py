"""Quota decisions as pure functions of numbers and a time: tested without a server.

Billing months are UTC calendar months of the billing clock (injectable, so tests can cross a
month boundary without waiting for one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

WARNING_LEVELS = (80, 100)  # percent of a limit at which admins are warned


@dataclass(frozen=True)
class Refusal:
    """Why ingest answers 429: the quota's name, the numbers, and when to retry."""

    quota: str
    limit: int
    used: int
    retry_after_s: int

    @property
    def message(self) -> str:
        left = max(0, self.limit - self.used)
        return (f"quota exceeded: {self.quota} ({self.used:,} of {self.limit:,} used this month, {left:,} left); "
                f"spans are accepted again when the month ends or with a larger plan")


def month_start(ts: float) -> dt.datetime:
    """Start (UTC, naive) of the billing month holding epoch time ``ts``."""
    when = dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(tzinfo=None)
    return when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(start: dt.datetime) -> dt.datetime:
    return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def month_key(ts: float) -> str:
    return month_start(ts).strftime("%Y-%m")


def seconds_to_next_month(ts: float) -> int:
    """Whole seconds from ``ts`` until the next billing month begins (at least 1)."""
    end = next_month(month_start(ts)).replace(tzinfo=dt.timezone.utc).timestamp()
    return max(1, int(end - ts + 0.999))


def check_spans(used: int, incoming: int, limit: int, now: float) -> Refusal | None:
    """Refuse a batch that would take this month's spans past ``limit`` (0 = unlimited).

    The whole batch is refused, never part of it: a client retrying the batch then sees one
    consistent answer, and nothing is half-accepted.
    """
    if limit <= 0 or incoming <= 0 or used + incoming <= limit:
        return None
    return Refusal("spans_per_month", limit, used, seconds_to_next_month(now))


def warning_level(used: int, limit: int) -> int:
    """The highest warning level (0, 80 or 100 percent) that ``used`` has reached."""
    if limit <= 0:
        return 0
    reached = [level for level in WARNING_LEVELS if used * 100 >= level * limit]
    return reached[-1] if reached else 0


def over_limit(count: int, limit: int) -> bool:
    """True when ``count`` things (projects, seats) exceed ``limit`` (0 = unlimited)."""
    return limit > 0 and count > limit
