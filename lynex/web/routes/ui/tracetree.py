"""A trace as rows for the tree + waterfall, rendered a page at a time.

Large traces (10,000+ spans) stay responsive because the server never renders them whole: rows
are emitted depth-first until a budget is spent, at most ``child_page`` children per parent, and
every cut leaves a "more" row that loads the rest of that parent's children on demand.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass
class SpanRow:
    span: dict
    depth: int
    children: int
    descendants: int
    offset_pct: float
    width_pct: float


@dataclass
class MoreRow:
    parent_id: str | None  # None: more roots
    offset: int
    remaining: int  # siblings not shown
    hidden: int  # spans in them and their subtrees
    depth: int


@dataclass
class Outline:
    spans: dict[str, dict]
    children: dict[str | None, list[dict]]
    descendants: dict[str, int]
    start: dt.datetime
    duration_us: float

    @classmethod
    def build(cls, spans: list[dict]) -> "Outline":
        """Index spans (already ordered by start time) by parent; orphans become roots."""
        by_id = {s["id"]: s for s in spans}
        children: dict[str | None, list[dict]] = {}
        for s in spans:
            parent = s.get("parent_id")
            key = parent if parent in by_id and parent != s["id"] else None
            children.setdefault(key, []).append(s)
        # Post-order over an explicit stack (traces can be deep); a parent cycle is cut at its
        # first span, which becomes a root, so every span is shown exactly once.
        order: list[str] = []
        seen: set[str] = set()

        def walk(root_ids: list[str]) -> None:
            stack = list(root_ids)
            while stack:
                sid = stack.pop()
                if sid in seen:
                    continue
                seen.add(sid)
                order.append(sid)
                stack.extend(c["id"] for c in children.get(sid, []))

        walk([s["id"] for s in children.get(None, [])])
        for s in spans:
            if s["id"] not in seen:
                children[s["parent_id"]].remove(s)
                children.setdefault(None, []).append(s)
                walk([s["id"]])
        descendants: dict[str, int] = {}
        for sid in reversed(order):
            descendants[sid] = sum(1 + descendants.get(c["id"], 0) for c in children.get(sid, []))
        start = min(s["start_time"] for s in spans)
        end = max(_end(s) for s in spans)
        duration = max((end - start) / dt.timedelta(microseconds=1), 1.0)
        return cls(by_id, children, descendants, start, duration)

    def rows(self, parent_id: str | None = None, offset: int = 0, depth: int = 0, budget: int = 400,
             child_page: int = 100) -> list[SpanRow | MoreRow]:
        """Depth-first rows from ``parent_id``'s children[offset:], cut into "more" rows."""
        out: list[SpanRow | MoreRow] = []
        # frames: [parent, siblings, next index, depth, page end]
        stack = [[parent_id, self.children.get(parent_id, []), offset, depth, offset + child_page]]
        shown = 0
        while stack:
            frame = stack[-1]
            parent, siblings, i, d, page_end = frame
            if i >= len(siblings):
                stack.pop()
                continue
            if i >= page_end or shown >= budget:
                rest = siblings[i:]
                out.append(MoreRow(parent, i, len(rest), sum(1 + self.descendants.get(s["id"], 0) for s in rest), d))
                stack.pop()
                continue
            span = siblings[i]
            frame[2] = i + 1
            out.append(self._row(span, d))
            shown += 1
            kids = self.children.get(span["id"])
            if kids:
                stack.append([span["id"], kids, 0, d + 1, child_page])
        return out

    def _row(self, span: dict, depth: int) -> SpanRow:
        offset = (span["start_time"] - self.start) / dt.timedelta(microseconds=1)
        width = (_end(span) - span["start_time"]) / dt.timedelta(microseconds=1)
        return SpanRow(span, depth, len(self.children.get(span["id"], [])), self.descendants.get(span["id"], 0),
                       round(offset / self.duration_us * 100, 3), round(max(width / self.duration_us * 100, 0.3), 3))

    def depth_of(self, span_id: str) -> int:
        depth, seen = 0, set()
        parent = self.spans[span_id].get("parent_id")
        while parent in self.spans and parent not in seen:
            seen.add(parent)
            depth += 1
            parent = self.spans[parent].get("parent_id")
        return depth


def _end(span: dict) -> dt.datetime:
    if span.get("end_time") is not None:
        return max(span["end_time"], span["start_time"])
    return span["start_time"] + dt.timedelta(milliseconds=span.get("latency_ms") or 0)
