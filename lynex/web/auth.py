"""API-key authentication for the machine APIs (Bearer key → project and scopes)."""

from __future__ import annotations

from litestar import Request

from lynex.storage.meta import ApiKey, MetaStore


class AuthFailure(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def token_from(authorization: str | None, api_key_header: str | None) -> str | None:
    """The API key from ``Authorization: Bearer <key>`` or else ``X-Lynex-Api-Key``."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return api_key_header


def bearer_token(request: Request) -> str | None:
    return token_from(request.headers.get("authorization"), request.headers.get("x-lynex-api-key"))


def require_key(request: Request, meta: MetaStore, scope: str) -> ApiKey:
    """The caller's live key holding ``scope``; raises AuthFailure(401/403) otherwise."""
    return require_token(bearer_token(request), meta, scope)


def require_token(token: str | None, meta: MetaStore, scope: str) -> ApiKey:
    """The live key ``token`` names, holding ``scope``; raises AuthFailure(401/403) otherwise."""
    if not token:
        raise AuthFailure(401, "missing API key: send 'Authorization: Bearer <key>'")
    key = meta.authenticate(token)
    if key is None:
        raise AuthFailure(401, "invalid or revoked API key")
    if scope not in key.scopes:
        raise AuthFailure(403, f"this API key lacks the '{scope}' scope (it has: {', '.join(key.scopes)})")
    return key
