"""What the control room tells the public about an incident: a short update ("an officer is on
the way"), shown on the witnesses' status pages and emailed to those who asked, and the hand-over
to investigators (the witnesses' last step). Both audited."""

from __future__ import annotations

from evidence.audit import Actor, append_audit
from evidence.db.tables import Incident
from evidence.errors import InvalidRequest, NotFound
from evidence.eventkinds import EventKind
from evidence.events import add_event
from evidence.runtime import Runtime

__all__ = ["pass_to_investigators", "post_public_update"]


def post_public_update(rt: Runtime, incident_id: int, actor: Actor, text: str) -> str:
    text = " ".join(text.split())
    if not text or len(text) > 280:
        raise InvalidRequest("A public update is 1 to 280 characters")
    with rt.sessions.begin() as s:
        if s.get(Incident, incident_id) is None:
            raise NotFound(f"incident {incident_id} not found")
        add_event(s, incident_id, EventKind.PUBLIC_UPDATE, {"text": text, "by": actor.name})
        append_audit(s, actor, "incident.public_update", f"incident:{incident_id}", detail={"text": text})
    return text


def pass_to_investigators(rt: Runtime, incident_id: int, actor: Actor, reason: str) -> None:
    with rt.sessions.begin() as s:
        if s.get(Incident, incident_id) is None:
            raise NotFound(f"incident {incident_id} not found")
        add_event(s, incident_id, EventKind.INCIDENT_PASSED, {"by": actor.name, "reason": reason})
        append_audit(s, actor, "incident.pass", f"incident:{incident_id}", reason)
