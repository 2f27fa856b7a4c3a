"""The audit log in words for the people who read it (the Admin audit page): each action as a
sentence ("viewed the watchlist photo of"), each target by its name where it has one (the subject,
the incident's reference, the evidence's file name); the codes stay beside them for the record."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence.db.tables import CandidateRow, Evidence, Incident, User, WatchlistSubjectRow

__all__ = ["ACTION_WORDS", "in_words"]

ACTION_WORDS = {
    "alert.acknowledge": "acknowledged the alert", "alert.escalate": "escalated the alert (nobody acknowledged it)",
    "alert.send": "sent the alert to an officer", "alert.share_view": "opened the alert sent to them",
    "alert.share_reply": "answered the alert", "anpr.access_request": "asked for older camera reads",
    "anpr.hit": "raised a hotlist hit", "anpr.retention": "deleted old camera reads",
    "audit.anchor": "anchored the audit chain", "audit.view": "looked at the audit log",
    "candidate.compare": "compared the faces of potential match", "candidate.confirmed": "confirmed potential match",
    "candidate.rejected": "rejected potential match", "candidate.view": "looked at potential match",
    "candidate.view_crop": "looked at the face crop of potential match", "desk.view": "looked at the alert desk",
    "evidence.access": "opened", "evidence.ingest": "received", "evidence.redact": "made a disclosure copy of",
    "evidence.reanalyse": "analysed again", "evidence.watch": "watched the footage of",
    "evidence.view_footage": "played the footage of", "export.start": "started an evidence package of",
    "export.download": "downloaded the evidence package of", "hotlist.add": "put a vehicle on the hotlist",
    "hotlist.remove": "took a vehicle off the hotlist", "incident.chronology": "read the chronology of",
    "incident.chronology_csv": "downloaded the chronology of", "incident.export": "exported",
    "incident.open": "opened", "incident.close": "closed", "incident.reopen": "reopened",
    "incident.assign": "changed who has", "incidents.search": "searched the incidents",
    "upload_link.send": "sent a witness an upload link for", "incident.pass": "passed to investigators", "incident.people": "looked at the "
    "unknown people of", "incident.public_update": "posted a witness update on", "incident.view": "looked at the "
    "board of", "incident.view_card": "looked at a card of", "incident.view_evidence": "looked at the evidence of",
    "key.create": "made a key", "key.revoke": "revoked a key", "models.reembed": "re-embedded faces",
    "retention.classify": "set the retention of", "retention.hold": "held for investigation",
    "retention.release": "released from investigation", "retention.review": "reviewed the retention of",
    "search.faces": "searched for a face", "search.plates": "searched for a plate",
    "subscription.create": "added a subscription", "subscription.stop": "stopped a subscription",
    "subscription.resume": "resumed a subscription", "upload_link.create": "made a witness upload link for",
    "user.add": "added a person", "user.disable": "disabled", "user.password": "changed their password",
    "user.reset_password": "reset the password of", "user.role": "changed the role of",
    "user.signin": "signed in", "user.signin_failed": "failed to sign in", "user.signout": "signed out",
    "watchlist.authorise": "recorded the authority of a watchlist", "watchlist.create": "created a watchlist",
    "watchlist.enrol": "enrolled people on a watchlist", "watchlist.purge": "purged a watchlist",
    "watchlist.remove": "took off the watchlist", "watchlist.view_photo": "looked at the watchlist photo of",
}
_NAMED: dict[str, tuple[Any, Any]] = {
    "incident": (Incident.id, Incident.reference), "evidence": (Evidence.id, Evidence.original_name),
    "subject": (WatchlistSubjectRow.id, WatchlistSubjectRow.name), "user": (User.id, User.name)}


def in_words(s: Session, entries: list[dict[str, Any]]) -> None:
    """Add ``words`` (the action as a sentence) and ``target_words`` (the target by its name) to
    each entry (dicts with ``action`` and ``target`` as the log has them), a query per kind."""
    ids: dict[str, set[int]] = {}
    for e in entries:
        kind, _, number = str(e["target"]).partition(":")
        if kind in _NAMED and number.isdigit():
            ids.setdefault(kind, set()).add(int(number))
        elif kind == "candidate" and number.isdigit():
            ids.setdefault("candidate", set()).add(int(number))
    names: dict[tuple[str, int], str] = {}
    for kind, wanted in ids.items():
        if kind == "candidate":
            rows = s.execute(select(CandidateRow.id, WatchlistSubjectRow.name).join(
                WatchlistSubjectRow, WatchlistSubjectRow.id == CandidateRow.subject_id).where(CandidateRow.id.in_(wanted)))
            names.update({("candidate", i): f"{n} (no. {i})" for i, n in rows})
            continue
        key, name = _NAMED[kind]
        names.update({(kind, i): str(n) for i, n in s.execute(select(key, name).where(key.in_(wanted)))})
    for e in entries:
        kind, _, number = str(e["target"]).partition(":")
        e["words"] = ACTION_WORDS.get(e["action"], e["action"].replace("_", " ").replace(".", ": "))
        e["target_words"] = names.get((kind, int(number)), "") if number.isdigit() else ""
