"""The usage page against known numbers: in process (HTML, CSV, report), then in Debian chromium."""

from __future__ import annotations

import csv
import io
import re

import pytest

from lynex.accounts import Accounts
from lynex.storage.meta import MetaStore
from tests.helpers import ServerProcess, wait_for
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, screenshot, ui_client  # noqa: F401 (fixture)


def _spans(prefix: str, n: int, model: str, cost: float) -> list[dict]:
    return [{"id": f"{prefix}-{i}", "name": "chat", "model": model, "usage": {"input_tokens": 100, "output_tokens": 20},
             "cost_usd": cost} for i in range(n)]


def _seed(post, keys: dict[str, dict]) -> None:
    """alpha: 6 spans of gpt-4o-mini at $0.01; beta: 4 of claude-3-haiku at $0.25 and one invalid span."""
    assert post(keys["alpha"], {"spans": _spans("a", 6, "gpt-4o-mini", 0.01)}).status_code == 200
    assert post(keys["beta"], {"spans": _spans("b", 4, "claude-3-haiku", 0.25) + [{"id": ""}]}).status_code == 207


def test_usage_page_in_process(ui_client):
    meta = MetaStore(ui_client.config.meta_path)
    keys = {}
    for name in ("alpha", "beta"):
        project = meta.create_project(name)
        keys[name] = {"Authorization": f"Bearer {meta.create_key(project.id, 'k', ('ingest', 'read'))[1]}"}
    _seed(lambda h, body: ui_client.post("/v1/ingest", json=body, headers=h), keys)
    services = ui_client.app.state.services
    wait_for(lambda: services.pipeline.applied_seq >= services.pipeline.wal.next_seq - 1, timeout=20)
    services.billing.run()  # the scheduler's job: storage sample

    html = ui_client.get("/usage").text
    assert 'id="stat-stored" data-value="10"' in html
    assert re.search(r'id="limit-spans_per_month" data-used="10" data-limit="10000000"', html)
    assert 'data-model="claude-3-haiku" data-cost="1.0"' in html and "$1.0600" in html
    assert 'data-project="alpha"' in html and 'data-project="beta"' in html

    by_model = list(csv.DictReader(io.StringIO(ui_client.get("/usage.csv?group_by=model").text)))
    assert {r["model"]: (r["spans_stored"], r["cost_usd"]) for r in by_model} == {
        "gpt-4o-mini": ("6", "0.060000"), "claude-3-haiku": ("4", "1.000000")}
    report = list(csv.DictReader(io.StringIO(ui_client.get("/usage/report.csv").text)))
    assert [(r["project"], r["spans_stored"], r["spans_rejected"], r["cost_usd"]) for r in report] == [
        ("alpha", "6", "0", "0.060000"), ("beta", "4", "1", "1.000000"), ("TOTAL", "10", "1", "1.060000")]
    assert int(report[0]["bytes_hot"]) > 0  # sampled share of the DuckDB file
    printable = ui_client.get("/usage/report")
    assert printable.status_code == 200 and "$1.0600" in printable.text
    assert ui_client.get("/usage?month=2030-13").status_code == 400
    assert "No usage in 2001-01" in ui_client.get("/usage?month=2001-01").text


@pytest.mark.slow
def test_usage_page_in_chromium(tmp_path):
    if not __import__("pathlib").Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    server = ServerProcess(data_dir=tmp_path / "data", env={"LYNEX_FLUSH_INTERVAL_MS": "200"}).start()
    try:
        keys = {name: {"Authorization": f"Bearer {server.create_project(name)['api_key']}"} for name in ("alpha", "beta")}
        with server.client() as api:
            _seed(lambda h, body: api.post("/v1/ingest", json=body, headers=h), keys)
            wait_for(lambda: api.get("/v1/usage", headers=keys["alpha"]).json()["totals"]["spans_stored"] == 6, 20)
            wait_for(lambda: api.get("/v1/usage", headers=keys["beta"]).json()["totals"]["spans_stored"] == 4, 20)
        Accounts(MetaStore(server.data_dir / "meta.sqlite")).create_user("finance@example.com", PASSWORD, "admin")
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(base_url=server.url)
            problems = []
            page.on("console", lambda m: "Content Security Policy" in m.text and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto("/login")
            page.fill("input[name=email]", "finance@example.com")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r"/p/|/projects"))
            page.click("a.usage-link")
            page.wait_for_url(re.compile(r"/usage$"))
            screenshot(page, "billing-usage")
            assert page.get_attribute("#stat-stored", "data-value") == "10"
            assert page.inner_text("#stat-spend .num") == "$1.0600"
            assert page.get_attribute("#limit-spans_per_month", "data-used") == "10"
            assert page.inner_text("#plan-name") == "free"
            rows = page.locator("#by-project tbody tr")
            assert rows.count() == 2 and rows.nth(0).get_attribute("data-project") == "beta"  # biggest spend first
            assert page.locator("#by-model tr[data-model='gpt-4o-mini'] td").nth(3).inner_text() == "$0.0600"
            with page.expect_download() as download:
                page.click("a[href$='group_by=model']")
            assert "gpt-4o-mini" in open(download.value.path()).read()
            page.click("#report-link")
            page.wait_for_url(re.compile(r"/usage/report\?month="))
            assert page.inner_text("#report-total").split("\t")[1:2] == ["10"]
            page.emulate_media(media="print")
            assert not page.is_visible("header.top")  # the printable layout hides the app chrome
            screenshot(page, "billing-report-print")
            assert problems == []
            browser.close()
    finally:
        server.stop()
