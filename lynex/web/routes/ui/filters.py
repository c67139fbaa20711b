"""Filter state of the overview and timeline pages: parsed from, and written back to, the URL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from lynex.storage.query import QueryError, SpanFilter, parse_time
from lynex.web.routes.ui.web import query_string, utc_now

RANGES = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
OVERVIEW_FILTERS = ("model", "provider", "environment", "release", "status")
TIMELINE_FILTERS = ("model", "provider", "status", "error_class", "kind", "environment", "release", "tag",
                    "user_id", "session_id", "trace_id", "q")


@dataclass
class ViewState:
    """What the URL says: the raw parameters kept (for links), the SpanFilter, the window."""

    params: dict[str, str]
    flt: SpanFilter
    range: str
    since: dt.datetime | None
    until: dt.datetime | None
    errors: list[str] = field(default_factory=list)

    def url(self, path: str, **changes) -> str:
        return path + query_string(self.params, **changes)


def parse_view(query, names: tuple[str, ...], default_range: str, now: dt.datetime | None = None) -> ViewState:
    """Read filters and the time range from query parameters; bad values are reported, not fatal."""
    now = now or utc_now()
    params: dict[str, str] = {}
    values: dict[str, str | None] = {}
    errors: list[str] = []
    for name in names:
        value = (query.get(name) or "").strip()[:500]
        values[name] = value or None
        if value:
            params[name] = value
    flt = SpanFilter(**values)
    rng = query.get("range") or default_range
    if rng not in RANGES and rng not in ("custom", "all"):
        errors.append(f"range: '{rng}' must be one of {', '.join(RANGES)}, custom or all")
        rng = default_range
    since = until = None
    if rng in RANGES:
        since, until = now - dt.timedelta(seconds=RANGES[rng]), now
    elif rng == "custom":
        for name in ("since", "until"):
            raw = (query.get(name) or "").strip()
            if raw:
                params[name] = raw
                try:
                    value = parse_time(name, raw, now)
                except QueryError as exc:
                    errors.append(str(exc))
                    continue
                if name == "since":
                    since = value
                else:
                    until = value
    if rng != default_range:
        params["range"] = rng
    flt.since, flt.until = since, until
    try:
        flt.validate()
    except QueryError as exc:
        errors.append(str(exc))
        for name in ("status", "kind"):
            if name in str(exc).split(":")[0]:
                setattr(flt, name, None)
        if flt.since and flt.until and flt.since > flt.until:
            flt.since, flt.until = flt.until, flt.since
    # Keep the range key first in links (it reads better); the rest in a stable order.
    ordered = {k: params[k] for k in ("range", "since", "until") if k in params}
    ordered.update({k: v for k, v in params.items() if k not in ordered})
    return ViewState(ordered, flt, rng, since, until, errors)
