"""The control room's pages: incidents (open one by its reference, find one by its words, status
and who has it), the incident board (live over the incident's event feed), a card as the board adds
it, the chronology, the faces compared, and the footage at a moment with the face or plate box
drawn. Bringing footage in is api/pages/links.py; the case (assign, close) api/pages/case.py."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from api.auth import OPENERS, REVIEWERS
from api.deps import RuntimeDep, viewed
from api.pages.hits import hit_view
from api.pages.common import PageUser, check_csrf, local_time, clock, officer_devices, render, staff, watch_url
from api.params import Id
from evidence.alerts import alerts_of_events, can_be_sent, shares_of
from evidence.audit import audit_read
from evidence.chronology import GROUPS, IN_CHRONOLOGY, chronology, chronology_csv, events_in_words, sendable_rows
from evidence.db.tables import (CandidateRow, Derivative, Evidence, FaceTrackRow, Incident, IncidentEvent,
                                PlateSightingRow)
from evidence.errors import InvalidRequest, NotFound
from evidence.eventkinds import EventKind
from evidence.filestore import clean_name
from evidence.incidents import Status, assignable, find_incidents, open_incident
from evidence.reports import evidence_view, list_name, sender_view
from evidence.notify.public import pass_to_investigators, post_public_update
from evidence.settings import Settings
from evidence.states import ReviewState, Role
from evidence.users import SessionUser
from evidence.work import with_reference
from pipeline.types import MediaInfo

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Opener = Annotated[SessionUser, Depends(staff(*OPENERS))]
CARD_KINDS = (EventKind.CANDIDATE, EventKind.ANPR_HIT)

@router.get("/app/incidents", response_class=HTMLResponse)
def incidents(request: Request, rt: RuntimeDep, user: PageUser, q: Annotated[str, Query(max_length=200)] = "",
              status: Annotated[Status, Query()] = "open",
              assigned: Annotated[Literal["anyone", "me", "nobody"], Query()] = "anyone") -> HTMLResponse:
    """The incidents, newest first: the open ones unless asked; found by words in the reference or
    the title, and by who has them."""
    who = {"anyone": None, "me": user.name, "nobody": ""}[assigned]
    with rt.sessions() as s:
        found = find_incidents(s, q, status, who)
        ids = [i.id for i in found]
        evidence = dict(s.execute(select(Evidence.incident_id, func.count()).where(Evidence.incident_id.in_(ids))
                                  .group_by(Evidence.incident_id)).all())
        pending = dict(s.execute(select(Evidence.incident_id, func.count()).join(CandidateRow)
                                 .where(CandidateRow.review_state == ReviewState.PENDING, Evidence.incident_id.in_(ids))
                                 .group_by(Evidence.incident_id)).all())
        rows = [{"id": i.id, "reference": i.reference, "title": i.title, "evidence": evidence.get(i.id, 0),
                 "pending": pending.get(i.id, 0), "status": i.status, "assigned_to": i.assigned_to,
                 "created_at": local_time(i.created_at, rt.settings)} for i in found]
    if q or assigned != "anyone":
        audit_read(rt.sessions, user.actor, "incidents.search", "incidents",
                   detail={"q": q, "status": status, "assigned": assigned, "found": len(rows)})
    return render(request, "incidents.html", user, incidents=rows, can_open=user.role in OPENERS, q=q, status=status,
                  assigned=assigned, searched=bool(q) or status != "open" or assigned != "anyone", page_title="Incidents")


@router.post("/app/incidents")
def open_incident_page(request: Request, rt: RuntimeDep, user: PageUser, reference: Annotated[str, Form(max_length=64)] = "",
                  title: Annotated[str, Form(max_length=200)] = "", csrf_token: Annotated[str, Form()] = "",
                  incident_type: Annotated[str, Form(max_length=64)] = "") -> RedirectResponse:
    check_csrf(user, csrf_token)
    reference = reference.strip()
    if not reference:
        raise InvalidRequest("Give the incident's reference")
    with rt.sessions() as s:
        found = s.scalar(select(Incident.id).where(with_reference(reference)))
    if found is None:
        if user.role not in OPENERS:
            raise NotFound(f"No incident {reference}")
        with rt.sessions.begin() as s:
            found = open_incident(s, reference, user.actor, title, incident_type).id
    return RedirectResponse(f"/app/incidents/{found}", status_code=303)


def score_words(score: float, threshold: float) -> str:
    """A candidate's score as an adjudicator reads it: how far above the point its list alerts at
    (the score is 1 - the embeddings' distance; the threshold is that distance's limit)."""
    alerts_at = 1 - threshold
    over = score - alerts_at
    how = "only just above" if over < 0.03 else "above" if over < 0.1 else "well above"
    return f"Similarity {score:.2f}, {how} the {alerts_at:.2f} at which it alerts"


def _candidate_card(c: CandidateRow, event_id: int, evidence_name: str) -> dict[str, Any]:
    track = c.track
    return {"kind": EventKind.CANDIDATE, "key": f"c{c.id}", "event_id": event_id, "id": c.id, "subject": c.subject.name,
            "subject_id": c.subject_id, "crop_url": f"/candidates/{c.id}/crop?v={track.crop_id}", "score": c.score,
            "score_words": score_words(c.score, c.threshold), "wanted_for": c.subject.reason, "risk": c.subject.risk,
            "compare_url": f"/app/candidates/{c.id}/compare", "evidence_id": c.evidence_id,
            "distance": c.distance, "threshold": c.threshold, "clock": clock(track.best_t_s),
            "evidence_name": evidence_name, "review_state": c.review_state, "reviewed_by": c.reviewed_by,
            "watchlist": list_name(c), "authority": c.authority,
            "watch_url": watch_url(c.evidence_id, track.best_t_s, track.best_xyxy, "face") + f"&track={track.id}"}


def _cards(s: Session, incident_id: int, events: list[IncidentEvent], settings: Settings) -> list[dict[str, Any]]:
    ids = [int(e.data["candidate_id"]) for e in events if e.kind == EventKind.CANDIDATE and "candidate_id" in e.data]
    rows = {c.id: c for c in s.scalars(select(CandidateRow).where(CandidateRow.id.in_(ids)).options(
        joinedload(CandidateRow.subject), joinedload(CandidateRow.track)))} if ids else {}
    names = dict(s.execute(select(Evidence.id, Evidence.original_name).where(Evidence.incident_id == incident_id)).all())
    cards, seen = [], set()
    for e in events:
        if e.kind == EventKind.ANPR_HIT:
            cards.append(hit_view(s, e.id, e.data, settings))
            continue
        c = rows.get(int(e.data.get("candidate_id", 0)))
        if c is None or c.id in seen or c.review_state == ReviewState.SUPERSEDED:
            continue  # withdrawn, or a quick-pass alert the full analysis replaced
        seen.add(c.id)
        cards.append(_candidate_card(c, e.id, names.get(c.evidence_id, "")))
    _with_alerts(s, cards)
    return cards


def _images(cards: list[dict[str, Any]]) -> list[str]:
    """The images a page of these cards shows (each face crop and watchlist photo), recorded with
    the page's view: fetched with ``?seen=`` that view's entry, they are not audited again."""
    return [x for c in cards if c["kind"] == EventKind.CANDIDATE for x in (f"candidate:{c['id']}", f"subject:{c['subject_id']}")]


def _with_alerts(s: Session, cards: list[dict[str, Any]]) -> None:
    """Each card's alert, where it was sent and whether it can be (a confirmed match, or a hit)."""
    alerts = alerts_of_events(s, [c["event_id"] for c in cards])
    shares = shares_of(s, [a.id for a in alerts.values()])
    for c in cards:
        a = alerts.get(c["event_id"])
        c["alert_id"] = a.id if a else None
        c["shares"] = shares.get(a.id, []) if a else []
        c["sendable"] = a is not None and can_be_sent(c["kind"], c.get("review_state"))


@router.get("/app/incidents/{incident_id}", response_class=HTMLResponse)
def board(incident_id: Id, request: Request, rt: RuntimeDep, user: PageUser) -> HTMLResponse:
    with viewed(rt, user.actor, Incident, incident_id, "incident", "incident.view") as (s, incident, detail):
        evidence = list(s.scalars(select(Evidence).where(Evidence.incident_id == incident_id).order_by(Evidence.id)))
        names = {ev.id: ev.original_name for ev in evidence}
        events = list(s.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
                                .order_by(IncidentEvent.id)))
        last = events[-1].id if events else 0
        every = _cards(s, incident_id, [e for e in events if e.kind in CARD_KINDS], rt.settings)
        detail["shown"] = [*_images(every), f"feed:incident:{incident_id}"]  # its live feed is part of the view
        decided = (ReviewState.CONFIRMED, ReviewState.REJECTED)
        cards = [c for c in every if c.get("review_state") not in decided]
        reviewed = [c for c in every if c.get("review_state") in decided]
        plates = [{"plate": p.vrm, "t_s": p.best_t_s, "review_state": p.review_state,  # as the live feed says it
                   "evidence_name": names.get(p.evidence_id, "")} for p in s.scalars(
            select(PlateSightingRow).where(PlateSightingRow.evidence_id.in_(names)).order_by(PlateSightingRow.id))]
        shown_events = [e for e in events if e.kind in IN_CHRONOLOGY][-200:]
        words = events_in_words(s, shown_events)
        timeline = [{"at": e.at.isoformat(), "clock": e.at.strftime("%H:%M:%S"), "text": words[e.id]}
                    for e in shown_events]
        closed = incident.closed or {}
        view = {"id": incident.id, "reference": incident.reference, "title": incident.title, "status": incident.status,
                "assigned_to": incident.assigned_to or "", "closed_by": closed.get("by"), "closed_why": closed.get("why"),
                "closed_at": local_time(closed.get("at"), rt.settings)}
        people = assignable(s)
        detail["evidence"] = list(names)
    for c in every:
        c["seen"] = detail["audit_id"]  # its images are fetched as part of this audited view
    return render(request, "board.html", user, incident=view, evidence=[_evidence_item(ev) for ev in evidence],
                  cards=cards, reviewed=reviewed, plates=plates, timeline=timeline, last_event_id=last,
                  can_review=user.role in REVIEWERS, can_link=user.role in OPENERS and incident.status == "open",
                  can_send=user.role in OPENERS, devices=officer_devices(rt), people=people, seen=detail["audit_id"],
                  can_export=user.role in (Role.INVESTIGATOR, Role.ADMIN), page_title=f"Incident {view['reference']}")


def _evidence_item(ev: Evidence) -> dict[str, Any]:
    return {**evidence_view(ev), "sender": sender_view(ev)}


@router.get("/app/incidents/{incident_id}/evidence/{evidence_id}", response_class=HTMLResponse)
def evidence_item(incident_id: Id, evidence_id: Id, request: Request, rt: RuntimeDep, user: PageUser) -> HTMLResponse:
    """One item of the board's evidence list, as the board adds it when the evidence arrives."""
    with rt.sessions() as s:
        ev = s.get(Evidence, evidence_id)
        if ev is None or ev.incident_id != incident_id:
            raise NotFound(f"evidence {evidence_id} is not on incident {incident_id}")
        item = _evidence_item(ev)
    audit_read(rt.sessions, user.actor, "incident.view_evidence", f"evidence:{evidence_id}",
               detail={"incident": incident_id})
    return render(request, "evidence_item.html", user, ev=item)


Shown = Annotated[list[Literal["evidence", "matches", "vehicles", "messages", "witnesses"]] | None, Query()]


@router.get("/app/incidents/{incident_id}/chronology", response_class=HTMLResponse)
def incident_chronology(incident_id: Id, request: Request, rt: RuntimeDep, user: PageUser, show: Shown = None
                        ) -> HTMLResponse:
    """Everything that happened to the incident, in time order (in the force's time zone), filtered
    by kind; the witness's words and contact with the video they sent (staff only)."""
    with viewed(rt, user.actor, Incident, incident_id, "incident", "incident.chronology") as (s, incident, detail):
        show = sorted(set(show or []))
        rows = chronology(s, incident_id, set(show) or None)
        if user.role in OPENERS:  # a confirmed match or a hit is sent to an officer from here too
            for i, alert_id in sendable_rows(s, incident_id, rows).items():
                rows[i]["send_url"] = f"/app/alerts/{alert_id}/send"
        view = {"id": incident.id, "reference": incident.reference, "title": incident.title}
        detail["shown"] = sorted(show)
    for r in rows:
        r["local"] = local_time(r["at"], rt.settings)
    query = urlencode([("show", g) for g in show])
    return render(request, "chronology.html", user, incident=view, rows=rows, groups=GROUPS, show=set(show),
                  csv_url=f"/app/incidents/{incident_id}/chronology.csv" + (f"?{query}" if query else ""),
                  zone=rt.settings.timezone, page_title=f"Chronology of {view['reference']}")


@router.get("/app/incidents/{incident_id}/chronology.csv")
def incident_chronology_csv(incident_id: Id, rt: RuntimeDep, user: PageUser, show: Shown = None) -> Response:
    with viewed(rt, user.actor, Incident, incident_id, "incident", "incident.chronology_csv") as (s, incident, detail):
        show = sorted(set(show or []))
        text = chronology_csv(chronology(s, incident_id, set(show) or None), rt.settings.zone)
        name = clean_name(f"chronology-{incident.reference}.csv", "chronology.csv")
        detail["shown"] = sorted(show)
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@router.get("/app/candidates/{candidate_id}/compare", response_class=HTMLResponse)
def compare(candidate_id: Id, request: Request, rt: RuntimeDep, user: PageUser) -> HTMLResponse:
    """The face in the footage beside the watchlist photo, large enough to compare, with what the
    adjudicator needs: why the person is wanted, any risk, the score in words, where it was seen."""
    with viewed(rt, user.actor, CandidateRow, candidate_id, "candidate", "candidate.compare") as (s, c, detail):
        ev = s.get(Evidence, c.evidence_id)
        view = _candidate_card(c, 0, ev.original_name if ev else "")
        detail["shown"] = _images([view])
        incident = ev.incident if ev else None
        back = f"/app/incidents/{incident.id}#card-c{c.id}" if incident else "/app/incidents"
        reference = incident.reference if incident else ""
    view["seen"] = detail["audit_id"]
    return render(request, "compare.html", user, c=view, back_url=back, incident_ref=reference,
                  page_title=f"Compare: {view['subject']}")


@router.get("/app/incidents/{incident_id}/cards/{event_id}", response_class=HTMLResponse)
def card(incident_id: Id, event_id: Id, request: Request, rt: RuntimeDep, user: PageUser) -> HTMLResponse:
    """One card, as the board adds it when its event arrives (the same template as the page)."""
    with rt.sessions() as s:
        e = s.get(IncidentEvent, event_id)
        if e is None or e.incident_id != incident_id or e.kind not in CARD_KINDS:
            raise NotFound(f"event {event_id} of incident {incident_id} is not a card")
        cards = _cards(s, incident_id, [e], rt.settings)
    if not cards:
        raise NotFound("this potential match was withdrawn")
    cards[0]["seen"] = audit_read(rt.sessions, user.actor, "incident.view_card", f"incident:{incident_id}",
                                  detail={"event": event_id, "shown": _images(cards)})
    return render(request, "card.html", user, c=cards[0], can_review=user.role in REVIEWERS,
                  can_send=user.role in OPENERS, devices=officer_devices(rt))


def _markers(s: Session, evidence_id: int, track: int | None) -> tuple[list[dict[str, Any]], list[list[float]]]:
    """What the player's timeline marks (each face track and plate sighting of the clip, in time
    order), and the chosen track's path: its box at first sight, best view and last sight."""
    marks: list[dict[str, Any]] = []
    path: list[list[float]] = []
    for f in s.scalars(select(FaceTrackRow).where(FaceTrackRow.evidence_id == evidence_id).order_by(FaceTrackRow.first_t_s)):
        marks.append({"kind": "face", "from": f.first_t_s, "to": max(f.last_t_s, f.first_t_s + 0.2), "t": f.best_t_s,
                      "label": f"Face {clock(f.first_t_s)}–{clock(f.last_t_s)}", "chosen": f.id == track,
                      "url": watch_url(evidence_id, f.best_t_s, f.best_xyxy, "face") + f"&track={f.id}"})
        if f.id == track:
            path = [[t, *b] for t, b in ((f.first_t_s, f.first_xyxy), (f.best_t_s, f.best_xyxy),
                                         (f.last_t_s, f.last_xyxy)) if b]
    for p in s.scalars(select(PlateSightingRow).where(PlateSightingRow.evidence_id == evidence_id)
                       .order_by(PlateSightingRow.first_t_s)):
        marks.append({"kind": "plate", "from": p.first_t_s, "to": max(p.last_t_s, p.first_t_s + 0.2), "t": p.best_t_s,
                      "label": f"Plate {p.vrm} {clock(p.first_t_s)}", "chosen": False,
                      "url": watch_url(evidence_id, p.best_t_s, p.best_xyxy, "plate")})
    return sorted(marks, key=lambda m: m["from"])[:500], sorted(path)


@router.get("/app/evidence/{evidence_id}/watch", response_class=HTMLResponse)
def watch(evidence_id: Id, request: Request, rt: RuntimeDep, user: PageUser,
          t: Annotated[float, Query(ge=0, le=10**7, allow_inf_nan=False)] = 0.0,
          box: Annotated[str, Query(max_length=80)] = "", what: Annotated[str, Query(max_length=10)] = "face",
          track: Annotated[int | None, Query(ge=1, le=2**62)] = None) -> HTMLResponse:
    with viewed(rt, user.actor, Evidence, evidence_id, "evidence", "evidence.watch") as (s, ev, detail):
        markers, path = _markers(s, evidence_id, track)
        has_copy = s.scalar(select(Derivative.id).where(Derivative.evidence_id == evidence_id,
                                                        Derivative.kind == "working_copy").limit(1)) is not None
        incident_ref = ev.incident.reference if ev.incident else "-"
        media = MediaInfo.from_record(ev.media)
        view = evidence_view(ev)
        detail.update(t_s=t, what=what)
    parts = [p for p in box.split(",") if p.strip()]
    try:
        box_values = ",".join(str(float(p)) for p in parts) if len(parts) == 4 else ""
    except ValueError:
        box_values = ""
    back = request.headers.get("referer") or "/app/incidents"
    return render(request, "player.html", user, evidence=view, incident_ref=incident_ref, t_s=t, box=box_values,
                  markers=markers, track_path=json.dumps(path), fps=media.fps or 25.0,
                  duration=max(0.1, float(view.get("duration_s") or 0.1)),
                  source_w=media.display_wh[0], clock=clock(t), available=has_copy,
                  what="the number plate" if what == "plate" else "the face",
                  heading=f"{'Plate' if what == 'plate' else 'Face'} at {clock(t)}", back_url=back,
                  page_title="Footage")



@router.post("/app/incidents/{incident_id}/public-update")
def public_update(incident_id: Id, request: Request, rt: RuntimeDep, user: Opener,
                  text: Annotated[str, Form(max_length=280)] = "", csrf_token: Annotated[str, Form()] = ""
                  ) -> RedirectResponse:
    """A short update for the witnesses' status pages (and their emails)."""
    check_csrf(user, csrf_token)
    post_public_update(rt, incident_id, user.actor, text)
    return RedirectResponse(f"/app/incidents/{incident_id}", status_code=303)


@router.post("/app/incidents/{incident_id}/pass")
def pass_on(incident_id: Id, request: Request, rt: RuntimeDep, user: Opener,
            reason: Annotated[str, Form(max_length=2000)] = "", csrf_token: Annotated[str, Form()] = ""
            ) -> RedirectResponse:
    check_csrf(user, csrf_token)
    if not reason.strip():
        raise InvalidRequest("Give the reason for passing the incident to investigators")
    pass_to_investigators(rt, incident_id, user.actor, reason.strip())
    return RedirectResponse(f"/app/incidents/{incident_id}", status_code=303)
