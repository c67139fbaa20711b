"""The index's fields and analyzers (see lynex/search/text.py for why two text fields)."""

from __future__ import annotations

import datetime as dt

import tantivy

FORMAT_VERSION = 1  # bump when the schema or tokenization changes: the index is rebuilt
_EPOCH = dt.datetime(1970, 1, 1)


def to_us(value: dt.datetime | int | float) -> int:
    """A start_time as microseconds since the epoch (naive datetimes are UTC, as stored)."""
    if isinstance(value, (int, float)):
        return int(value)
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (value - _EPOCH) // dt.timedelta(microseconds=1)


def schema() -> tantivy.Schema:
    """project_id (exact), seq and start_time (columnar, for filters and ordering), two text fields."""
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("project_id", tokenizer_name="raw", index_option="basic")
    sb.add_integer_field("seq", indexed=True, fast=True)
    sb.add_integer_field("start_time", fast=True)  # µs since the epoch, UTC
    sb.add_text_field("words", tokenizer_name="lynex_words", index_option="position")
    sb.add_text_field("chars", tokenizer_name="lynex_chars", index_option="position")
    return sb.build()


def analyzers() -> dict[str, tantivy.TextAnalyzer]:
    """The tokenizers the text fields name, registered on every open of the index."""
    tk, flt, build = tantivy.Tokenizer, tantivy.Filter, tantivy.TextAnalyzerBuilder
    return {
        # Tokens over 64 chars are hashes, base64 and minified blobs: nobody types them.
        "lynex_words": build(tk.simple()).filter(flt.remove_long(64)).filter(flt.lowercase())
        .filter(flt.ascii_fold()).build(),
        "lynex_chars": build(tk.regex(r"\S")).filter(flt.lowercase()).build(),
    }
