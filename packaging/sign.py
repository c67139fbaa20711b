"""Ed25519 release signing: make a key pair, sign a file, verify a signature (cryptography).

    python packaging/sign.py keygen PRIVATE.pem PUBLIC.pem
    python packaging/sign.py sign PRIVATE.pem FILE            # writes FILE.sig (64 raw bytes)
    python packaging/sign.py verify PUBLIC.pem FILE [FILE.sig]

Signatures are raw Ed25519 over the file's bytes and keys are PEM, so a box without Python verifies
with ``openssl pkeyutl -verify -pubin -inkey PUBLIC.pem -rawin -in FILE -sigfile FILE.sig`` (OpenSSL ≥ 3),
which is what packaging/install.sh does. The private key never enters the tarball.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def keygen(private_path: Path, public_path: Path) -> None:
    """Write a new key pair: the private key mode 0600, unencrypted PEM (keep it off shared disks)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))


def sign(private_path: Path, file: Path) -> Path:
    """Sign FILE with the private key; return the path of the signature (FILE.sig)."""
    key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SystemExit(f"{private_path} is not an Ed25519 private key")
    sig = file.with_name(file.name + ".sig")
    sig.write_bytes(key.sign(file.read_bytes()))
    return sig


def verify(public_path: Path, file: Path, sig: Path | None = None) -> bool:
    """True when SIG (default FILE.sig) is a valid signature of FILE under the public key."""
    key = serialization.load_pem_public_key(public_path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise SystemExit(f"{public_path} is not an Ed25519 public key")
    try:
        key.verify((sig or file.with_name(file.name + ".sig")).read_bytes(), file.read_bytes())
    except InvalidSignature:
        return False
    return True


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "keygen":
        keygen(Path(argv[1]), Path(argv[2]))
        return 0
    if len(argv) == 3 and argv[0] == "sign":
        print(sign(Path(argv[1]), Path(argv[2])))
        return 0
    if len(argv) in (3, 4) and argv[0] == "verify":
        ok = verify(Path(argv[1]), Path(argv[2]), Path(argv[3]) if len(argv) == 4 else None)
        print("signature OK" if ok else "BAD signature", file=sys.stderr)
        return 0 if ok else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
