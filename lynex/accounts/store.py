"""Users and browser sessions in meta.sqlite.

Session tokens are random 256-bit strings stored as SHA-256 digests (like API keys: a slow KDF
buys nothing for high-entropy secrets). Each session carries its own CSRF token, which every
dashboard form must echo back.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass

from lynex.accounts.passwords import MIN_LENGTH, dummy_verify, hash_password, verify_password
from lynex.errors import LynexError, NotFound
from lynex.storage.meta import MetaStore

ROLES = ("admin", "member")
SESSION_TTL_S = 7 * 86400
_EMAIL_RX = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")
_USER_COLS = "id, email, role, created_at, disabled_at, last_login_at"


class AccountError(LynexError):
    """Bad account input (email taken, weak password, wrong setup token…); the message says which."""


@dataclass(frozen=True)
class User:
    id: str
    email: str
    role: str
    created_at: float
    disabled_at: float | None
    last_login_at: float | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def to_dict(self) -> dict:
        return {"id": self.id, "email": self.email, "role": self.role, "created_at": self.created_at,
                "disabled": self.disabled_at is not None, "last_login_at": self.last_login_at}


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    expires_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL_RX.match(email):
        raise AccountError(f"email: '{email}' is not an email address")
    return email


def check_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise AccountError(f"password: must be at least {MIN_LENGTH} characters")
    if len(password) > 1024:
        raise AccountError("password: must be at most 1024 characters")


class Accounts:
    """Account operations over the metadata store; safe from any thread (one connection each)."""

    def __init__(self, meta: MetaStore, clock=time.time):
        self.meta = meta
        self.clock = clock

    def _con(self) -> sqlite3.Connection:
        return self.meta._con()  # same per-thread connection and migrations as the rest of meta

    # -- users ----------------------------------------------------------------------------
    def create_user(self, email: str, password: str, role: str = "member") -> User:
        """Create a local account; email unique (case-insensitive), password ≥ 10 characters."""
        email = normalize_email(email)
        if role not in ROLES:
            raise AccountError(f"role: '{role}' must be one of {', '.join(ROLES)}")
        check_password(password)
        user = User("usr_" + secrets.token_hex(6), email, role, self.clock(), None, None)
        try:
            self._con().execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, NULL, NULL)",
                                (user.id, user.email, user.role, hash_password(password), user.created_at))
        except sqlite3.IntegrityError:
            raise AccountError(f"email: an account for '{email}' already exists") from None
        return user

    def users(self) -> list[User]:
        rows = self._con().execute(f"SELECT {_USER_COLS} FROM users ORDER BY created_at").fetchall()
        return [User(*r) for r in rows]

    def user(self, email: str) -> User:
        row = self._con().execute(f"SELECT {_USER_COLS} FROM users WHERE email = ?",
                                  (email.strip().lower(),)).fetchone()
        if row is None:
            raise NotFound(f"no account for '{email}'")
        return User(*row)

    def disable(self, email: str) -> User:
        """Disable an account and end its sessions at once."""
        user = self.user(email)
        con = self._con()
        con.execute("UPDATE users SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL", (self.clock(), user.id))
        con.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))
        return self.user(email)

    def authenticate(self, email: str, password: str) -> User | None:
        """The enabled user with this email and password, or None (same cost either way)."""
        row = self._con().execute(f"SELECT {_USER_COLS}, password_hash FROM users WHERE email = ?",
                                  (email.strip().lower(),)).fetchone()
        if row is None:
            dummy_verify(password)
            return None
        if not verify_password(password, row[6]) or row[4] is not None:
            return None
        self._con().execute("UPDATE users SET last_login_at = ? WHERE id = ?", (self.clock(), row[0]))
        return User(*row[:6])

    # -- first admin ----------------------------------------------------------------------
    def setup_open(self) -> bool:
        """True until the first account exists (and a setup token was issued)."""
        if self._con().execute("SELECT 1 FROM users LIMIT 1").fetchone():
            return False
        return self.meta.get_setting("setup_token_hash") is not None

    def complete_setup(self, token: str, email: str, password: str) -> User:
        """Create the first admin with the one-time token printed by ``lynex serve``; burns the token."""
        stored = self.meta.get_setting("setup_token_hash")
        if not self.setup_open() or stored is None:
            raise AccountError("setup: already done; sign in instead")
        if not hmac.compare_digest(hashlib.sha256(token.strip().encode("utf-8")).hexdigest(), stored):
            raise AccountError("token: not the setup token this server printed")
        user = self.create_user(email, password, "admin")
        self.meta.set_setting("setup_done", "1")
        self._con().execute("DELETE FROM settings WHERE k = 'setup_token_hash'")
        return user

    # -- sessions -------------------------------------------------------------------------
    def create_session(self, user: User) -> tuple[str, Session]:
        """A new session for ``user``: returns the cookie token (never stored) and the session."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(user, secrets.token_urlsafe(32), now + SESSION_TTL_S)
        con = self._con()
        con.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
        con.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                    (_digest(token), user.id, session.csrf, now, session.expires_at))
        return token, session

    def session(self, token: str | None) -> Session | None:
        """The live session a cookie names (unexpired, user enabled), or None."""
        if not token or len(token) > 128:
            return None
        row = self._con().execute(
            f"SELECT s.csrf, s.expires_at, {', '.join('u.' + c.strip() for c in _USER_COLS.split(','))}"
            " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?",
            (_digest(token),)).fetchone()
        if row is None or row[1] < self.clock() or row[6] is not None:
            return None
        return Session(User(*row[2:]), row[0], row[1])

    def end_session(self, token: str | None) -> None:
        if token:
            self._con().execute("DELETE FROM sessions WHERE token_hash = ?", (_digest(token),))
