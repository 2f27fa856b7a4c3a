"""The words of each email: to a subscriber (an event), to a witness (a step, an update: plain
language, nothing identifying), to an officer (an alert sent on, with a link that expires)."""

from __future__ import annotations

import json
from datetime import datetime

from evidence.db.outbox_tables import Delivery
from evidence.settings import Settings

__all__ = ["email_for", "notify_message", "upload_link_words"]


def _base(settings: Settings) -> str:
    return (settings.public_url or "").rstrip("/")


def _clock(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%H:%M UTC on %d %B %Y")


def email_for(settings: Settings, d: Delivery) -> tuple[str, str, dict[str, str]]:
    """(subject, text, extra headers) of an email delivery."""
    p, base = d.payload, _base(settings)
    if d.kind in ("witness.step", "witness.update"):
        link = f"{base}{p['status_path']}"
        headers = {"List-Unsubscribe": f"<{link}/stop>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        if d.kind == "witness.step":
            subject = f"Your video {p['reference']}: {p['title']}"
            lines = [f"{p['title']}: {p['text']}"]
        else:
            subject = f"Your video {p['reference']}: an update from {settings.force_name}"
            lines = [p["update"]]
        lines += ["", f"See where your video is: {link}",
                  "To stop these emails, open the link above and choose 'Stop emails'.",
                  "", "If you are in danger, call 999."]
        return subject, "\n".join(lines), headers
    if d.kind == "officer.share":
        subject = f"[Evidence] {p['summary']}"[:200]
        lines = [p["summary"], f"Incident: {p.get('incident') or 'none'}", f"Where: {p.get('location') or 'not known'}",
                 f"From: {p['sent_by']}", f"Note: {p.get('note') or '-'}", "",
                 f"Image and details (until {_clock(p['expires_at'])}): {base}{p['link_path']}",
                 "", "A potential match: check it against the image before acting."]
        return subject, "\n".join(lines), {}
    incident = p.get("incident") or {}
    subject = f"[Evidence] {p['type']}" + (f" on {incident['reference']}" if incident else "")
    text = (f"Event {p['id']} ({p['type']}) at {p['created_at']}\n"
            + (f"Incident {incident['reference']}: {base}/app/incidents/{incident['id']}\n" if incident else "")
            + "\n" + json.dumps(p["data"], indent=2, sort_keys=True))
    return subject, text, {"X-Evidence-Event-Id": p["id"]}


def upload_link_words(settings: Settings, expires_at: datetime) -> tuple[str, str]:
    """(the text message to a witness up to its link, when the link ends on the witness's own clock)."""
    there = expires_at.astimezone(settings.zone)
    until = f"{there:%H:%M} on {there.day} {there:%B}"
    return (f"{settings.force_name}: thank you for calling. Please send us your video using this secure link "
            f"(it works until {until}): ", f"{until} ({there.tzname()})")


def notify_message(settings: Settings, d: Delivery) -> tuple[str, str]:
    """(subject, message) of a text message or email sent through GOV.UK Notify: an upload link."""
    p = d.payload
    if d.kind != "upload.link" or "link_path" not in p:
        raise ValueError(f"no Notify message for {d.kind} (or its link is gone)")
    return f"Send {settings.force_name} your video", f"{p['before']}{p['link_path']}"
