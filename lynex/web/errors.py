"""Exceptions the machine APIs raise on purpose, mapped once to the API's error shape."""

from __future__ import annotations

from litestar import Request, Response

from lynex.errors import NotFound
from lynex.storage.query import QueryError
from lynex.web.auth import AuthFailure
from lynex.web.responses import error_response


def _auth(_: Request, exc: AuthFailure) -> Response:
    return error_response(exc.status, exc.message)


def _query(_: Request, exc: QueryError) -> Response:
    return error_response(400, str(exc))


def _not_found(_: Request, exc: NotFound) -> Response:
    return error_response(404, str(exc))


EXCEPTION_HANDLERS = {AuthFailure: _auth, QueryError: _query, NotFound: _not_found}
