"""Real receivers on 127.0.0.1 for alert deliveries: an HTTP server and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.helpers import free_port


@dataclass
class Delivery:
    path: str
    headers: dict
    body: bytes
    signature_ok: bool | None  # None: no secret registered for the path

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """Records POSTs by path; ``fail[path] = 500`` answers that status instead of 200."""

    deliveries: list[Delivery] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    fail: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "HttpReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.attempts[self.path] = receiver.attempts.get(self.path, 0) + 1
                    status = receiver.fail.get(self.path, 200)
                    if status == 200:
                        secret = receiver.secrets.get(self.path)
                        ok = None
                        if secret is not None:
                            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                            ok = hmac.compare_digest(expected, self.headers.get("X-Lynex-Signature", ""))
                        receiver.deliveries.append(Delivery(self.path, dict(self.headers), body, ok))
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.path == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, written as PEM files (also the CA to trust)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "smtp-cert.pem", tmp / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1 requiring STARTTLS, then AUTH with USER/PASSWORD; records messages."""

    USER, PASSWORD = "lynex", "smtp-pass-123"

    def __init__(self, tmp: Path):
        self.cert, key = self_signed(tmp)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(self.cert, key)
        self.messages: list = []
        self.port = free_port()

    def start(self) -> "SmtpReceiver":
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
                import email
                msg = email.message_from_bytes(envelope.content)
                receiver.messages.append({"from": envelope.mail_from, "to": envelope.rcpt_tos, "msg": msg,
                                          "tls": session.ssl is not None, "auth": session.authenticated})
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == self.USER.encode() and auth_data.password == self.PASSWORD.encode()
            return AuthResult(success=ok)

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, tls_context=self.context,
                                     require_starttls=True, auth_require_tls=True, authenticator=authenticator,
                                     auth_required=True)
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
