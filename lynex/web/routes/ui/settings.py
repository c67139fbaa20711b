"""Projects and their settings: create, rename, API keys (secret shown once, revoke), members."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, URLEncodedBody

from lynex.storage.meta import SCOPES, MetaError
from lynex.web.routes.ui.web import (
    accounts, check_csrf, form_value, form_values, page, redirect, require_session, services,
)

Form = URLEncodedBody[dict[str, Any]]


@get("/projects", sync_to_thread=True)
def projects_page(request: Request) -> Response:
    session = require_session(request)
    return page(request, "projects.html", session=session, nav="projects", error=None, name="")


@post("/projects", sync_to_thread=True)
def projects_create(request: Request, data: Form) -> Response:
    session = require_session(request, admin=True)
    check_csrf(request, data, session)
    meta = services(request).meta
    try:
        project = meta.create_project(form_value(data, "name"))
    except MetaError as exc:
        return page(request, "projects.html", 400, session=session, nav="projects", error=str(exc),
                    name=form_value(data, "name"))
    return redirect(request, f"/p/{project.id}/settings?created=1")


def _settings(request: Request, session, project, status: int = 200, **extra: Any) -> Response:
    meta = services(request).meta
    context = {"error": None, "secret": None, "new_key": None, "created": False,
               "keys": meta.keys(project.id), "scopes": SCOPES, "members": accounts(request).users()}
    context.update(extra)
    return page(request, "settings.html", status, session=session, project=project, nav="settings", **context)


@get("/p/{project_id:str}/settings", sync_to_thread=True)
def settings_page(request: Request, project_id: FromPath[str]) -> Response:
    session = require_session(request)
    project = services(request).meta.project(project_id)
    return _settings(request, session, project, created=request.query_params.get("created") == "1")


@post("/p/{project_id:str}/settings/rename", sync_to_thread=True)
def project_rename(request: Request, project_id: FromPath[str], data: Form) -> Response:
    session = require_session(request, admin=True)
    check_csrf(request, data, session)
    meta = services(request).meta
    project = meta.project(project_id)
    try:
        meta.rename_project(project.id, form_value(data, "name"))
    except MetaError as exc:
        return _settings(request, session, project, 400, error=str(exc))
    return redirect(request, f"/p/{project.id}/settings")


@post("/p/{project_id:str}/keys", sync_to_thread=True)
def key_create(request: Request, project_id: FromPath[str], data: Form) -> Response:
    session = require_session(request, admin=True)
    check_csrf(request, data, session)
    meta = services(request).meta
    project = meta.project(project_id)
    try:
        key, secret = meta.create_key(project.id, form_value(data, "name").strip()[:80] or "default",
                                      tuple(form_values(data, "scope")))
    except MetaError as exc:
        return _settings(request, session, project, 400, error=str(exc))
    # The secret is in this response only: it is stored as a hash and can never be shown again.
    return _settings(request, session, project, 201, secret=secret, new_key=key)


@post("/p/{project_id:str}/keys/{key_id:str}/revoke", sync_to_thread=True)
def key_revoke(request: Request, project_id: FromPath[str], key_id: FromPath[str], data: Form) -> Response:
    session = require_session(request, admin=True)
    check_csrf(request, data, session)
    meta = services(request).meta
    project = meta.project(project_id)
    if not any(k.id == key_id for k in meta.keys(project.id)):
        return _settings(request, session, project, 404, error=f"no API key '{key_id}' in this project")
    meta.revoke_key(key_id)
    return redirect(request, f"/p/{project.id}/settings")


ROUTES = [projects_page, projects_create, settings_page, project_rename, key_create, key_revoke]
