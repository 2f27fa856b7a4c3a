"""An incident's life: opened (the one way the API, the pages and the command line open one), found again by its reference or its words, assigned to a
named member of staff, closed with a reason (its upload links stop working) and reopened. Each
change is a compare-and-set (two people closing at once: one wins, the other is told who did),
audited with who, when and why, and on the incident's chronology."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from evidence.audit import Actor, append_audit
from evidence.db import rows_changed
from evidence.db.tables import Incident, User
from evidence.db.upload_tables import UploadLink
from evidence.errors import Conflict, InvalidRequest, NotFound
from evidence.eventkinds import EventKind
from evidence.events import add_event
from evidence.runtime import Runtime
from evidence.states import READERS
from evidence.utc import utcnow
from evidence.watchlist_lists import choose_lists
from evidence.work.intake import get_or_create_incident

__all__ = ["Status", "assign_incident", "assignable", "close_incident", "find_incidents", "open_incident", "reopen_incident"]

Status = Literal["open", "closed", "all"]
MAX_LISTED = 1000


def open_incident(s: Session, reference: str, actor: Actor, title: str = "", incident_type: str = "",
                  watchlists: list[str] | None = None) -> Incident:
    """The incident ``reference``, opened if it is new (audited either way, in the caller's
    transaction). One rule for every caller: a title given names it while it has none of its own
    (none, or only its reference); a type given is kept while it has none; watchlists given replace
    its lists."""
    incident = get_or_create_incident(s, reference)
    if title.strip() and incident.title in ("", incident.reference):
        incident.title = title.strip()
    if incident_type.strip() and not incident.incident_type:
        incident.incident_type = incident_type.strip()
    append_audit(s, actor, "incident.open", f"incident:{incident.id}", detail={"reference": reference})
    if watchlists:
        choose_lists(s, incident, watchlists, actor)
    return incident


def find_incidents(s: Session, words: str = "", status: Status = "all", assigned_to: str | None = None,
                   limit: int = 200) -> list[Incident]:
    """Newest first: those whose reference or title holds ``words`` (any case), in ``status``,
    assigned to ``assigned_to`` ("" for nobody; None for anyone)."""
    q = select(Incident).order_by(Incident.id.desc()).limit(min(limit, MAX_LISTED))
    if words.strip():
        like = "%" + words.strip().upper().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        q = q.where(or_(func.upper(Incident.reference).like(like, escape="\\"),
                        func.upper(Incident.title).like(like, escape="\\")))
    if status != "all":
        q = q.where(Incident.status == status)
    if assigned_to is not None:
        q = q.where(Incident.assigned_to.is_(None) if assigned_to == "" else Incident.assigned_to == assigned_to)
    return list(s.scalars(q))


def assignable(s: Session) -> list[str]:
    """The names of the people an incident can be given to (staff who sign in, not disabled)."""
    return list(s.scalars(select(User.name).where(User.disabled_at.is_(None), User.role.in_(READERS))
                          .order_by(User.name)))


def _incident(s: Session, incident_id: int) -> Incident:
    incident = s.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    return incident


def close_incident(rt: Runtime, incident_id: int, actor: Actor, reason: str) -> int:
    """Close it: its upload links stop working now. How many links were ended; Conflict if it was
    already closed (by whom, and when)."""
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("Give the reason for closing the incident")
    now = utcnow()
    with rt.sessions.begin() as s:
        incident = _incident(s, incident_id)
        closed = {"by": actor.name, "at": now.isoformat(), "why": reason}
        won = rows_changed(s.execute(update(Incident).where(Incident.id == incident_id, Incident.status == "open")
                                     .values(status="closed", closed=closed).execution_options(synchronize_session=False)))
        if not won:
            s.refresh(incident)
            was = incident.closed or {}
            raise Conflict(f"{incident.reference} was already closed by {was.get('by', 'someone')}")
        ended = rows_changed(s.execute(update(UploadLink).where(UploadLink.incident_id == incident_id,
                                                                UploadLink.expires_at > now)
                                       .values(expires_at=now).execution_options(synchronize_session=False)))
        append_audit(s, actor, "incident.close", f"incident:{incident_id}", reason, {"links_ended": ended})
        add_event(s, incident_id, EventKind.INCIDENT_CLOSED, {"by": actor.name, "reason": reason, "links_ended": ended})
        return ended


def reopen_incident(rt: Runtime, incident_id: int, actor: Actor, reason: str) -> None:
    """Open a closed incident again (its old upload links stay ended: make new ones)."""
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("Give the reason for reopening the incident")
    with rt.sessions.begin() as s:
        incident = _incident(s, incident_id)
        won = rows_changed(s.execute(update(Incident).where(Incident.id == incident_id, Incident.status == "closed")
                                     .values(status="open").execution_options(synchronize_session=False)))
        if not won:
            raise Conflict(f"{incident.reference} is open already")
        append_audit(s, actor, "incident.reopen", f"incident:{incident_id}", reason)
        add_event(s, incident_id, EventKind.INCIDENT_REOPENED, {"by": actor.name, "reason": reason})


def assign_incident(rt: Runtime, incident_id: int, actor: Actor, to: str | None, was: str | None = None) -> None:
    """Give it to ``to`` (a member of staff by name; None: nobody). ``was``, when given, is who the
    person saw it assigned to: if someone changed it meanwhile, Conflict says who has it now."""
    with rt.sessions.begin() as s:
        incident = _incident(s, incident_id)
        if to is not None and to not in assignable(s):
            raise InvalidRequest(f"{to} is not someone an incident can be given to (a member of staff, not disabled)")
        q = update(Incident).where(Incident.id == incident_id)
        if was is not None:
            q = q.where(Incident.assigned_to.is_(None) if was == "" else Incident.assigned_to == was)
        if not rows_changed(s.execute(q.values(assigned_to=to).execution_options(synchronize_session=False))):
            s.refresh(incident)
            raise Conflict(f"{incident.reference} was given to {incident.assigned_to or 'nobody'} meanwhile: "
                           "look again before changing it")
        append_audit(s, actor, "incident.assign", f"incident:{incident_id}", detail={"to": to, "was": was})
        add_event(s, incident_id, EventKind.INCIDENT_ASSIGNED, {"by": actor.name, "to": to})
