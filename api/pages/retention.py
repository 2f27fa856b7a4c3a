"""An incident's retention, on a page for the investigator preparing it for court and for the
administrator: its class and next review date (MoPI: evidence is reviewed, never deleted by a
clock), and the hold that keeps its bystanders' face tracks past the 31 days while it is
investigated. Each change takes a reason and goes through ``evidence.retention``, audited under the
signed-in name, as from the command line (``evidence retention hold|release|classify|review``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from api.auth import EXPORTERS
from api.deps import RuntimeDep
from api.errors import status_of
from api.pages.common import check_csrf, render, staff
from api.params import Id
from evidence.db.tables import Incident
from evidence.errors import EvidenceError, InvalidRequest, NotFound
from evidence.retention import classify, hold, incident_retention, release, review_retention
from evidence.runtime import Runtime
from evidence.users import SessionUser
from evidence.utc import end_of_day, utcnow

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Holder = Annotated[SessionUser, Depends(staff(*EXPORTERS))]
Text = Annotated[str, Form(max_length=2000)]
Csrf = Annotated[str, Form(max_length=100)]
ACTIONS = ("hold", "release", "classify", "review")


def _page(request: Request, rt: Runtime, user: SessionUser, incident_id: int, status: int = 200,
          **context: Any) -> HTMLResponse:
    with rt.sessions() as s:
        incident = s.get(Incident, incident_id)
        if incident is None:
            raise NotFound(f"incident {incident_id} not found")
        kept = incident_retention(incident, rt.settings)
        view = {"id": incident.id, "reference": incident.reference, "title": incident.title}
    review_at = datetime.fromisoformat(kept["review_at"])
    return render(request, "retention.html", user, status_code=status, incident=view, cls=kept["class"],
                  review_at=f"{review_at:%d %B %Y}", hold=kept["hold"], classes=rt.settings.retention_classes,
                  bystander_days=rt.settings.bystander_retention_days, page_title="Retention", **context)


@router.get("/app/incidents/{incident_id}/retention", response_class=HTMLResponse)
def retention_page(incident_id: Id, request: Request, rt: RuntimeDep, user: Holder) -> HTMLResponse:
    return _page(request, rt, user, incident_id)


@router.post("/app/incidents/{incident_id}/retention", response_class=HTMLResponse)
def change(incident_id: Id, request: Request, rt: RuntimeDep, user: Holder, action: Annotated[str, Form(max_length=10)] = "",
           reason: Text = "", retention_class: Annotated[str, Form(max_length=40)] = "",
           keep_until: Annotated[str, Form(max_length=10)] = "", csrf_token: Csrf = "") -> HTMLResponse:
    """One change (``action``): hold, release, classify (``retention_class``) or review (``keep_until``)."""
    check_csrf(user, csrf_token)
    with rt.sessions() as s:
        incident = s.get(Incident, incident_id)
        if incident is None:
            raise NotFound(f"incident {incident_id} not found")
        reference = incident.reference
    try:
        if action == "hold":
            hold(rt, reference, reason, user.actor)
            done = "Held for investigation: its bystanders' face tracks are kept until the hold is released"
        elif action == "release":
            release(rt, reference, reason, user.actor)
            done = "Hold released"
        elif action == "classify":
            classify(rt, reference, retention_class, reason, user.actor)
            done = f"Classed {retention_class}"
        elif action == "review":
            until = _end_of(keep_until)
            review_retention(rt, reference, until, reason, user.actor)
            done = f"Kept until {until:%d %B %Y}, when it is reviewed again"
        else:
            raise InvalidRequest(f"Choose one of: {', '.join(ACTIONS)}")
    except BadDate as exc:
        return _page(request, rt, user, incident_id, status_of(exc), error=exc.message, failed=action,
                     field="keep_until", reason=reason, keep_until=keep_until)
    except EvidenceError as exc:
        return _page(request, rt, user, incident_id, status_of(exc), error=exc.message, failed=action,
                     reason=reason, keep_until=keep_until)
    return _page(request, rt, user, incident_id, notice=done)


class BadDate(InvalidRequest):
    """The review date field, not the reason, is what needs correcting."""


def _end_of(day: str) -> datetime:
    """A date from the form (YYYY-MM-DD, after today) as the end of that day, UTC."""
    until = end_of_day(day)
    if until is None:
        raise BadDate("Give the next review date as a date, for example 2032-12-31")
    if until.date() <= utcnow().date():
        raise BadDate("The next review date must be after today")
    return until
