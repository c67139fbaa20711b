"""Channel secrets encrypted at rest with the installation's master key (AES-256-GCM).

The key is 32 random bytes in a file: created on first start with 0600 permissions, or
supplied by the operator (``master_key_file``). Losing it makes stored channel secrets
unreadable (channels must then be re-entered); nothing else depends on it.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lynex.errors import ConfigError, LynexError

_VERSION = b"v1:"


class SecretError(LynexError):
    """A stored secret cannot be decrypted (wrong master key or tampered data)."""


def load_or_create_key(path: Path) -> bytes:
    """The master key in ``path``; a new one is written (0600, exclusive create) if absent."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race: use its key
            return load_or_create_key(path)
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64encode(key) + b"\n")
        return key
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigError(f"master key file {path} must hold 32 random bytes in base64 "
                          "(e.g. `head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE`)")
    return key


class SecretBox:
    """Encrypt/decrypt small secrets; ``context`` (e.g. the channel id) binds a ciphertext to its owner."""

    def __init__(self, key: bytes):
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return (_VERSION + base64.b64encode(nonce + sealed)).decode("ascii")

    def decrypt(self, token: str, context: str) -> str:
        data = token.encode("ascii")
        if not data.startswith(_VERSION):
            raise SecretError("stored secret has an unknown format")
        blob = base64.b64decode(data[len(_VERSION):])
        try:
            return self._aead.decrypt(blob[:12], blob[12:], context.encode("utf-8")).decode("utf-8")
        except Exception:
            raise SecretError("stored secret cannot be decrypted: was the master key replaced?") from None
