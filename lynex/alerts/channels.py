"""Notification channels: validate their definitions, render a message for each, send it.

* webhook — POST of the event as JSON, signed ``X-Lynex-Signature: sha256=<hex HMAC-SHA256 of the
  body>`` with the channel's secret;
* slack — an incoming-webhook URL (itself the secret) receiving a Block Kit message;
* email — SMTP with STARTTLS and auth, the server being an installation setting.

Senders raise ``DeliveryError``; ``retryable`` says whether another attempt can help.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlsplit

from lynex.alerts.rules import AlertValidationError

CHANNEL_TYPES = ("webhook", "slack", "email")
SIGNATURE_HEADER = "X-Lynex-Signature"
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


class DeliveryError(Exception):
    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""
    port: int = 587
    username: str = ""
    password: str = ""
    starttls: bool = True
    sender: str = "lynex@localhost"
    ca_file: str = ""
    timeout_s: float = 10.0


def check_url(field: str, value: object) -> str:
    """An http(s) URL with a host, or AlertValidationError naming ``field``."""
    if not isinstance(value, str) or not value.strip():
        raise AlertValidationError(f"{field}: required, an http:// or https:// URL")
    url = value.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # raises on a malformed port
    except ValueError:
        raise AlertValidationError(f"{field}: '{url}' is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in url) or len(url) > 2000:
        raise AlertValidationError(f"{field}: '{url}' is not a valid http:// or https:// URL")
    return url


def parse_channel(data: object, existing_type: str | None = None) -> tuple[str, str, dict, str | None, bool]:
    """Validate a channel definition → (name, type, public config, secret, keep the stored secret)."""
    if not isinstance(data, dict):
        raise AlertValidationError("channel: must be a JSON object")
    type_ = data.get("type", existing_type)
    if type_ not in CHANNEL_TYPES:
        raise AlertValidationError(f"type: unknown channel type {type_!r}; choose from {', '.join(CHANNEL_TYPES)}")
    if existing_type and type_ != existing_type:
        raise AlertValidationError("type: a channel's type cannot change; create a new channel")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 120:
        raise AlertValidationError("name: required, 1-120 characters")
    updating = existing_type is not None
    if type_ == "webhook":
        config = {"url": check_url("url", data.get("url"))}
        secret = data.get("secret")
        if secret is not None and (not isinstance(secret, str) or len(secret) < 16):
            raise AlertValidationError("secret: at least 16 characters (or leave it out to get a generated one)")
        if secret is None and not updating:
            secret = "whsec_" + secrets.token_urlsafe(24)
        return name.strip(), type_, config, secret, secret is None
    if type_ == "slack":
        url = data.get("url")
        if url is None and updating:
            return name.strip(), type_, {}, None, True
        url = check_url("url", url)
        return name.strip(), type_, {"host": urlsplit(url).hostname}, url, False
    to = data.get("to")
    if isinstance(to, str):
        to = [a.strip() for a in re.split(r"[,;\s]+", to) if a.strip()]
    if not isinstance(to, list) or not to or len(to) > 50:
        raise AlertValidationError("to: required, one or more email addresses")
    for address in to:
        if not isinstance(address, str) or not _EMAIL.match(address):
            raise AlertValidationError(f"to: '{address}' is not an email address")
    return name.strip(), type_, {"to": to}, None, True


# -- rendering -------------------------------------------------------------------------------
def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _headline(event: dict) -> str:
    kind = event["type"].split(".", 1)[1]
    label = {"firing": "FIRING", "resolved": "RESOLVED", "test": "TEST"}[kind]
    return f"[{label}] {event['rule']['name']} · {event['project']['name']}"


def slack_message(event: dict) -> dict:
    """Block Kit: a header, the summary, the numbers, a button to the filtered timeline."""
    fields = [{"type": "mrkdwn", "text": f"*Value*\n{_fmt(event.get('value'))} {event.get('unit', '')}"},
              {"type": "mrkdwn", "text": f"*Threshold*\n{_fmt(event.get('threshold'))} {event.get('unit', '')}"},
              {"type": "mrkdwn", "text": f"*Rule*\n{_escape(event['rule']['condition'])}"},
              {"type": "mrkdwn", "text": f"*Since*\n{event.get('started_at_iso', '')}"}]
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": _headline(event)[:150]}},
              {"type": "section", "text": {"type": "mrkdwn", "text": _escape(event.get("summary", ""))}},
              {"type": "section", "fields": fields}]
    if event.get("link"):
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open spans in Lynex"}, "url": event["link"]}]})
    return {"text": f"{_headline(event)}: {event.get('summary', '')}", "blocks": blocks}


def email_message(event: dict, smtp: SmtpSettings, to: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = "[Lynex] " + _headline(event)
    msg["From"] = smtp.sender
    msg["To"] = ", ".join(to)
    lines = [_headline(event), "", event.get("summary", ""), "",
             f"Value:     {_fmt(event.get('value'))} {event.get('unit', '')}",
             f"Threshold: {_fmt(event.get('threshold'))} {event.get('unit', '')}",
             f"Rule:      {event['rule']['condition']}",
             f"Started:   {event.get('started_at_iso', '')}"]
    if event.get("resolved_at_iso"):
        lines.append(f"Resolved:  {event['resolved_at_iso']}")
    if event.get("link"):
        lines += ["", f"Spans: {event['link']}"]
    msg.set_content("\n".join(lines) + "\n")
    return msg


def _fmt(value) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _escape(text: str) -> str:  # Slack mrkdwn control characters
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- sending ---------------------------------------------------------------------------------
def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "Lynex-Alerts",
                                              **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(1024)
    except urllib.error.HTTPError as exc:
        retryable = exc.code >= 500 or exc.code in (408, 429)
        raise DeliveryError(f"HTTP {exc.code} from {urlsplit(url).hostname}", retryable) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"cannot reach {urlsplit(url).hostname}: {reason}") from None


def send(channel, secret: str | None, event: dict, delivery_id: str, smtp: SmtpSettings,
         timeout: float = 10.0) -> None:
    """Deliver ``event`` through ``channel``; raises DeliveryError."""
    if channel.type == "webhook":
        body = json.dumps(event, separators=(",", ":")).encode("utf-8")
        headers = {"X-Lynex-Event": event["type"], "X-Lynex-Delivery": delivery_id}
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, body)
        _post(channel.config["url"], body, headers, timeout)
    elif channel.type == "slack":
        if not secret:
            raise DeliveryError("the Slack webhook URL is missing: edit the channel", retryable=False)
        _post(secret, json.dumps(slack_message(event)).encode("utf-8"), {}, timeout)
    elif channel.type == "email":
        _send_email(email_message(event, smtp, channel.config["to"]), smtp)
    else:
        raise DeliveryError(f"unknown channel type {channel.type}", retryable=False)


def _send_email(msg: EmailMessage, smtp: SmtpSettings) -> None:
    if not smtp.host:
        raise DeliveryError("no SMTP server configured: set smtp_host (and smtp_port, smtp_username…)",
                            retryable=False)
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as client:
            client.ehlo()
            if smtp.starttls:
                context = ssl.create_default_context(cafile=smtp.ca_file or None)
                client.starttls(context=context)
                client.ehlo()
            if smtp.username:
                client.login(smtp.username, smtp.password)
            client.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"SMTP authentication failed ({exc.smtp_code})", retryable=False) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(f"SMTP server does not support a required feature: {exc}", retryable=False) from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise DeliveryError(f"SMTP {smtp.host}:{smtp.port}: {exc}") from None
