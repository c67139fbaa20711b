"""Full-text search over span text (prompts, responses, tool calls, metadata) with tantivy.

``SearchIndex`` and friends load lazily: code that only needs ``lynex.search.text`` (pure Python)
does not pay for tantivy in its memory. The index is written by a process of its own
(``lynex.search.writer``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["SearchIndex", "SearchSettings", "Source"]

if TYPE_CHECKING:
    from lynex.search.index import SearchIndex, SearchSettings, Source


def __getattr__(name: str):
    if name in __all__:
        from lynex.search import index
        return getattr(index, name)
    raise AttributeError(f"module 'lynex.search' has no attribute {name!r}")
