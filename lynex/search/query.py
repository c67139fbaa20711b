"""The search box language, parsed into clauses (pure; turned into tantivy queries by the index).

    refund policy        both words, anywhere in the span (AND)
    "refund policy"      the exact phrase
    refund*              any word starting with "refund"
    "refund pol*"        the phrase, its last word a prefix
    退款 / 払い戻し        Chinese, Japanese, Thai…: substring match on characters
    gpt-4o               punctuation splits words, so this is the phrase "gpt 4o"

Case never matters. Characters other than letters and digits are separators. An unclosed quote
runs to the end of the query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["word", "phrase", "prefix"]


@dataclass(frozen=True)
class Clause:
    kind: Kind
    text: str


def parse(query: str) -> list[Clause]:
    """Split a search box string into clauses that must all match."""
    clauses: list[Clause] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch == '"':
            end = query.find('"', i + 1)
            end = n if end < 0 else end
            text = query[i + 1:end].strip()
            if text.endswith("*") and text.rstrip("*").strip():
                clauses.append(Clause("prefix", text.rstrip("*")))
            elif text.strip("*").strip():
                clauses.append(Clause("phrase", text))
            i = end + 1
        else:
            end = i
            while end < n and not query[end].isspace() and query[end] != '"':
                end += 1
            word = query[i:end]
            if word.endswith("*") and word.rstrip("*"):
                clauses.append(Clause("prefix", word.rstrip("*")))
            elif word.strip("*"):
                clauses.append(Clause("word", word))
            i = end
    return clauses
