"""Access to ANPR camera reads older than EVIDENCE_ANPR_REASON_AFTER_DAYS (90; the national ANPR
standards): the person who needs it asks, with a reason and the plate query it covers; a second,
different named person with the authority role approves or refuses, with their own reason; the
approval lasts EVIDENCE_ANPR_APPROVAL_DAYS and covers that query only (searches with it, and the
images of the old reads it matches). Every step is in the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence.audit import Actor, append_audit, recorded_reason, same_person
from evidence.db.governance_tables import AnprAccess
from evidence.db.tables import AnprRead, User
from evidence.errors import Conflict, Forbidden, InvalidRequest, NotFound
from evidence.runtime import Runtime
from evidence.states import Role
from evidence.utc import utcnow
from pipeline.plates import wildcard_regex

__all__ = ["ApprovalRequired", "access_view", "accesses", "check_read", "check_search", "decide_access", "old_before",
           "request_access"]


class ApprovalRequired(Forbidden):
    """Old reads without a usable approval; ``what`` says which (the message adds how to get one)."""

    code = "approval_required"

    def __init__(self, what: str, how: str = "") -> None:
        super().__init__(f"{what}: {how}" if how else what)
        self.what = what


def old_before(rt: Runtime, now: datetime | None = None) -> datetime:
    """Reads before this are past the access limit."""
    return (now or utcnow()) - timedelta(days=rt.settings.anpr_reason_after_days)


def request_access(rt: Runtime, actor: Actor, query: str, reason: str, incident_id: int | None = None) -> AnprAccess:
    if not wildcard_regex(query).pattern.strip("^$.*"):
        raise InvalidRequest(f"Give at least one letter or number of the registration: {query!r} on its own would "
                             "match every plate")
    with rt.sessions.begin() as s:
        row = AnprAccess(requested_by=actor.name, requested_role=actor.role, reason=recorded_reason(reason),
                         scope={"query": query.strip().upper()}, state="pending", incident_id=incident_id)
        s.add(row)
        s.flush()
        append_audit(s, actor, "anpr.access_request", f"anpr_access:{row.id}", reason=row.reason,
                     detail={"scope": row.scope, "incident_id": incident_id})
        return row


def decide_access(rt: Runtime, access_id: int, approve: bool, reason: str, actor: Actor) -> AnprAccess:
    """The second person's decision: they must hold the authority role and not be the requester."""
    if actor.role != Role.AUTHORITY:
        raise Forbidden(f"{actor.name} has the role {actor.role}: access to old ANPR reads is approved by the "
                        "authority role (an inspector or above)")
    with rt.sessions.begin() as s:
        row = s.get(AnprAccess, access_id, with_for_update=True)  # two deciders at once: one decides
        if row is None:
            raise NotFound(f"access request {access_id} not found")
        if s.scalar(select(User.id).where(User.name == actor.name, User.role == Role.AUTHORITY,
                                          User.disabled_at.is_(None))) is None:
            raise Forbidden(f"{actor.name} is not an active person account with the authority role: an approval is "
                            "a named person's decision (`evidence users add --role authority`)")
        if same_person(row.requested_by, actor.name):  # "insp 3 auth" (a key) is Insp 3 Auth (a person)
            raise Forbidden("a request for access to old ANPR reads is approved by a second person, not its requester")
        if row.state != "pending":
            raise Conflict(f"access request {access_id} was already {row.state} by {row.decided_by}")
        row.state = "approved" if approve else "refused"
        row.decided_by, row.decided_at, row.decision_reason = actor.name, utcnow(), recorded_reason(reason)
        if approve:
            row.expires_at = utcnow() + timedelta(days=rt.settings.anpr_approval_days)
        append_audit(s, actor, f"anpr.access_{row.state}", f"anpr_access:{row.id}", reason=row.decision_reason,
                     detail={"requested_by": row.requested_by, "scope": row.scope,
                             "expires_at": row.expires_at.isoformat() if row.expires_at else None})
        return row


def _approved(s: Session, actor: Actor, access_id: int | None) -> AnprAccess:
    how = ("ask for it (POST /anpr/access or `evidence anpr access request`) and have a second person with the "
           "authority role approve it, then pass its id as `access`")
    if access_id is None:
        raise ApprovalRequired("camera reads older than the access limit need an approved access request", how)
    row = s.get(AnprAccess, access_id)
    if row is None or row.requested_by != actor.name:
        raise ApprovalRequired(f"access request {access_id} is not one of yours", how)
    if row.state != "approved" or row.expires_at is None or row.expires_at <= utcnow():
        state = "expired" if row.state == "approved" else row.state
        raise ApprovalRequired(f"access request {access_id} is {state}", how)
    return row


def check_search(s: Session, actor: Actor, access_id: int | None, query: str) -> AnprAccess:
    """The approval that lets ``actor`` search ``query`` past the access limit (ApprovalRequired)."""
    row = _approved(s, actor, access_id)
    if row.scope.get("query") != query.strip().upper():
        raise ApprovalRequired(f"access request {row.id} covers {row.scope.get('query')!r}, not {query!r}")
    return row


def check_read(s: Session, actor: Actor, access_id: int | None, read: AnprRead) -> AnprAccess:
    """The approval that lets ``actor`` see this old read's images (its query matches the read)."""
    row = _approved(s, actor, access_id)
    if not wildcard_regex(str(row.scope.get("query", ""))).match(read.vrm_key):
        raise ApprovalRequired(f"access request {row.id} covers {row.scope.get('query')!r}, not read {read.id}")
    return row


def accesses(s: Session, pending_only: bool = False, requested_by: str | None = None,
             limit: int = 500) -> list[AnprAccess]:
    """Requests, newest first: only those awaiting a decision, or only one person's."""
    q = select(AnprAccess).order_by(AnprAccess.id.desc()).limit(limit)
    if pending_only:
        q = q.where(AnprAccess.state == "pending")
    if requested_by is not None:
        q = q.where(AnprAccess.requested_by == requested_by)
    return list(s.scalars(q))


def access_view(row: AnprAccess) -> dict[str, Any]:
    return {"id": row.id, "requested_by": row.requested_by, "reason": row.reason, "query": row.scope.get("query"),
            "requested_at": row.requested_at, "state": row.state, "decided_by": row.decided_by,
            "decided_at": row.decided_at, "decision_reason": row.decision_reason, "expires_at": row.expires_at,
            "incident_id": row.incident_id}
