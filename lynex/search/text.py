"""Pure text preparation shared by indexing and querying: what of a span is searchable, and how
text is split so that every script is findable.

Two fields, because one tokenizer cannot serve all scripts at the speed ingest needs:

* ``words`` — tantivy's *simple* tokenizer (split on anything not alphanumeric), lowercased and
  ASCII-folded. Latin, Cyrillic, Greek, Arabic, Hebrew, Hangul, Devanagari… are space-separated
  and split well here. It runs at tens of MB/s, which the ingest rate needs (a regex tokenizer
  measured ~4× slower).
* ``chars`` — scripts written without spaces (Chinese, Japanese kana, Thai, Lao, Khmer, Burmese)
  are cut out of the text in Python and indexed one character per token *with positions*, so a
  query is a phrase of consecutive characters: an exact substring match, whatever the word
  boundaries. Trade-off (vs character bigrams): common characters have long posting lists, so
  CJK queries cost more than word queries and the field is larger per character; in exchange a
  1-character query works and phrase matching is exact. tantivy's n-gram tokenizer would give
  bigrams, but it gives every gram position 0, so phrases over grams cannot be checked.

Arabic: tashkeel (harakat) and tatweel are removed on both sides so that vocalised and plain
spellings match; attached clitics (ال, و…) are not split, so use a prefix (``كتاب*``) or the
attached form (documented limitation).
"""

from __future__ import annotations

import re
from typing import Any, Iterable

import msgspec

# Scripts without spaces between words: indexed per character (the ``chars`` field).
_UNSPACED = (
    "\u0e00-\u0e7f"  # Thai
    "\u0e80-\u0eff"  # Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u2e80-\u2fdf"  # CJK radicals
    "\u3005-\u3007\u3021-\u3029"  # 々 〆 〇, Hangzhou numerals
    "\u3040-\u30ff"  # Hiragana, Katakana (incl. ー)
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uff9f"  # half-width Katakana
    "\U00020000-\U0003134f"  # CJK extensions B–G
)
UNSPACED_RUN = re.compile(f"[{_UNSPACED}]+")
# Arabic harakat, superscript alef, tatweel: dropped so vocalised text matches plain queries.
_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_HAS_ARABIC = re.compile("[\u0600-\u06ff]")

# Structural values in message lists that would match almost every span ("user", "text").
_SKIP_KEYS = frozenset({"role", "type"})
# Inline binary payloads (images, audio) are not text: indexing them only bloats the index.
_BLOB_PREFIX = "data:"
_BLOB_MIN_CHARS = 256

_decode = msgspec.json.decode


def _collect(value: Any, out: list[str], keys: bool) -> None:
    """Append the searchable strings of a decoded JSON value (keys too when ``keys``)."""
    if isinstance(value, str):
        if not (len(value) >= _BLOB_MIN_CHARS and value.startswith(_BLOB_PREFIX)):
            out.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            if keys:
                out.append(k)
            elif k in _SKIP_KEYS:
                continue
            _collect(v, out, keys)
    elif isinstance(value, list):
        for v in value:
            _collect(v, out, keys)
    elif keys and isinstance(value, (int, float)) and not isinstance(value, bool):
        out.append(str(value))


def json_strings(text: str | bytes | None, out: list[str], keys: bool = False) -> None:
    """Append the strings inside a stored JSON payload; text that is not JSON is taken as is."""
    if not text:
        return
    try:
        value = _decode(text)
    except msgspec.DecodeError:
        out.append(text if isinstance(text, str) else text.decode("utf-8", "replace"))
        return
    _collect(value, out, keys)


def span_text(name: str | None, model: str | None, input: str | bytes | None, output: str | bytes | None,
              metadata: str | bytes | None, max_chars: int) -> str:
    """The searchable text of one span: name, model, message contents and tool-call arguments of
    input/output, and metadata keys and values; cut at ``max_chars``."""
    parts: list[str] = [name or "", model or ""]
    json_strings(input, parts)
    json_strings(output, parts)
    json_strings(metadata, parts, keys=True)
    text = "\n".join(parts)
    return text[:max_chars] if len(text) > max_chars else text


def split_scripts(text: str) -> tuple[str, str]:
    """Split text into (words-field text, chars-field text).

    Runs of unspaced scripts are moved to the second string (separated by newlines so that
    runs stay apart) and replaced by a space in the first, so "Hello世界" indexes ``hello`` as a
    word and 世, 界 as characters. Pure ASCII — most spans — returns at once.
    """
    if text.isascii():
        return text, ""
    if _HAS_ARABIC.search(text):
        text = _ARABIC_MARKS.sub("", text)
    runs = UNSPACED_RUN.findall(text)
    if not runs:
        return text, ""
    return UNSPACED_RUN.sub(" ", text), "\n".join(runs)


def normalize_query_text(text: str) -> str:
    """Apply the index-side normalization that the tokenizer does not do (Arabic marks)."""
    if not text.isascii() and _HAS_ARABIC.search(text):
        return _ARABIC_MARKS.sub("", text)
    return text


def unspaced_runs(text: str) -> Iterable[tuple[bool, str]]:
    """Yield (is_unspaced_run, piece) in order — how a query word is split across the two fields."""
    pos = 0
    for m in UNSPACED_RUN.finditer(text):
        if m.start() > pos:
            yield False, text[pos:m.start()]
        yield True, m.group()
        pos = m.end()
    if pos < len(text):
        yield False, text[pos:]


def prepared(name: str | None, model: str | None, input: str | bytes | None, output: str | bytes | None,
             metadata: str | bytes | None, max_chars: int) -> tuple[str, str]:
    """(words-field text, chars-field text) of one span: what the indexer adds as a document."""
    return split_scripts(span_text(name, model, input, output, metadata, max_chars))
