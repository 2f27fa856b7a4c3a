"""Sending one message: a webhook POST signed with HMAC-SHA256, or an email over SMTP.

The webhook's body is the JSON envelope (``id`` is the event id: a receiver that sees an id again
ignores it, which makes a resend after a lost answer harmless). The signature header is
``X-Evidence-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``; a
receiver recomputes it over the bytes it received and refuses a stale ``t`` (replays)."""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx

from evidence import __version__
from evidence.notify.targets import check_webhook
from evidence.settings import Settings

__all__ = ["Outcome", "post_webhook", "send_email", "sign"]


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None = None
    error: str | None = None
    final: bool = False  # a refusal that trying again cannot change (a number Notify will not text)


def sign(secret: str, body: bytes, t: int | None = None) -> str:
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def post_webhook(client: httpx.Client, settings: Settings, url: str, secret: str, payload: dict[str, Any]) -> Outcome:
    """POST the payload; ok on any 2xx. Redirects are not followed (a redirect could lead anywhere)."""
    try:
        check_webhook(url, settings.webhook_allow_private)
    except Exception as exc:  # noqa: BLE001 - refused addresses are an outcome, not a crash
        return Outcome(False, None, str(exc))
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": f"evidence-pipeline/{__version__}",
               "X-Evidence-Event-Id": str(payload.get("id", "")), "X-Evidence-Signature": sign(secret, body)}
    try:
        r = client.post(url, content=body, headers=headers, follow_redirects=False)
    except httpx.TimeoutException:
        return Outcome(False, None, f"no answer within {settings.webhook_timeout_s:g} s")
    except httpx.HTTPError as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= r.status_code < 300:
        return Outcome(True, r.status_code)
    return Outcome(False, r.status_code, f"answered {r.status_code}")


def _one_line(text: str) -> str:
    """A header's value on one line: a line break (an incident reference, a name typed with one)
    would be refused by the email library or, worse, start a header of its own."""
    return " ".join(str(text).split())


def send_email(settings: Settings, to: str, subject: str, text: str, headers: dict[str, str] | None = None) -> Outcome:
    if not settings.smtp_host:
        return Outcome(False, None, "no SMTP server is configured (EVIDENCE_SMTP_HOST)")
    msg = EmailMessage()
    try:
        msg["From"], msg["To"], msg["Subject"] = settings.mail_from, to, _one_line(subject)[:200]
        for k, v in (headers or {}).items():
            msg[k] = _one_line(v)
    except ValueError as exc:  # an address the email library refuses: the same again would be refused too
        return Outcome(False, None, f"the email cannot be made: {exc}"[:500], final=True)
    msg.set_content(text)
    timeout = settings.webhook_timeout_s
    try:
        if settings.smtp_tls == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        with smtp:
            if settings.smtp_tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500])
    return Outcome(True, 250)
