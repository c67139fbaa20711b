"""End to end in a real browser: Debian chromium driven by Playwright against `lynex serve`.

One server and one browser for the module; tests run in file order and share the signed-in
browser context that the first test creates through /setup.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import httpx
import pytest

from tests.helpers import wait_for
from tests.web.conftest import PASSWORD, csrf_of, screenshot

pytestmark = pytest.mark.slow
EXACT_PROMPT = "Summarise this ticket:\n\n  «Printer on floor 3 says PC LOAD LETTER»\n\tThanks!  "
EXACT_RESPONSE = "The printer on floor 3 is out of letter-size paper.\nLoad tray 2 and retry."
XSS = ['<script>alert("xss-script")</script>', '"><img src=x onerror=alert("xss-img")>',
       "</pre><svg/onload=alert('xss-svg')>"]


def _ago(minutes: float) -> str:
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes)
    return now.isoformat().replace("+00:00", "Z")


def _dataset() -> list[dict]:
    spans = []
    for i in range(30):
        span = {"id": f"chat-{i}", "name": "chat", "model": "gpt-4o-mini" if i % 2 else "claude-3-haiku",
                "provider": "openai" if i % 2 else "anthropic", "environment": "prod" if i % 3 else "staging",
                "release": "1.4.0", "start_time": _ago(50 - i), "latency_ms": 100 + 17 * i, "user_id": f"u{i % 4}",
                "session_id": f"sess-{i % 5}", "input": [{"role": "user", "content": f"question number {i}"}],
                "output": f"answer {i}"}
        if i % 4 == 0:
            span["usage"] = {"input_tokens": 100 + i, "output_tokens": 10 + i}
            span["cost_usd"] = 0.001 * (i + 1)
        if i % 7 == 3:
            span["status"] = "error"
            span["error"] = {"type": "RateLimitError", "message": "Rate limit reached for requests"}
        spans.append(span)
    spans.append({"id": "exact-1", "name": "summarise", "model": "gpt-4o-mini", "provider": "openai",
                  "start_time": _ago(5), "latency_ms": 812.5, "session_id": "sess-exact", "user_id": "user-exact",
                  "input": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": EXACT_PROMPT}],
                  "output": {"role": "assistant", "content": EXACT_RESPONSE},
                  "usage": {"input_tokens": 41, "output_tokens": 17}, "cost_usd": 0.00042,
                  "model_parameters": {"temperature": 0.2}, "metadata": {"ticket": 4711}})
    spans.append({"id": "xss-1", "name": XSS[1], "model": "gpt-4o-mini", "start_time": _ago(4), "latency_ms": 5,
                  "input": [{"role": "user", "content": " ".join(XSS)}], "output": XSS[0],
                  "metadata": {XSS[1]: XSS[2]}, "tags": [XSS[1]], "user_id": XSS[1]})
    spans.append({"id": "t-root", "trace_id": "trace-1", "name": "agent run", "kind": "agent", "start_time": _ago(3),
                  "latency_ms": 3000})
    spans.append({"id": "t-plan", "trace_id": "trace-1", "parent_id": "t-root", "name": "plan", "model": "gpt-4o-mini",
                  "start_time": _ago(2.99), "latency_ms": 400, "input": "plan the work", "output": "step 1"})
    spans.append({"id": "t-fail", "trace_id": "trace-1", "parent_id": "t-root", "name": "search tool", "kind": "tool",
                  "start_time": _ago(2.9), "latency_ms": 900, "status": "error",
                  "error": {"type": "TimeoutError", "message": "tool timed out after 900 ms"}})
    spans.append({"id": "t-fanout", "trace_id": "trace-1", "parent_id": "t-root", "name": "fan out", "kind": "chain",
                  "start_time": _ago(2.8), "latency_ms": 1500})
    for j in range(150):
        spans.append({"id": f"t-leaf-{j}", "trace_id": "trace-1", "parent_id": "t-fanout", "name": f"leaf {j}",
                      "kind": "tool", "start_time": _ago(2.8 - j * 0.001), "latency_ms": 10})
    return spans


@pytest.fixture(scope="module")
def site(e2e_server):
    project = e2e_server.create_project("web-e2e")
    api = e2e_server.client(project["api_key"])
    spans = _dataset()
    response = api.post("/v1/ingest", json={"spans": spans})
    assert response.status_code == 200, response.text
    wait_for(lambda: api.get("/v1/spans/t-leaf-149").status_code == 200, timeout=20)
    return {"server": e2e_server, "project": project, "api": api, "base": f"{e2e_server.url}/p/{project['id']}"}


@pytest.fixture(scope="module")
def context(browser, site):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=site["server"].url)
    context.csp_violations = []
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.dialogs = []
    page.accept_dialogs = False
    page.on("dialog", lambda d: (page.dialogs.append(d.message),
                                 d.accept() if page.accept_dialogs else d.dismiss()))
    page.on("console", lambda m: print(f"console {m.type}: {m.text}"))  # shown when a test fails
    page.on("console", lambda m: "Content Security Policy" in m.text and context.csp_violations.append(m.text))
    page.on("pageerror", lambda e: context.csp_violations.append(f"page error: {e}"))
    yield page
    page.close()


def api_spans(site, **params) -> list[dict]:
    out, cursor = [], None
    while True:
        r = site["api"].get("/v1/spans", params={**params, "limit": 1000, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        out += r.json()["data"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return out


def test_setup_then_login(page, site):
    server = site["server"]
    page.goto("/")
    assert page.url.endswith("/setup")
    screenshot(page, "01-setup")
    page.fill("input[name=token]", "not-the-token")
    page.fill("input[name=email]", "admin@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("button[type=submit]")
    assert "not the setup token" in page.inner_text(".error")
    page.fill("input[name=token]", server.setup_token)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/p/prj_\w+/overview"))
    assert page.inner_text(".who").startswith("admin@example.com")
    # the token is spent: setup is closed now
    assert httpx.get(server.url + "/setup", follow_redirects=False).headers["location"] == "/login"
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/login$"))
    page.goto(f"{site['base']}/spans")  # signed out: back to the sign-in form, then here after it
    assert "/login?next=" in page.url
    screenshot(page, "02-login")
    page.fill("input[name=email]", "admin@example.com")
    page.fill("input[name=password]", "wrong password!")
    page.click("button[type=submit]")
    assert "Wrong email or password" in page.inner_text(".error")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/spans$"))
    cookie = next(c for c in page.context.cookies() if c["name"] == "lynex_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"


def test_overview_totals_match_the_read_api(page, site):
    page.goto(f"{site['base']}/overview?range=24h")
    page.wait_for_selector(".chart canvas", state="attached")
    assert page.locator(".chart .uplot").count() == 5
    spans = api_spans(site)
    assert int(page.get_attribute("#stat-requests", "data-value")) == len(spans)
    assert int(page.get_attribute("#stat-errors", "data-value")) == sum(s["status"] == "error" for s in spans)
    assert float(page.get_attribute("#stat-cost", "data-value")) == pytest.approx(
        sum(s["cost_usd"] or 0 for s in spans), rel=1e-9)
    assert int(page.get_attribute("#stat-tokens", "data-input")) == sum(
        s["usage"]["input_tokens"] or 0 for s in spans)
    screenshot(page, "03-overview")
    # a filter applies to every figure and lands in the URL
    page.select_option("select[name=model]", "claude-3-haiku")
    page.wait_for_url(re.compile(r"model=claude-3-haiku"))
    page.wait_for_function("() => document.querySelector('#stat-requests').dataset.value !== '%d'" % len(spans))
    claude = api_spans(site, model="claude-3-haiku")
    assert int(page.get_attribute("#stat-requests", "data-value")) == len(claude)
    assert [t.inner_text() for t in page.locator("#by-model tbody td:first-child a").all()] == ["claude-3-haiku"]
    assert "range=24h" in page.url or "range" not in page.url
    page.wait_for_selector(".chart canvas", state="attached")


def test_timeline_filters_change_table_and_url(page, site):
    page.goto(f"{site['base']}/spans")
    assert page.locator("#rows tr.span-row").count() == 50  # one page; older ones behind "Load older"
    page.click("#load-more")
    page.wait_for_function("() => document.querySelectorAll('#rows tr.span-row').length > 50")
    page.select_option("select[name=status]", "error")
    page.wait_for_url(re.compile(r"status=error"))
    errors = api_spans(site, status="error")
    page.wait_for_function(f"() => document.querySelectorAll('#rows tr.span-row').length === {len(errors)}")
    assert page.locator("#rows tr.span-row.is-error").count() == len(errors)
    page.fill("#q", "question number 10")
    page.wait_for_url(re.compile(r"q=question"))
    page.wait_for_function("() => document.querySelectorAll('#rows tr.span-row').length === 1")
    assert "question number 10" in page.inner_text("#rows")
    # the URL alone reproduces the view
    page.goto(page.url)
    assert page.locator("#rows tr.span-row").count() == 1
    assert page.input_value("select[name=status]") == "error"
    screenshot(page, "04-timeline")
    # keyboard: / focuses search; j and Enter open the first row
    page.goto(f"{site['base']}/spans?model=gpt-4o-mini")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/spans/[^/?]+\?at=\d+$"))  # the link carries the start-time hint


def test_span_detail_shows_the_exact_prompt_and_response(page, site):
    page.goto(f"{site['base']}/spans/exact-1")
    texts = page.locator("#span-input .msg pre.text").all_inner_texts()
    assert texts == ["You are terse.", EXACT_PROMPT]
    assert page.locator("#span-output .msg pre.text").all_inner_texts() == [EXACT_RESPONSE]
    assert page.locator("#span-input .msg .role").all_inner_texts()[1].lower().startswith("user")
    assert '"temperature": 0.2' in page.inner_text("body")
    assert page.get_attribute("#trace-link", "href").endswith("/traces/exact-1?span=exact-1")
    assert "session_id=sess-exact" in page.get_attribute("#session-link", "href")
    assert "user_id=user-exact" in page.get_attribute("#user-link", "href")
    screenshot(page, "05-span")


def test_xss_payloads_render_as_text(page, site, context):
    for url in (f"{site['base']}/spans/xss-1", f"{site['base']}/spans", f"{site['base']}/overview",
                f"{site['base']}/traces/xss-1"):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert page.dialogs == [], url
        assert page.locator("img[src=x]").count() == 0, url
        assert page.locator("main svg[onload]").count() == 0, url
    page.goto(f"{site['base']}/spans/xss-1")
    body = page.inner_text("#span-input")
    assert all(p in body for p in XSS)  # shown, as text
    page.click("details.raw summary")
    assert XSS[2].replace("\\", "") in page.inner_text("details.raw pre")
    screenshot(page, "06-xss-as-text")
    assert page.dialogs == []


def test_trace_view_tree_waterfall_and_paging(page, site):
    page.goto(f"{site['base']}/traces/trace-1")
    rows = page.locator("#trace-tree tr.trow")
    assert rows.count() == 4 + 100  # root, plan, fail, fanout + the first 100 of 150 leaves
    assert page.locator("#trace-tree tr.trow.is-error").count() == 1
    assert page.locator("#trace-tree tr.trow rect").count() == rows.count()
    page.click("#trace-tree a.more")
    page.wait_for_function("() => document.querySelectorAll('#trace-tree tr.trow').length === 154")
    page.click("#trace-tree tr[data-span-id=t-fail] a")
    page.wait_for_selector("#detail-pane #span-detail[data-span-id=t-fail]")
    assert "tool timed out after 900 ms" in page.inner_text("#detail-pane #span-error")
    page.wait_for_url(re.compile(r"\?span=t-fail$"))
    screenshot(page, "07-trace")


def test_live_tail_streams_a_new_span(page, site):
    page.goto(f"{site['base']}/spans")
    page.check("#live-toggle")
    page.wait_for_selector("body.live-on")
    name = f"live-{uuid.uuid4().hex[:8]}"
    r = site["api"].post("/v1/ingest", json={"spans": [{"id": name, "name": name, "start_time": _ago(0),
                                                        "latency_ms": 1, "input": "live tail check"}]})
    assert r.status_code == 200
    page.wait_for_selector(f"#rows tr.is-new >> text={name}", timeout=2000)
    screenshot(page, "08-live-tail")
    page.uncheck("#live-toggle")
    assert page.locator("#live-stream").count() == 0


def test_settings_key_reveal_once_and_revoke(page, site):
    page.goto(f"{site['base']}/settings")
    page.fill("#new-key input[name=name]", "ci-key")
    page.click("#new-key button[type=submit]")
    secret = page.inner_text("#secret-value")
    assert secret.startswith("lx_")
    screenshot(page, "09-settings-key")
    assert httpx.get(site["server"].url + "/v1/spans", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    page.goto(f"{site['base']}/settings")
    assert secret not in page.content()  # shown once
    page.accept_dialogs = True  # the revoke confirmation
    page.locator("#keys tr", has_text="ci-key").locator("button.danger").click()
    page.wait_for_selector("#keys tr.revoked >> text=ci-key")
    assert httpx.get(site["server"].url + "/v1/spans", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_forms_without_csrf_token_are_refused(page, site, context):
    page.goto("/projects")
    request = context.request  # carries the session cookie
    assert request.post("/projects", form={"name": "no-csrf"}, max_redirects=0).status == 403
    token = csrf_of(page.content())
    evil = request.post("/projects", form={"name": "cross-site", "_csrf": token}, max_redirects=0,
                        headers={"Origin": "https://evil.example"})
    assert evil.status == 403
    assert request.post("/logout", form={}, max_redirects=0).status == 403
    ok = request.post("/projects", form={"name": "with-csrf", "_csrf": token}, max_redirects=0)
    assert ok.status == 303
    assert {"no-csrf", "cross-site"}.isdisjoint(p["name"] for p in _projects(site))


def _projects(site) -> list[dict]:
    import json
    from tests.helpers import lynex_cli
    return json.loads(lynex_cli(site["server"].data_dir, "projects", "list", "--json").stdout)


def test_no_csp_violations_or_script_errors(context):
    assert context.csp_violations == []
