"""The root of every error Lynex raises on purpose."""


class LynexError(Exception):
    """Base class: anything Lynex raises deliberately derives from this."""


class ConfigError(LynexError):
    """A setting is missing or wrong; the message says how to fix it."""


class DataDirLocked(LynexError):
    """Another Lynex server already owns this data directory."""


class NotFound(LynexError):
    """The named object does not exist (or is not visible to the caller)."""
