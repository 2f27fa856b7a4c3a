"""Text messages and emails to witnesses through GOV.UK Notify (its official client,
``notifications-python-client``): the upload link the control room would otherwise read out.

The force's Notify service holds two templates whose words are ours: a text message whose body is
``((message))``, and an email whose subject is ``((subject))`` and body ``((message))``
(``EVIDENCE_NOTIFY_SMS_TEMPLATE``, ``EVIDENCE_NOTIFY_EMAIL_TEMPLATE``). ``EVIDENCE_NOTIFY_BASE_URL``
points elsewhere for a test service or a stand-in (the tests run a local one)."""

from __future__ import annotations

import re
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from notifications_python_client.errors import APIError, TokenError
from notifications_python_client.notifications import NotificationsAPIClient

from evidence.notify.send import Outcome
from evidence.settings import Settings

__all__ = ["Channel", "available", "check_email", "check_mobile", "send_notify", "shown"]

Channel = Literal["notify_sms", "notify_email"]
_MOBILE = re.compile(r"^(?:(?:\+|00)44|0)7\d{9}$")  # a UK mobile, the numbers Notify texts by default
_INTERNATIONAL = re.compile(r"^(?:\+|00)[1-9]\d{7,14}$")


def available(settings: Settings) -> set[Channel]:
    """The channels this installation can send through (an API key and the channel's template)."""
    if not settings.notify_api_key:
        return set()
    out: set[Channel] = set()
    if settings.notify_sms_template:
        out.add("notify_sms")
    if settings.notify_email_template:
        out.add("notify_email")
    return out


def check_mobile(text: str) -> str:
    """The number as Notify takes it (digits, a leading +), or ValueError in the GOV.UK words."""
    number = re.sub(r"[\s()\-.]", "", text)
    if not number:
        raise ValueError("Enter a mobile phone number")
    if not re.fullmatch(r"\+?\d+", number):
        raise ValueError("Enter a mobile phone number, like 07700 900 982 or +44 7700 900 982, using only numbers")
    if not (_MOBILE.match(number) or (_INTERNATIONAL.match(number) and not number.lstrip("+0").startswith("44"))):
        raise ValueError("Enter a mobile phone number in the correct format, like 07700 900 982 or +44 7700 900 982")
    return number


def check_email(text: str) -> str:
    address = text.strip()
    if not address:
        raise ValueError("Enter an email address")
    try:
        return str(validate_email(address, check_deliverability=False).normalized)
    except EmailNotValidError:
        raise ValueError("Enter an email address in the correct format, like name@example.com") from None


def shown(channel: str, target: str) -> str:
    """Where it went, as staff read it (a number in groups of digits)."""
    if channel == "notify_sms" and target.startswith("07") and len(target) == 11:
        return f"{target[:5]} {target[5:8]} {target[8:]}"
    return target


def send_notify(settings: Settings, channel: str, to: str, subject: str, message: str, reference: str) -> Outcome:
    """One message through Notify; ok once Notify has accepted it (it then sends it on)."""
    if not settings.notify_api_key:
        return Outcome(False, None, "GOV.UK Notify is not set up (EVIDENCE_NOTIFY_API_KEY)")
    try:
        client = NotificationsAPIClient(settings.notify_api_key,  # type: ignore[no-untyped-call]
                                        base_url=settings.notify_base_url.rstrip("/"), timeout=settings.webhook_timeout_s)
        if channel == "notify_sms":
            if not settings.notify_sms_template:
                return Outcome(False, None, "no text message template is set (EVIDENCE_NOTIFY_SMS_TEMPLATE)")
            client.send_sms_notification(to,  # type: ignore[no-untyped-call]
                                          settings.notify_sms_template, {"message": message}, reference=reference)
        else:
            if not settings.notify_email_template:
                return Outcome(False, None, "no email template is set (EVIDENCE_NOTIFY_EMAIL_TEMPLATE)")
            client.send_email_notification(to,  # type: ignore[no-untyped-call]
                                            settings.notify_email_template,
                                           {"subject": subject, "message": message}, reference=reference)
    except APIError as exc:
        if exc.response is None:  # no answer: refused, timed out, a name that does not resolve
            return Outcome(False, None, f"GOV.UK Notify could not be reached ({settings.notify_base_url})")
        final = exc.status_code in (400, 403)  # the message or the key is refused: the same again would be too
        return Outcome(False, exc.status_code, f"GOV.UK Notify answered {exc.status_code}: {_words(exc.message)}"[:500],
                       final)
    except TokenError as exc:
        return Outcome(False, None, f"the Notify API key is not usable: {exc.message}"[:500])
    except (AssertionError, ValueError) as exc:  # a key too short to hold a service id and a secret
        return Outcome(False, None, f"the Notify API key is not usable: {exc}"[:500])
    return Outcome(True, 201)


def _words(message: Any) -> str:
    """Notify's errors ([{"error": "BadRequestError", "message": "…"}]) as one line."""
    if isinstance(message, list):
        return "; ".join(str(m.get("message", m)) if isinstance(m, dict) else str(m) for m in message)
    return str(message)
