"""Sign-in pages: first-admin setup with the one-time token, login (throttled), logout."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import QueryParameter, URLEncodedBody

from lynex.accounts import AccountError
from lynex.accounts.store import SESSION_TTL_S
from lynex.web.routes.ui.web import (
    PRE_CSRF_COOKIE, SESSION_COOKIE, accounts, check_csrf, current_session, form_value, page, pre_csrf_token,
    redirect, set_cookie, ui,
)

Form = URLEncodedBody[dict[str, Any]]


def _safe_next(value: str) -> str:
    """Only same-site paths: never an open redirect."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _anon_page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    token, fresh = pre_csrf_token(request)
    response = page(request, template, status, csrf=token, **context)
    if fresh:
        set_cookie(response, request, PRE_CSRF_COOKIE, token)
    return response


def _signed_in(request: Request, user, next_url: str = "/") -> Response:
    token, _ = accounts(request).create_session(user)
    response = redirect(request, _safe_next(next_url))
    set_cookie(response, request, SESSION_COOKIE, token, max_age=SESSION_TTL_S)
    return response


@get("/", sync_to_thread=True)
def home(request: Request) -> Response:
    """Where the dashboard starts: setup, sign-in, or the first project's overview."""
    if current_session(request) is None:
        return redirect(request, "/setup" if accounts(request).setup_open() else "/login")
    projects = request.app.state.services.meta.projects()
    demo = next((p for p in projects if p.name == "demo"), None)
    target = demo or (projects[0] if projects else None)
    return redirect(request, f"/p/{target.id}/overview" if target else "/projects")


@get("/setup", sync_to_thread=True)
def setup_form(request: Request) -> Response:
    if not accounts(request).setup_open():
        return redirect(request, "/login")
    return _anon_page(request, "setup.html", error=None, email="")


@post("/setup", sync_to_thread=True)
def setup_submit(request: Request, data: Form) -> Response:
    check_csrf(request, data, None)
    store = accounts(request)
    if not store.setup_open():
        return redirect(request, "/login")
    email = form_value(data, "email")
    password = form_value(data, "password")
    try:
        if password != form_value(data, "password2"):
            raise AccountError("password: the two passwords differ")
        limiter = ui(request).limiter
        address = request.client.host if request.client else "?"
        if limiter.retry_after(address, "setup") > 0:
            raise AccountError("too many wrong setup tokens; wait a few minutes")
        try:
            user = store.complete_setup(form_value(data, "token"), email, password)
        except AccountError as exc:
            if str(exc).startswith("token:"):
                limiter.failed(address, "setup")
            raise
    except AccountError as exc:
        return _anon_page(request, "setup.html", 400, error=str(exc), email=email)
    return _signed_in(request, user, "/")


@get("/login", sync_to_thread=True)
def login_form(request: Request, next_url: Annotated[str, QueryParameter(name="next")] = "/") -> Response:
    if current_session(request) is not None:
        return redirect(request, _safe_next(next_url))
    return _anon_page(request, "login.html", error=None, email="", next_url=_safe_next(next_url),
                      setup_open=accounts(request).setup_open())


@post("/login", sync_to_thread=True)
def login_submit(request: Request, data: Form) -> Response:
    check_csrf(request, data, None)
    email = form_value(data, "email").strip().lower()[:320]
    next_url = _safe_next(form_value(data, "next", "/"))
    limiter = ui(request).limiter
    address = request.client.host if request.client else "?"
    wait = limiter.retry_after(address, email)
    if wait > 0:
        response = _anon_page(request, "login.html", 429, email=email, next_url=next_url, setup_open=False,
                              error=f"Too many failed sign-ins. Try again in {int(wait) + 1} s.")
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    user = accounts(request).authenticate(email, form_value(data, "password"))
    if user is None:
        limiter.failed(address, email)
        return _anon_page(request, "login.html", 401, email=email, next_url=next_url, setup_open=False,
                          error="Wrong email or password, or the account is disabled.")
    limiter.succeeded(address, email)
    return _signed_in(request, user, next_url)


@post("/logout", sync_to_thread=True)
def logout(request: Request, data: Form) -> Response:
    session = current_session(request)
    if session is not None:
        check_csrf(request, data, session)
        accounts(request).end_session(request.cookies.get(SESSION_COOKIE))
    response = redirect(request, "/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


ROUTES = [home, setup_form, setup_submit, login_form, login_submit, logout]
