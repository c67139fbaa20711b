"""Small helpers every route uses to answer JSON quickly and consistently."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response

_encoder = msgspec.json.Encoder()


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Encode with msgspec ourselves (Raw JSON columns embed without a re-parse)."""
    return Response(content=_encoder.encode(content), status_code=status, media_type="application/json",
                    headers=headers)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The one error shape of the API: ``{"error": "<field: reason>", "status": N}``."""
    return json_response({"error": message, "status": status}, status, headers)
