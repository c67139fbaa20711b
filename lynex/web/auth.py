"""API-key authentication for the machine APIs (Bearer key → project and scopes)."""

from __future__ import annotations

from typing import Mapping

from lynex.storage.meta import ApiKey, MetaStore


class AuthFailure(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The API key from ``Authorization: Bearer <key>`` or else ``X-Lynex-Api-Key`` (``headers``:
    a Litestar request's, or the lowercased dict a raw ASGI handler builds)."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return headers.get("x-lynex-api-key")


def require_key(headers: Mapping[str, str], meta: MetaStore, scope: str) -> ApiKey:
    """The caller's live key holding ``scope``; raises AuthFailure(401/403) otherwise."""
    return require_token(bearer_token(headers), meta, scope)


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
