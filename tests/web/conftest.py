"""Dashboard test fixtures: a signed-in TestClient, and a real `lynex serve` + Debian chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lynex.accounts import Accounts
from lynex.storage.meta import MetaStore
from tests.helpers import ServerProcess, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    return re.search(r'name="_csrf" value="([^"]+)"', html).group(1)


@pytest.fixture
def ui_client(app_client):
    """The in-process app with an admin signed in (session cookie set on the client)."""
    accounts = Accounts(MetaStore(app_client.config.meta_path))
    user = accounts.create_user("admin@example.com", PASSWORD, "admin")
    token, session = accounts.create_session(user)
    app_client.cookies.set("lynex_session", token)
    app_client.csrf = session.csrf
    return app_client


@pytest.fixture(scope="module")
def e2e_server(tmp_path_factory):
    """`lynex serve` as a process (fsync on, as shipped) for the browser tests of one module."""
    server = ServerProcess(data_dir=tmp_path_factory.mktemp("e2e") / "data").start()
    server.setup_token = wait_for(lambda: (re.search(r"setup token (\S+)", server.log()) or [None, None])[1],
                                  timeout=10)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium; see scripts/apt-packages.txt)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def screenshot(page, name: str) -> None:
    """Keep a picture of the page as a test artifact (artifacts/ is gitignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

