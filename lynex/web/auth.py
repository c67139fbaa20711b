"""API-key authentication for the machine APIs (Bearer key → project and scopes)."""

from __future__ import annotations

from litestar import Request

from lynex.storage.meta import ApiKey, MetaStore


class AuthFailure(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return request.headers.get("x-lynex-api-key")


def require_key(request: Request, meta: MetaStore, scope: str) -> ApiKey:
    """The caller's live key holding ``scope``; raises AuthFailure(401/403) otherwise."""
    token = bearer_token(request)
    if not token:
        raise AuthFailure(401, "missing API key: send 'Authorization: Bearer <key>'")
    key = meta.authenticate(token)
    if key is None:
        raise AuthFailure(401, "invalid or revoked API key")
    if scope not in key.scopes:
        raise AuthFailure(403, f"this API key lacks the '{scope}' scope (it has: {', '.join(key.scopes)})")
    return key
