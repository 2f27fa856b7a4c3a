"""App factory: Settings are read here (the edge) and the Runtime is shared through app state.
Every route names the roles that may call it (``api.auth.allow``); reads of evidence and
candidates and every review go to the audit log."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.auth import allow
from evidence import __version__
from evidence.audit import Actor, append_audit
from evidence.db.tables import CandidateRow, Evidence, Incident
from evidence.processing import get_or_create_incident
from evidence.reports import candidate_view, evidence_candidates, evidence_view
from evidence.review import review_candidate
from evidence.runtime import Runtime
from evidence.settings import Settings
from pipeline.errors import (Conflict, EvidenceError, Forbidden, InvalidMedia, InvalidReference, NotFound,
                             Unauthorized)

__all__ = ["create_app"]

_STATUS = {NotFound: 404, Unauthorized: 401, Forbidden: 403, Conflict: 409, InvalidMedia: 422,
           InvalidReference: 422}

LIVE = ("control_room", "investigator", "admin")  # see incidents, evidence and candidates


class IncidentIn(BaseModel):
    reference: str = Field(min_length=1, max_length=64, description="the control room's incident number")
    title: str = Field("", max_length=200)


class ReviewIn(BaseModel):
    decision: Literal["confirmed", "rejected"]
    reason: str = Field(min_length=1, max_length=2000, description="why: recorded in the audit log")


def _incident_summary(i: Incident) -> dict[str, object]:
    return {"id": i.id, "reference": i.reference, "title": i.title, "created_at": i.created_at.isoformat()}


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(title="Evidence Pipeline", version=__version__,
                  description="Evidence intake, face tracks and watchlist candidates for review. "
                              "Every route but /health needs `Authorization: Bearer <API key>`; "
                              "its description names the roles that may call it.")
    app.state.runtime = Runtime(settings or Settings())

    def rt() -> Runtime:
        return app.state.runtime  # type: ignore[no-any-return]

    @app.exception_handler(EvidenceError)
    async def evidence_error(_: Request, exc: EvidenceError) -> JSONResponse:
        """The one place errors become HTTP: a stable ``code`` and a human message."""
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 500)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"code": exc.code, "message": exc.message}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"code": "invalid_request", "message": f"{where}: {first.get('msg', 'invalid')}",
                             "errors": exc.errors()}, status_code=422)

    @app.get("/health", summary="Liveness and database reachability (no key needed)")
    def health() -> dict[str, str]:
        with rt().engine.connect():
            pass
        return {"status": "ok", "version": __version__}

    @app.post("/incidents", status_code=201, summary="Open an incident",
              description="Roles: control_room, admin. An existing reference returns that incident.")
    def create_incident(body: IncidentIn,
                        actor: Annotated[Actor, Depends(allow("control_room", "admin"))]) -> dict[str, object]:
        with rt().sessions.begin() as s:
            incident = get_or_create_incident(s, body.reference)
            if body.title and incident.title in ("", incident.reference):
                incident.title = body.title
            append_audit(s, actor, "incident.open", f"incident:{incident.id}", detail={"reference": body.reference})
            return _incident_summary(incident)

    @app.get("/incidents", summary="List incidents, newest first",
             description="Roles: control_room, investigator, admin.")
    def list_incidents(actor: Annotated[Actor, Depends(allow(*LIVE))]) -> list[dict[str, object]]:
        with rt().sessions() as s:
            return [_incident_summary(i) for i in s.scalars(select(Incident).order_by(Incident.id.desc()))]

    @app.get("/incidents/{incident_id}", summary="An incident with its evidence and candidates (audited read)",
             description="Roles: control_room, investigator, admin. Candidates are potential matches for "
                         "review, never identifications.")
    def get_incident(incident_id: int, actor: Annotated[Actor, Depends(allow(*LIVE))]) -> dict[str, object]:
        with rt().sessions.begin() as s:
            incident = s.get(Incident, incident_id)
            if incident is None:
                raise NotFound(f"incident {incident_id} not found")
            evidence = list(s.scalars(select(Evidence).where(Evidence.incident_id == incident_id)
                                      .order_by(Evidence.id)))
            out = {**_incident_summary(incident), "evidence": [
                {**evidence_view(ev), "candidates": [_candidate(c) for c in evidence_candidates(s, ev.id)]}
                for ev in evidence]}
            append_audit(s, actor, "incident.view", f"incident:{incident_id}",
                         detail={"evidence": [ev.id for ev in evidence]})
            return out

    def _candidate(c: CandidateRow) -> dict[str, object]:
        view = candidate_view(c, rt().store)
        view["crop"] = f"/candidates/{c.id}/crop" if view["crop"] else None
        return view

    @app.get("/candidates/{candidate_id}", summary="One candidate (audited read)",
             description="Roles: control_room, investigator, admin.")
    def get_candidate(candidate_id: int, actor: Annotated[Actor, Depends(allow(*LIVE))]) -> dict[str, object]:
        with rt().sessions.begin() as s:
            c = s.get(CandidateRow, candidate_id)
            if c is None:
                raise NotFound(f"candidate {candidate_id} not found")
            append_audit(s, actor, "candidate.view", f"candidate:{candidate_id}")
            return _candidate(c)

    @app.get("/candidates/{candidate_id}/crop", summary="The candidate's face crop, JPEG (audited read)",
             description="Roles: control_room, investigator, admin.", response_class=FileResponse)
    def get_crop(candidate_id: int, actor: Annotated[Actor, Depends(allow(*LIVE))]) -> FileResponse:
        with rt().sessions.begin() as s:
            c = s.get(CandidateRow, candidate_id)
            if c is None or c.track.crop is None:
                raise NotFound(f"candidate {candidate_id} has no crop")
            path = rt().store.absolute(c.track.crop.store_path)
            append_audit(s, actor, "candidate.view_crop", f"candidate:{candidate_id}",
                         detail={"sha256": c.track.crop.sha256})
        return FileResponse(path, media_type="image/jpeg")

    @app.post("/candidates/{candidate_id}/review", summary="Confirm or reject a candidate (a named user's decision)",
              description="Roles: control_room, investigator. The key's name is the reviewer; the reason "
                          "is required and audited. A rejected subject is not raised again for that face track.")
    def review(candidate_id: int, body: ReviewIn,
               actor: Annotated[Actor, Depends(allow("control_room", "investigator"))]) -> dict[str, object]:
        c = review_candidate(rt(), candidate_id, body.decision, actor, body.reason)
        return {"id": c.id, "review_state": c.review_state, "reviewed_by": c.reviewed_by,
                "reason": c.review_reason}

    return app
