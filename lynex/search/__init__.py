"""Full-text search over span text (prompts, responses, tool calls, metadata) with tantivy."""

from lynex.search.index import SearchIndex, SearchSettings, Source

__all__ = ["SearchIndex", "SearchSettings", "Source"]
