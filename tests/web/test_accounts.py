"""Accounts and page security through the real app (TestClient): setup, login throttle, sessions,
cookies, CSRF on every form, headers, roles."""

from __future__ import annotations

import re

import pytest

from lynex.accounts import Accounts, LoginLimiter
from lynex.accounts.passwords import hash_password, verify_password
from lynex.storage.meta import MetaStore
from tests.web.conftest import PASSWORD, csrf_of


def _accounts(client) -> Accounts:
    return Accounts(MetaStore(client.config.meta_path))


def _setup_token(client) -> str:
    notice = next(n for n in client.app.state.services.notices if "setup token" in n)
    return notice.rsplit(" ", 1)[1]


def test_setup_token_creates_the_first_admin_once(app_client):
    r = app_client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/setup"
    form = app_client.get("/setup")
    token = csrf_of(form.text)
    fields = {"_csrf": token, "email": "Root@Example.com", "password": PASSWORD, "password2": PASSWORD}
    bad = app_client.post("/setup", data={**fields, "token": "guess"}, follow_redirects=False)
    assert bad.status_code == 400 and "not the setup token" in bad.text
    ok = app_client.post("/setup", data={**fields, "token": _setup_token(app_client)}, follow_redirects=False)
    assert ok.status_code == 303
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Secure" not in cookie
    user = _accounts(app_client).user("root@example.com")
    assert user.role == "admin"
    # spent: the same token cannot make a second admin
    app_client.cookies.clear()
    again = app_client.post("/setup", data={**fields, "email": "x@example.com", "token": _setup_token(app_client)},
                            follow_redirects=False)
    assert again.status_code == 403 or again.headers.get("location") == "/login"
    assert [u.email for u in _accounts(app_client).users()] == ["root@example.com"]


def test_session_cookie_is_secure_behind_tls(app_client):
    _accounts(app_client).create_user("a@example.com", PASSWORD, "admin")
    page = app_client.get("/login")  # (a Secure pre-login cookie would not come back over the test's http)
    r = app_client.post("/login", data={"_csrf": csrf_of(page.text), "email": "a@example.com", "password": PASSWORD},
                        headers={"X-Forwarded-Proto": "https"}, follow_redirects=False)
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


def test_login_is_rate_limited(app_client):
    _accounts(app_client).create_user("a@example.com", PASSWORD, "member")
    token = csrf_of(app_client.get("/login").text)
    statuses = [app_client.post("/login", data={"_csrf": token, "email": "a@example.com", "password": "nope-nope-nope"},
                                follow_redirects=False).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    # even the right password waits now
    r = app_client.post("/login", data={"_csrf": token, "email": "a@example.com", "password": PASSWORD},
                        follow_redirects=False)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_limiter_window_slides():
    now = [0.0]
    limiter = LoginLimiter(per_address=3, per_account=2, window_s=60, clock=lambda: now[0])
    limiter.failed("1.2.3.4", "a")
    limiter.failed("1.2.3.4", "a")
    assert limiter.retry_after("1.2.3.4", "a") == pytest.approx(60)
    assert limiter.retry_after("1.2.3.4", "b") == 0  # another account from the same address
    limiter.failed("1.2.3.4", "b")
    assert limiter.retry_after("1.2.3.4", "c") > 0  # the address is used up
    now[0] = 61
    assert limiter.retry_after("1.2.3.4", "a") == 0


def test_password_hashes():
    stored = hash_password("s3cret-password")
    assert stored.startswith("scrypt$") and "s3cret" not in stored
    assert verify_password("s3cret-password", stored) and not verify_password("s3cret-passwore", stored)
    assert not verify_password("x", "garbage") and hash_password("a") != hash_password("a")


def test_pages_need_a_session(app_client, project):
    for url in ["/projects", f"/p/{project[0]}/overview", f"/p/{project[0]}/spans", f"/p/{project[0]}/spans/x",
                f"/p/{project[0]}/traces/x", f"/p/{project[0]}/settings", f"/p/{project[0]}/live"]:
        r = app_client.get(url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), url


def test_logout_and_disable_end_sessions(ui_client):
    assert ui_client.get("/projects").status_code == 200
    r = ui_client.post("/logout", data={"_csrf": ui_client.csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert ui_client.get("/projects", follow_redirects=False).status_code == 303
    accounts = _accounts(ui_client)
    token, _ = accounts.create_session(accounts.user("admin@example.com"))
    ui_client.cookies.set("lynex_session", token)
    assert ui_client.get("/projects").status_code == 200
    accounts.disable("admin@example.com")
    assert ui_client.get("/projects", follow_redirects=False).status_code == 303


def _post_routes(client) -> list[str]:
    paths = []
    for route in client.app.routes:
        methods = getattr(route, "methods", set())
        if "POST" in methods and not route.path.startswith(("/v1/", "/api/")):
            paths.append(route.path)
    return paths


def test_every_dashboard_form_refuses_a_missing_or_foreign_csrf_token(ui_client, project):
    paths = _post_routes(ui_client)
    assert {"/login", "/setup", "/logout", "/projects", "/p/{project_id:str}/keys"} <= set(paths)
    key = ui_client.app.state.services.meta.keys(project[0])[0]
    for path in paths:
        url = path.replace("{project_id:str}", project[0]).replace("{key_id:str}", key.id)
        assert ui_client.post(url, data={"name": "x"}, follow_redirects=False).status_code == 403, url
        assert ui_client.post(url, data={"name": "x", "_csrf": "forged"}, follow_redirects=False).status_code == 403
        foreign = ui_client.post(url, data={"name": "x", "_csrf": ui_client.csrf}, follow_redirects=False,
                                 headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403, url
    assert ui_client.app.state.services.meta.keys(project[0])[0].revoked_at is None
    assert [p.name for p in ui_client.app.state.services.meta.projects()] == ["test-project"]


def test_members_cannot_change_projects_or_keys(app_client, project):
    accounts = _accounts(app_client)
    token, session = accounts.create_session(accounts.create_user("m@example.com", PASSWORD, "member"))
    app_client.cookies.set("lynex_session", token)
    assert app_client.get(f"/p/{project[0]}/settings").status_code == 200
    r = app_client.post(f"/p/{project[0]}/keys", data={"_csrf": session.csrf, "name": "k", "scope": "read"})
    assert r.status_code == 403
    assert len(app_client.app.state.services.meta.keys(project[0])) == 1


def test_security_headers_on_every_page(ui_client, project):
    for url in ["/login", "/projects", f"/p/{project[0]}/overview", f"/p/{project[0]}/spans", "/p/nope/overview"]:
        r = ui_client.get(url)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["cache-control"] == "no-store"
        assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), url  # no inline script
        assert " style=" not in r.text and "<style" not in r.text, url


def test_key_secret_is_shown_once_and_revocable(ui_client, project):
    pid = project[0]
    r = ui_client.post(f"/p/{pid}/keys", data={"_csrf": ui_client.csrf, "name": "ci", "scope": ["read"]})
    assert r.status_code == 201
    secret = re.search(r'id="secret-value"[^>]*>([^<]+)<', r.text).group(1)
    assert ui_client.get("/v1/spans", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert ui_client.post("/v1/ingest", json={"spans": []}, headers={"Authorization": f"Bearer {secret}"}).status_code == 403
    assert secret not in ui_client.get(f"/p/{pid}/settings").text
    key = next(k for k in ui_client.app.state.services.meta.keys(pid) if k.name == "ci")
    r = ui_client.post(f"/p/{pid}/keys/{key.id}/revoke", data={"_csrf": ui_client.csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert ui_client.get("/v1/spans", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_projects_create_and_rename(ui_client):
    r = ui_client.post("/projects", data={"_csrf": ui_client.csrf, "name": "support-bot"}, follow_redirects=False)
    assert r.status_code == 303
    pid = r.headers["location"].split("/")[2]
    r = ui_client.post(f"/p/{pid}/settings/rename", data={"_csrf": ui_client.csrf, "name": "helpdesk"},
                       follow_redirects=False)
    assert r.status_code == 303
    assert ui_client.app.state.services.meta.project(pid).name == "helpdesk"
    dup = ui_client.post("/projects", data={"_csrf": ui_client.csrf, "name": "helpdesk"})
    assert dup.status_code == 400 and "already exists" in dup.text


def test_login_next_is_never_an_open_redirect(app_client):
    _accounts(app_client).create_user("a@example.com", PASSWORD, "member")
    token = csrf_of(app_client.get("/login").text)
    for target in ["https://evil.example/", "//evil.example/x", "/\\evil.example"]:
        r = app_client.post("/login", data={"_csrf": token, "email": "a@example.com", "password": PASSWORD,
                                            "next": target}, follow_redirects=False)
        assert r.headers["location"] == "/", target


def test_cli_users(tmp_path):
    from tests.helpers import lynex_cli
    import subprocess
    import sys
    data = tmp_path / "d"
    subprocess.run([sys.executable, "-m", "lynex", "users", "create", "ops@example.com", "--role", "admin",
                    "--password-stdin", "--data-dir", str(data)], input=PASSWORD + "\n", text=True, check=True,
                   capture_output=True)
    assert "ops@example.com\tadmin\tactive" in lynex_cli(data, "users", "list").stdout
    weak = subprocess.run([sys.executable, "-m", "lynex", "users", "create", "x@example.com", "--password-stdin",
                           "--data-dir", str(data)], input="short\n", text=True, capture_output=True)
    assert weak.returncode == 2 and "at least 10" in weak.stderr
    lynex_cli(data, "users", "disable", "ops@example.com")
    assert "disabled" in lynex_cli(data, "users", "list").stdout
    assert Accounts(MetaStore(data / "meta.sqlite")).authenticate("ops@example.com", PASSWORD) is None

