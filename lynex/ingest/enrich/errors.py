"""Error class of a failed call from its error type and message (provider-agnostic)."""

from __future__ import annotations

# Order matters: a context-length error is also an "invalid request", a quota error also a 4xx.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("rate_limit", ("ratelimit", "rate limit", "rate_limit", "too many requests", "429", "quota",
                    "resource_exhausted", "resource exhausted", "throttl")),
    ("context_length", ("context length", "context_length", "context window", "maximum context",
                        "prompt is too long", "too many tokens", "token limit", "max_tokens_exceeded",
                        "input is too long", "reduce the length")),
    ("timeout", ("timeout", "timed out", "deadline exceeded", "deadline_exceeded", "504")),
    ("auth", ("authentication", "unauthorized", "unauthenticated", "permission", "forbidden",
              "api key", "api_key", "401", "403", "access denied")),
    ("content_filter", ("content filter", "content_filter", "content policy", "content_policy",
                        "safety", "moderation", "responsible ai", "flagged", "blocked by")),
    ("server", ("internal server", "internalserver", "server error", "server_error", "service unavailable",
                "overloaded", "bad gateway", "500", "502", "503", "529", "connection", "apierror")),
    ("invalid_request", ("invalid", "bad request", "badrequest", "400", "404", "422", "not found",
                         "notfound", "unprocessable", "validation", "unsupported")),
)


def classify(error_type: str | None, message: str | None) -> str:
    """One of ERROR_CLASSES for an error; ``other`` when nothing matches."""
    haystack = f"{error_type or ''} {message or ''}".lower()
    for error_class, needles in _RULES:
        if any(needle in haystack for needle in needles):
            return error_class
    return "other"
