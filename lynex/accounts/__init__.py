"""Dashboard accounts: local users, password hashing, browser sessions, CSRF and login throttling.

Users and sessions live in meta.sqlite (migration 2 of ``lynex.storage.meta``) so the CLI can
manage accounts while the server runs.
"""

from lynex.accounts.passwords import hash_password, verify_password
from lynex.accounts.ratelimit import LoginLimiter
from lynex.accounts.store import ROLES, AccountError, Accounts, Session, User

__all__ = ["Accounts", "AccountError", "LoginLimiter", "ROLES", "Session", "User", "hash_password",
           "verify_password"]
