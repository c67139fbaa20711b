"""Usage reports: rows from the meter grouped by project, key, model, day or month. Pure functions.

Not every figure exists for every grouping: the store does not know which API key sent a span,
and the ingest edge does not know models or spend. Such figures are ``None`` (shown as "—"),
never a guess.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from lynex.billing.meter import EDGE_FIELDS, STORED_FIELDS, TIERS

GROUPS = ("project", "key", "model", "day", "month")
FIELDS = (*EDGE_FIELDS, *STORED_FIELDS, *(f"bytes_{t}" for t in TIERS))
_EDGE_GROUPS = ("project", "key", "day", "month")
_STORED_GROUPS = ("project", "model", "day", "month")
_STORAGE_GROUPS = ("project", "day", "month")


class ReportError(ValueError):
    """A bad report request (unknown group_by, bad time range); the message names the parameter."""


@dataclass
class UsageRow:
    group: dict
    values: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {**self.group, **self.values}


def _group_key(group_by: str, row: dict, when) -> tuple:
    if group_by == "project":
        return (("project_id", row["project_id"]),)
    if group_by == "key":
        return (("project_id", row["project_id"]), ("key_id", row["key_id"]))
    if group_by == "model":
        return (("model", row["model"] or None),)
    if group_by == "day":
        return (("day", when.strftime("%Y-%m-%d")),)
    return (("month", when.strftime("%Y-%m")),)


def group(group_by: str, edge: list[dict], stored: list[dict], storage: list[dict]) -> tuple[list[UsageRow], dict]:
    """Rows grouped by ``group_by`` (one of GROUPS) and the totals over all of them."""
    if group_by not in GROUPS:
        raise ReportError(f"group_by: must be one of {', '.join(GROUPS)}; got {group_by!r}")
    rows: dict[tuple, UsageRow] = {}

    def row_for(key: tuple) -> UsageRow:
        if key not in rows:
            values = {f: None for f in FIELDS}
            if group_by in _EDGE_GROUPS:
                values.update({f: 0 for f in EDGE_FIELDS})
            if group_by in _STORED_GROUPS:
                values.update({f: 0 for f in STORED_FIELDS})
                values["cost_usd"] = 0.0
            if group_by in _STORAGE_GROUPS:
                values.update({f"bytes_{t}": 0 for t in TIERS})
            rows[key] = UsageRow(dict(key), values)
        return rows[key]

    if group_by in _EDGE_GROUPS:
        for r in edge:
            target = row_for(_group_key(group_by, r, r["hour"])).values
            for f in EDGE_FIELDS:
                target[f] += r[f]
    if group_by in _STORED_GROUPS:
        for r in stored:
            target = row_for(_group_key(group_by, r, r["hour"])).values
            for f in STORED_FIELDS:
                target[f] += r[f]
    if group_by in _STORAGE_GROUPS:
        # Bytes stored are a level, not a flow: each group shows its latest sampled day.
        latest: dict[tuple, str] = {}
        for r in storage:
            key = _storage_key(group_by, r)
            latest[key] = max(latest.get(key, ""), r["day"])
        for r in storage:
            key = _storage_key(group_by, r)
            if r["day"] == latest[key]:
                row_for(key).values[f"bytes_{r['tier']}"] += r["bytes"]
    ordered = sorted(rows.values(), key=lambda u: tuple(str(v) for v in u.group.values()))
    totals = {f: None for f in FIELDS}
    for u in ordered:
        for f, v in u.values.items():
            if v is not None:
                totals[f] = (totals[f] or 0) + v
    if group_by in ("day", "month"):  # a level summed over days would be meaningless
        last = ordered[-1].values if ordered else {}
        for t in TIERS:
            totals[f"bytes_{t}"] = last.get(f"bytes_{t}")
    return ordered, totals


def _storage_key(group_by: str, r: dict) -> tuple:
    if group_by == "project":
        return (("project_id", r["project_id"]),)
    if group_by == "day":
        return (("day", r["day"]),)
    return (("month", r["day"][:7]),)


def to_csv(rows: list[UsageRow], columns: list[str] | None = None) -> str:
    """CSV with a header; empty cells for figures the grouping does not have."""
    out = io.StringIO()
    dicts = [r.as_dict() for r in rows]
    header = columns or (list(dicts[0]) if dicts else list(FIELDS))
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for d in dicts:
        writer.writerow({k: ("" if d.get(k) is None else _cell(d.get(k))) for k in header})
    return out.getvalue()


def _cell(value):
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # never let a spreadsheet run a project name as a formula
    return value
