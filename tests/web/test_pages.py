"""Pages through the in-process app: span viewer shapes, 10,000-span trace paging, timeline pages,
live-tail filtering, and the pure helpers behind them."""

from __future__ import annotations

import datetime as dt
import html
import re

from lynex.storage import aggregates
from lynex.storage.query import SpanFilter
from lynex.web.routes.ui.messages import preview, to_messages
from lynex.web.routes.ui.tracetree import MoreRow, Outline, SpanRow
from tests.test_ingest_api import ingest

T0 = dt.datetime(2025, 3, 1, 12, 0, 0)


def _at(seconds: float) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).isoformat() + "Z"


def test_span_page_renders_roles_tools_media_and_long_text(ui_client, auth, project):
    long_text = "line\n" * 400
    span = {"id": "rich", "model": "gpt-4o", "start_time": _at(0), "latency_ms": 10, "input": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "what is in this image?"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "lookup", "arguments": "{\"q\": \"cats\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "cats are mammals"},
        {"role": "user", "content": long_text}],
        "output": {"choices": [{"message": {"role": "assistant", "content": "A cat."}}]},
        "metadata": {"k": "v"}, "model_parameters": {"temperature": 0}}
    ingest(ui_client, auth, [span])
    text = ui_client.get(f"/p/{project[0]}/spans/rich").text
    assert [html.unescape(r) for r in re.findall(r'<div class="role">([^<]+)', text)] == [
        "system", "user", "assistant", "tool · ", "user", "assistant"]
    assert "[image: image/png]" in text  # a placeholder, never the bytes
    assert "tool call → lookup" in text and "&#34;q&#34;: &#34;cats&#34;" in text
    assert "tool result ← <code>call_1</code>" in text and "cats are mammals" in text
    assert '<details class="long">' in text and "(2000 characters, show all)" in text
    assert "estimated" in text  # no usage sent: tokens are estimated and marked
    panel = ui_client.get(f"/p/{project[0]}/spans/rich?panel=1", headers={"HX-Request": "true"}).text
    assert panel.lstrip().startswith("<article")


def test_payload_that_is_not_chat_shows_as_json(ui_client, auth, project):
    ingest(ui_client, auth, [{"id": "j", "start_time": _at(0), "input": {"query": "<b>x</b>", "k": 3},
                              "output": [1, 2]}])
    text = ui_client.get(f"/p/{project[0]}/spans/j").text
    assert "&#34;query&#34;: &#34;&lt;b&gt;x&lt;/b&gt;&#34;" in text and "<b>x</b>" not in text


def test_ten_thousand_span_trace_is_paged_server_side(ui_client, auth, project):
    spans = [{"id": "root", "trace_id": "big", "name": "root", "kind": "agent", "start_time": _at(0), "latency_ms": 60_000}]
    for i in range(100):
        spans.append({"id": f"step-{i}", "trace_id": "big", "parent_id": "root", "kind": "chain",
                      "start_time": _at(i * 0.5), "latency_ms": 400})
        for j in range(99):
            spans.append({"id": f"call-{i}-{j}", "trace_id": "big", "parent_id": f"step-{i}", "kind": "tool",
                          "start_time": _at(i * 0.5 + j * 0.001), "latency_ms": 1,
                          **({"status": "error", "error": {"type": "Timeout"}} if j == 98 else {})})
    assert len(spans) == 10_001
    for k in range(0, len(spans), 5000):
        ingest(ui_client, auth, spans[k:k + 5000])
    base = f"/p/{project[0]}/traces/big"
    first = ui_client.get(base).text
    shown = re.findall(r'<tr class="trow[^"]*" data-nav-row data-span-id="([^"]+)"', first)
    assert len(shown) == 300  # the render budget, not 10,001 rows
    assert "10001 spans" in first and "100 errors" in first
    # following every "more" link shows each span exactly once, in depth-first order
    seen = list(shown)
    pending = re.findall(r'hx-get="([^"]+/more\?[^"]+)"', first)
    fetched = 0
    while pending:
        url = html.unescape(pending.pop(0))
        part = ui_client.get(url).text
        fetched += 1
        seen += re.findall(r'data-span-id="([^"]+)"', part)
        pending = re.findall(r'hx-get="([^"]+/more\?[^"]+)"', part) + pending
    assert sorted(seen) == sorted(s["id"] for s in spans) and len(seen) == len(set(seen))
    assert fetched < 200


def test_outline_cuts_and_cycles():
    t = T0
    spans = [{"id": "r", "parent_id": None, "start_time": t, "end_time": t + dt.timedelta(seconds=10)}]
    spans += [{"id": f"c{i}", "parent_id": "r", "start_time": t + dt.timedelta(seconds=1), "latency_ms": 1000}
              for i in range(5)]
    spans += [{"id": "x", "parent_id": "y", "start_time": t, "latency_ms": 1},
              {"id": "y", "parent_id": "x", "start_time": t, "latency_ms": 1}]
    outline = Outline.build(spans)
    rows = outline.rows(child_page=2)
    assert [type(r).__name__ for r in rows] == ["SpanRow", "SpanRow", "SpanRow", "MoreRow", "SpanRow", "SpanRow"]
    more = rows[3]
    assert isinstance(more, MoreRow) and (more.parent_id, more.offset, more.remaining) == ("r", 2, 3)
    c0 = rows[1]
    assert isinstance(c0, SpanRow) and c0.depth == 1 and (c0.offset_pct, c0.width_pct) == (10.0, 10.0)
    assert {r.span["id"] for r in rows if isinstance(r, SpanRow)} >= {"x", "y"}  # a parent cycle still shows


def test_timeline_pages_and_filter_urls(ui_client, auth, project):
    ingest(ui_client, auth, [{"id": f"s{i:03}", "name": f"n{i}", "start_time": _at(i), "latency_ms": 1,
                              "model": "m-even" if i % 2 == 0 else "m-odd", "input": f"prompt {i}"}
                             for i in range(120)])
    base = f"/p/{project[0]}/spans"
    page1 = ui_client.get(base, params={"model": "m-even"}).text
    ids = re.findall(r'data-span-id="([^"]+)"', page1)
    assert ids == [f"s{i:03}" for i in range(118, 18, -2)]  # 50, newest first
    more = html.unescape(re.search(r'id="load-more"[^>]*|href="([^"]+cursor=[^"]+)"', page1).group(0))
    next_url = html.unescape(re.search(r'href="([^"]+cursor=[^"]+)"', page1).group(1))
    assert "model=m-even" in next_url and more
    page2 = ui_client.get(next_url + "&fragment=rows", headers={"HX-Request": "true"}).text
    assert re.findall(r'data-span-id="([^"]+)"', page2) == [f"s{i:03}" for i in range(18, -1, -2)]
    assert not page2.lstrip().startswith("<!doctype")
    assert "prompt 118" in page1  # the preview
    bad = ui_client.get(base, params={"status": "meh", "range": "forever"}).text
    assert "status: &#39;meh&#39; must be ok or error" in bad and "range: &#39;forever&#39;" in bad


def test_live_tail_filter_uses_the_timeline_clauses(ui_client, auth, project):
    ingest(ui_client, auth, [{"id": "a", "model": "m1", "input": "needle here", "start_time": _at(0)},
                             {"id": "b", "model": "m2", "input": "hay", "start_time": _at(1)}])
    memtable = ui_client.app.state.services.pipeline.memtable.snapshot()
    table = memtable if memtable.num_rows else None
    if table is None:  # already flushed: read the rows back as a table
        import pyarrow as pa
        rows = ui_client.app.state.services.queries._run("", [], project_id=project[0])
        table = pa.Table.from_pylist(rows)
    pick = lambda **kw: [r["id"] for r in aggregates.new_rows(table, project[0], SpanFilter(**kw))]  # noqa: E731
    assert pick() == ["b", "a"]
    assert pick(model="m1") == ["a"]
    assert pick(q="NEEDLE") == ["a"]
    assert aggregates.new_rows(table, "other-project", SpanFilter()) == []


def test_messages_and_previews():
    anthropic = [{"role": "user", "content": [{"type": "text", "text": "hi"},
                                              {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg"}},
                                              {"type": "tool_result", "tool_use_id": "tu1", "content": "42"}]},
                 {"role": "assistant", "content": [{"type": "tool_use", "id": "tu2", "name": "calc", "input": {"x": 1}}]}]
    msgs = to_messages(anthropic, "user")
    assert [p.kind for p in msgs[0].parts] == ["text", "media", "tool_result"]
    assert msgs[0].parts[1].label == "image: image/jpeg" and msgs[1].parts[0].label.startswith("calc")
    assert to_messages("plain", "assistant")[0].role == "assistant"
    assert to_messages({"some": "json"}, "user") is None
    assert preview('[{"role":"system","content":"s"},{"role":"user","content":"the question"}]') == "the question"
    assert preview('tail of a cut payload", "content": "last words"}]') == "last words"
    assert preview('"just a string"') == "just a string"


def test_span_links_carry_the_start_time_hint(ui_client, auth, project):
    ingest(ui_client, auth, [{"id": "a/b c", "start_time": _at(5), "input": "hinted"}])
    pid = project[0]
    page = html.unescape(ui_client.get(f"/p/{pid}/spans").text)
    link = re.search(r'href="(/p/[^"]+/spans/a%2Fb%20c\?at=(\d+))"', page) or \
        re.search(r'href="(/p/[^"]+/spans/a/b%20c\?at=(\d+))"', page)
    assert link, "timeline row links to the span with ?at=<epoch µs>"
    assert int(link.group(2)) == (T0 + dt.timedelta(seconds=5) - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)
    queries = ui_client.app.state.services.queries
    at = T0 + dt.timedelta(seconds=5)
    assert queries.get_span(pid, "a/b c", at)["input"] == '"hinted"'
    # a wrong or malformed hint is only slower: the lookup falls back to the id alone
    assert queries.get_span(pid, "a/b c", at + dt.timedelta(days=3))["input"] == '"hinted"'
    assert queries.get_span(pid, "nope", at) is None
    ingest(ui_client, auth, [{"id": "plain", "start_time": _at(7), "input": "x"}])
    for hint in ("", "?at=12", "?at=zzz", "?at=" + "9" * 30):
        assert ui_client.get(f"/p/{pid}/spans/plain{hint}").status_code == 200
