"""The pure parts: query parsing and span text extraction."""

from lynex.search.query import Clause, parse
from lynex.search.text import span_text, split_scripts


def test_parse_words_phrases_prefixes():
    assert parse('refund  "Exact Phrase" pol* "unclosed rest') == [
        Clause("word", "refund"), Clause("phrase", "Exact Phrase"), Clause("prefix", "pol"),
        Clause("phrase", "unclosed rest")]
    assert parse('  * "" ') == []


def test_span_text_takes_contents_arguments_and_metadata_keys():
    text = span_text("agent.step", "gpt-4o",
                     '[{"role": "user", "content": [{"type": "text", "text": "hello"}]}]',
                     '{"role": "assistant", "tool_calls": [{"type": "function", "function": '
                     '{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}}]}',
                     '{"customer_tier": "gold", "n": 42}', 10_000)
    for expected in ("agent.step", "gpt-4o", "hello", "get_weather", "Paris", "customer_tier", "gold", "42"):
        assert expected in text
    assert "assistant" not in text and "function" not in text.replace("get_weather", "")


def test_split_scripts_moves_unspaced_runs():
    assert split_scripts("plain ascii") == ("plain ascii", "")
    words, chars = split_scripts("Hello世界 and 返金ポリシー")
    assert "世" not in words and "hello" in words.lower()
    assert chars.split("\n") == ["世界", "返金ポリシー"]
