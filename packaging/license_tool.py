"""Vendor side: issue Lynex license files signed with the vendor's Ed25519 private key.

    python packaging/license_tool.py keygen PRIVATE.pem          # new key pair; prints the public key
    python packaging/license_tool.py public PRIVATE.pem          # the public key (base64) to build in
    python packaging/license_tool.py issue PRIVATE.pem --customer "Acme" --plan team \\
        --expires 2027-01-31 [--limit spans_per_month=50000000] [--feature sso] [-o acme.license.json]

The private key never enters the repository or a release. The matching public key is
``VENDOR_PUBLIC_KEY`` in lynex/billing/license.py (or the ``license_public_key`` setting).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import os
import sys
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lynex.billing.license import sign  # noqa: E402
from lynex.billing.plans import LIMIT_NAMES, PLANS  # noqa: E402


def _private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SystemExit(f"{path} is not an Ed25519 private key")
    return key


def public_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def _when(text: str) -> str:
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    keygen = sub.add_parser("keygen")
    keygen.add_argument("private", type=Path)
    public = sub.add_parser("public")
    public.add_argument("private", type=Path)
    issue = sub.add_parser("issue")
    issue.add_argument("private", type=Path)
    issue.add_argument("--customer", required=True)
    issue.add_argument("--plan", required=True, choices=sorted(PLANS))
    issue.add_argument("--expires", required=True, help="RFC 3339 time or date (UTC)")
    issue.add_argument("--issued", default=None, help="default: now")
    issue.add_argument("--limit", action="append", default=[], metavar="NAME=N",
                       help=f"override a plan limit ({', '.join(LIMIT_NAMES)}; 0 = unlimited)")
    issue.add_argument("--feature", action="append", default=None, help="features (default: the plan's)")
    issue.add_argument("--id", default=None)
    issue.add_argument("-o", "--output", type=Path, default=None)
    args = parser.parse_args(argv)

    if args.cmd == "keygen":
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(args.private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        print(public_b64(key))
        return 0
    key = _private(args.private)
    if args.cmd == "public":
        print(public_b64(key))
        return 0
    limits = {}
    for item in args.limit:
        name, _, value = item.partition("=")
        if name not in LIMIT_NAMES or not value.isdigit():
            raise SystemExit(f"--limit {item!r}: expected NAME=N with NAME one of {', '.join(LIMIT_NAMES)}")
        limits[name] = int(value)
    payload = {"license_id": args.id or f"lic_{uuid.uuid4().hex[:16]}", "customer": args.customer,
               "plan": args.plan, "limits": limits,
               "issued_at": _when(args.issued or dt.datetime.now(dt.timezone.utc).isoformat()),
               "expires_at": _when(args.expires)}
    if args.feature is not None:
        payload["features"] = sorted(set(args.feature))
    data = sign(payload, key)
    if args.output:
        args.output.write_bytes(data)
        print(f"wrote {args.output} ({payload['license_id']}, {args.customer}, {args.plan}, "
              f"expires {payload['expires_at']})", file=sys.stderr)
    else:
        sys.stdout.write(data.decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
