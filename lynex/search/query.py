"""The search box language: parsed into clauses (pure), then built into tantivy queries.

    refund policy        both words, anywhere in the span (AND)
    "refund policy"      the exact phrase
    refund*              any word starting with "refund"
    "refund pol*"        the phrase, its last word a prefix
    退款 / 払い戻し        Chinese, Japanese, Thai…: substring match on characters
    gpt-4o               punctuation splits words, so this is the phrase "gpt 4o"

Case never matters. Characters other than letters and digits are separators. An unclosed quote
runs to the end of the query. A phrase mixing Chinese/Japanese with other text is matched as its
parts (each a phrase in its own field), not necessarily adjacent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import tantivy

from lynex.search import text as _text

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


class QueryBuilder:
    """Turns clauses into tantivy queries, analysing words exactly as the index did."""

    def __init__(self, schema: tantivy.Schema, analyzers: dict[str, tantivy.TextAnalyzer]):
        self.schema = schema
        self.analyzers = analyzers

    def clauses(self, query: str) -> list[tantivy.Query]:
        """One tantivy query per clause of the search box string (all must match)."""
        out: list[tantivy.Query] = []
        for clause in parse(_text.normalize_query_text(query)):
            q = self.clause(clause)
            if q is not None:
                out.append(q)
        return out

    def clause(self, clause: Clause) -> tantivy.Query | None:
        """A term, phrase or prefix query over the words and/or chars fields (None: no tokens)."""
        parts: list[tantivy.Query] = []
        pieces = list(_text.unspaced_runs(clause.text))
        for position, (unspaced, piece) in enumerate(pieces):
            field = "chars" if unspaced else "words"
            tokens = self.analyzers["lynex_" + field].analyze(piece)
            if not tokens:
                continue
            prefix = clause.kind == "prefix" and not unspaced and position == len(pieces) - 1
            if prefix:
                last = _regex_escape(tokens[-1]) + ".*"
                parts.append(tantivy.Query.regex_query(self.schema, field, last) if len(tokens) == 1
                             else tantivy.Query.regex_phrase_query(
                                 self.schema, field, [*map(_regex_escape, tokens[:-1]), last]))
            elif len(tokens) == 1:
                parts.append(tantivy.Query.term_query(self.schema, field, tokens[0]))
            else:
                parts.append(tantivy.Query.phrase_query(self.schema, field, tokens))
        return None if not parts else parts[0] if len(parts) == 1 else self.all(parts)

    def project(self, project_id: str) -> tantivy.Query:
        return tantivy.Query.term_query(self.schema, "project_id", project_id, index_option="basic")

    def range(self, field: str, lo: int | None, hi: int | None) -> tantivy.Query:
        """Inclusive range over an integer fast field; None is unbounded."""
        return tantivy.Query.range_query(self.schema, field, tantivy.FieldType.Integer, lo, hi)

    @staticmethod
    def all(queries: list[tantivy.Query]) -> tantivy.Query:
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in queries])


def _regex_escape(token: str) -> str:
    """Tokens are letters and digits already; escape anything else for tantivy's regex syntax."""
    return "".join(ch if ch.isalnum() else "\\" + ch for ch in token)
