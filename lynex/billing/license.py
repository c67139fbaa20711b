"""Offline licenses: a JSON file holding a payload and its Ed25519 signature by the vendor.

File format (``lynex-license-1``)::

    {"format": "lynex-license-1", "payload": "<base64 of the payload's JSON bytes>",
     "signature": "<base64 of the 64-byte Ed25519 signature over those bytes>"}

The signature covers the payload's exact bytes (no canonicalisation to get wrong); the payload
holds ``license_id, customer, plan, limits, features, issued_at, expires_at``. Verification is
pure and offline: :func:`verify` against the vendor public key compiled in below (or the
``license_public_key`` setting, which tests and private builds use).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lynex.billing.plans import FREE, LIMIT_NAMES, PLANS, Plan
from lynex.errors import LynexError

FORMAT = "lynex-license-1"
GRACE_DAYS = 14
# The vendor's license-signing public key (raw Ed25519, base64). Its private half lives with
# the vendor only; packaging/license_tool.py signs with it.
VENDOR_PUBLIC_KEY = "CNuUoKDcB1Hfbo5VMQ7oTMSfi7ccWzo37vpFUBzFeHY="


class LicenseError(LynexError):
    """The license file cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class License:
    license_id: str
    customer: str
    plan: Plan
    issued_at: dt.datetime
    expires_at: dt.datetime
    raw: dict = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict:
        return {"license_id": self.license_id, "customer": self.customer, "plan": self.plan.name,
                "limits": self.plan.limits.as_dict(), "features": sorted(self.plan.features),
                "issued_at": _iso(self.issued_at), "expires_at": _iso(self.expires_at)}


@dataclass(frozen=True)
class Entitlement:
    """What the installation may use right now, and why (state: none, invalid, active, grace, expired)."""

    plan: Plan
    state: str
    license: License | None = None
    message: str = ""  # shown as a banner when not empty

    @property
    def limits(self):
        return self.plan.limits

    def has_feature(self, name: str) -> bool:
        return name in self.plan.features

    def as_dict(self) -> dict:
        return {"state": self.state, "plan": self.plan.name, "limits": self.plan.limits.as_dict(),
                "features": sorted(self.plan.features), "message": self.message,
                "license": self.license.as_dict() if self.license else None}


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _time(value: object, name: str) -> dt.datetime:
    if not isinstance(value, str):
        raise LicenseError(f"license payload: '{name}' must be an RFC 3339 time string")
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise LicenseError(f"license payload: '{name}' is not an RFC 3339 time: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def load_public_key(text: str = "") -> Ed25519PublicKey:
    """The verification key: ``text`` (base64 raw key or PEM) or the compiled-in vendor key."""
    text = (text or VENDOR_PUBLIC_KEY).strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not Ed25519")
            return key
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise LicenseError(f"license_public_key is not an Ed25519 public key (base64 raw or PEM): {exc}") from None


def _b64(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise LicenseError(f"malformed license file: '{name}' is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise LicenseError(f"malformed license file: '{name}' is not base64") from None


def verify(data: bytes, public_key: Ed25519PublicKey) -> License:
    """The license in ``data`` if its signature is the vendor's; LicenseError otherwise."""
    try:
        envelope = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise LicenseError("malformed license file: not JSON (expected the file exactly as issued)") from None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise LicenseError(f"malformed license file: not a '{FORMAT}' license")
    payload = _b64(envelope.get("payload"), "payload")
    signature = _b64(envelope.get("signature"), "signature")
    try:
        public_key.verify(signature, payload)
    except InvalidSignature:
        raise LicenseError("license signature is not valid: the file was altered or not issued for this "
                           "Lynex (ask your vendor for a new license file)") from None
    try:
        body = json.loads(payload)
    except ValueError:
        raise LicenseError("license payload is not JSON") from None
    return _parse(body)


def _parse(body: object) -> License:
    if not isinstance(body, dict):
        raise LicenseError("license payload must be a JSON object")
    plan_name = body.get("plan")
    if plan_name not in PLANS:
        raise LicenseError(f"license names an unknown plan {plan_name!r} (known: {', '.join(PLANS)}); "
                           f"upgrade Lynex")
    limits = body.get("limits") or {}
    if not isinstance(limits, dict) or not all(k in LIMIT_NAMES and isinstance(v, int) and v >= 0
                                               for k, v in limits.items()):
        raise LicenseError(f"license limits must map {', '.join(LIMIT_NAMES)} to integers ≥ 0")
    features = body.get("features")
    if features is not None and not (isinstance(features, list) and all(isinstance(f, str) for f in features)):
        raise LicenseError("license features must be a list of names")
    customer = body.get("customer")
    if not isinstance(customer, str) or not customer:
        raise LicenseError("license payload: 'customer' is required")
    return License(license_id=str(body.get("license_id", "")), customer=customer,
                   plan=PLANS[plan_name].with_overrides(limits, features),
                   issued_at=_time(body.get("issued_at", "1970-01-01T00:00:00Z"), "issued_at"),
                   expires_at=_time(body.get("expires_at"), "expires_at"), raw=body)


def entitlement(license: License | None, now: dt.datetime, error: str = "") -> Entitlement:
    """Pure: the plan in force at ``now`` for this license (None: no license; ``error``: unusable file)."""
    if error:
        return Entitlement(FREE, "invalid", None, f"License not used ({error}); running on the free tier.")
    if license is None:
        return Entitlement(FREE, "none")
    if now < license.expires_at:
        return Entitlement(license.plan, "active", license)
    grace_end = license.expires_at + dt.timedelta(days=GRACE_DAYS)
    if now < grace_end:
        days = max(1, -(-int((grace_end - now).total_seconds()) // 86400))
        return Entitlement(license.plan, "grace", license,
                           f"The license of {license.customer} expired on {license.expires_at:%Y-%m-%d}; "
                           f"{days} day(s) of grace left before the free tier's limits apply. "
                           f"Install a renewed license with 'lynex license install FILE'.")
    return Entitlement(FREE, "expired", license,
                       f"The license of {license.customer} expired on {license.expires_at:%Y-%m-%d} and its "
                       f"{GRACE_DAYS}-day grace period is over: the free tier's limits apply (no data is deleted). "
                       f"Install a renewed license with 'lynex license install FILE'.")


def sign(payload: dict, private_key: Ed25519PrivateKey) -> bytes:
    """A license file for ``payload`` (vendor side: packaging/license_tool.py, and tests)."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    _parse(payload)  # never issue a license this Lynex would refuse
    envelope = {"format": FORMAT, "payload": base64.b64encode(body).decode(),
                "signature": base64.b64encode(private_key.sign(body)).decode()}
    return (json.dumps(envelope, indent=2) + "\n").encode()
