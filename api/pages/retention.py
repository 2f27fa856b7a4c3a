"""An incident's retention, on a page for the investigator preparing it for court and for the
administrator: its class and next review date (MoPI: evidence is reviewed, never deleted by a
clock), and the hold that keeps its bystanders' face tracks past the 31 days while it is
investigated. Each change takes a reason and goes through ``evidence.retention``, audited under the
signed-in name, as from the command line (``evidence retention hold|release|classify|review``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from api.auth import EXPORTERS
from api.deps import RuntimeDep
from api.errors import status_of
from api.pages.common import FieldError, check_csrf, render, staff, typed_date
from api.params import Id
from evidence.db.tables import Incident
from evidence.errors import EvidenceError, InvalidRequest, NotFound
from evidence.retention import classify, hold, incident_retention, release, review_retention
from evidence.runtime import Runtime
from evidence.users import SessionUser
from evidence.utc import utcnow

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


# The next review date as GOV.UK has people type a date: day, month and year.
KeepDay = Annotated[str, Form(alias="keep_until-day", max_length=4)]
KeepMonth = Annotated[str, Form(alias="keep_until-month", max_length=4)]
KeepYear = Annotated[str, Form(alias="keep_until-year", max_length=4)]


@router.get("/app/incidents/{incident_id}/retention", response_class=HTMLResponse)
def retention_page(incident_id: Id, request: Request, rt: RuntimeDep, user: Holder) -> HTMLResponse:
    return _page(request, rt, user, incident_id)


@router.post("/app/incidents/{incident_id}/retention", response_class=HTMLResponse)
def change(incident_id: Id, request: Request, rt: RuntimeDep, user: Holder, action: Annotated[str, Form(max_length=10)] = "",
           reason: Text = "", retention_class: Annotated[str, Form(max_length=40)] = "",
           keep_day: KeepDay = "", keep_month: KeepMonth = "", keep_year: KeepYear = "", csrf_token: Csrf = "") -> HTMLResponse:
    """One change (``action``): hold, release, classify (``retention_class``) or review (the next
    review date, typed as day, month and year)."""
    check_csrf(user, csrf_token)
    keep_until = {"keep_until-day": keep_day, "keep_until-month": keep_month, "keep_until-year": keep_year}
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
            until = _end_of(typed_date(keep_until, "keep_until", "The next review date"))
            review_retention(rt, reference, until, reason, user.actor)
            done = f"Kept until {until:%d %B %Y}, when it is reviewed again"
        else:
            raise InvalidRequest(f"Choose one of: {', '.join(ACTIONS)}")
    except FieldError as exc:
        return _page(request, rt, user, incident_id, status_of(exc), error=exc.message, failed=action,
                     field=exc.field, reason=reason, keep_until=keep_until)
    except EvidenceError as exc:
        return _page(request, rt, user, incident_id, status_of(exc), error=exc.message, failed=action,
                     reason=reason, keep_until=keep_until)
    return _page(request, rt, user, incident_id, notice=done)


def _end_of(day: date | None) -> datetime:
    """The next review date from the form (after today) as the end of that day, UTC."""
    if day is None:
        raise FieldError("keep_until-day", "Enter the next review date")
    until = datetime.combine(day, time(23, 59, 59), UTC)
    if until.date() <= utcnow().date():
        raise FieldError("keep_until-day", "The next review date must be after today")
    return until
