"""What every dashboard page shares: templates, the signed-in session, CSRF, errors, headers."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request, Response
from litestar.response import Redirect

from lynex import __version__
from lynex.accounts import Accounts, LoginLimiter, Session
from lynex.errors import NotFound
from lynex.web.routes.ui.live import LiveHub

WEB_DIR = Path(__file__).resolve().parents[2]
SESSION_COOKIE = "lynex_session"
PRE_CSRF_COOKIE = "lynex_csrf"  # double-submit token for the forms shown before sign-in
CSRF_FIELD = "_csrf"

# No inline script or style anywhere: every byte of JS and CSS comes from /static.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",  # pages carry prompts and responses: never keep them in caches
    "Vary": "HX-Request, Cookie",
}


class LoginRequired(Exception):
    """No live session: pages redirect to the sign-in form."""


class Forbidden(Exception):
    """Signed in but not allowed (CSRF token missing or wrong, not an admin…)."""


class BadInput(Exception):
    """A filter or form value is wrong; shown to the user as is (escaped)."""


@dataclass
class UiState:
    """The dashboard's long-lived parts, built by ``create_app`` and kept on ``app.state.ui``."""

    env: Environment
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    live: LiveHub = field(default_factory=LiveHub)

    @classmethod
    def build(cls, template_dirs: list[Path] | None = None) -> "UiState":
        """Templates from ``template_dirs`` (overrides) then the packaged ones; autoescape always on."""
        env = Environment(
            loader=FileSystemLoader([*(template_dirs or []), WEB_DIR / "templates"]),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        )
        from lynex.web.routes.ui import formats  # filters live beside the templates that use them
        env.filters.update(formats.FILTERS)
        env.globals.update(version=__version__, static=lambda p: f"/static/{p}?v={__version__}")
        return cls(env)

    def render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)


def ui(request: Request) -> UiState:
    return request.app.state.ui


def services(request: Request):
    return request.app.state.services


def accounts(request: Request) -> Accounts:
    return Accounts(services(request).meta)


def current_session(request: Request) -> Session | None:
    return accounts(request).session(request.cookies.get(SESSION_COOKIE))


def require_session(request: Request, admin: bool = False) -> Session:
    """The signed-in session or LoginRequired; Forbidden when ``admin`` and the user is not."""
    session = current_session(request)
    if session is None:
        raise LoginRequired()
    if admin and not session.user.is_admin:
        raise Forbidden("only admins can change projects and keys")
    return session


def check_csrf(request: Request, form: dict, session: Session | None) -> None:
    """Refuse a state-changing request unless it carries the right CSRF token from our own origin."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if origin.split("://", 1)[-1] != host:
            raise Forbidden("cross-origin form post refused")
    sent = form_value(form, CSRF_FIELD) or request.headers.get("x-csrf-token", "")
    expected = session.csrf if session else request.cookies.get(PRE_CSRF_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("missing or wrong CSRF token: reload the page and submit the form again")


def form_value(form: dict, name: str, default: str = "") -> str:
    value = form.get(name, default) if form else default
    if isinstance(value, list):
        value = value[-1] if value else default
    return str(value)


def form_values(form: dict, name: str) -> list[str]:
    value = form.get(name) if form else None
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def is_partial(request: Request) -> bool:
    """An htmx request for a fragment (history restores get the whole page)."""
    return (request.headers.get("hx-request") == "true"
            and request.headers.get("hx-history-restore-request") != "true"
            and request.headers.get("hx-boosted") != "true")


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


def page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """Render a template as an HTML response, with the layout's common context filled in."""
    session = context.pop("session", None)
    base = {"user": session.user if session else None, "csrf": session.csrf if session else "",
            "project": None, "projects": [], "nav": "", "path": request.url.path,
            "partial": is_partial(request), "banners": []}
    if session is not None:
        base["projects"] = services(request).meta.projects()
        billing = services(request).billing  # license grace/expiry and quota warnings on every page
        base["banners"] = billing.banners() if billing is not None else []
    html = ui(request).render(template, **{**base, **context})
    # Headers here as well as on the router: error pages from exception handlers get them too.
    return Response(html, status_code=status, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


def pre_csrf_token(request: Request) -> tuple[str, bool]:
    """The pre-sign-in CSRF token from its cookie, or a new one (True: the cookie must be set)."""
    token = request.cookies.get(PRE_CSRF_COOKIE)
    if token and 20 <= len(token) <= 100:
        return token, False
    return secrets.token_urlsafe(24), True


def set_cookie(response: Response, request: Request, key: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(key=key, value=value, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=is_secure(request))


def redirect(request: Request, url: str) -> Response:
    """303 to ``url``; htmx requests get HX-Redirect so the whole page changes."""
    if request.headers.get("hx-request") == "true":
        return Response("", status_code=204, headers={"HX-Redirect": url})
    return Redirect(url, status_code=303)


def project_or_404(request: Request, project_id: str):
    try:
        return services(request).meta.project(project_id)
    except NotFound:
        raise


def query_string(params: dict[str, Any], **changes: Any) -> str:
    """``params`` with ``changes`` applied, empty values dropped, as ``?a=b`` (or '')."""
    merged = {**params, **changes}
    clean = {k: v for k, v in merged.items() if v not in (None, "")}
    return ("?" + urlencode(clean)) if clean else ""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)

