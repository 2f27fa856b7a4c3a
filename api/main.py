"""App factory: Settings are read here (the edge) and the Runtime is shared through app state.
Every route names the roles that may call it (``api.auth.allow``); reads of evidence and
candidates and every review go to the audit log."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import BackgroundTasks, Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.anpr import MAX_BODY as ANPR_MAX_BODY, router as anpr_router
from api.plates import router as plates_router, sighting_public
from api.search import MAX_PHOTO_BYTES, router as search_router
from api.faces import router as faces_router
from api.exports import router as exports_router
from api.auth import allow, client_address
from api.errors import json_safe_errors, documented_errors
from api.guards import BodyLimit, SafeJSONRoute, limit_body
from api.params import MAX_BIG_ID, Id
from api.ratelimit import Limits
from evidence import __version__
from evidence.audit import Actor, append_audit, audit_read
from evidence.db.tables import CandidateRow, Evidence, Incident, PlateSightingRow
from evidence.filestore import clean_name
from evidence.work import WorkQueue, get_or_create_incident, start_analysis
from evidence.reports import candidate_view, evidence_candidates, evidence_view
from evidence.review import review_candidate
from evidence.runtime import Runtime
from evidence.settings import Settings
from evidence.watchlists import Enrolment, enrol, list_subjects, remove_subject
from api.uploads import (MULTIPART_SLACK, UnknownLink, check_link, create_link, receive, refuse_oversize,
                         store_upload, unuse_link, use_link)
from evidence.events import event_view, events_after
from evidence.keys import secret_digest
from pipeline.errors import (Conflict, EvidenceError, Forbidden, Gone, InvalidMedia, InvalidReference, InvalidRequest,
                             NotFound, TooLarge, TooManyRequests, Unauthorized)

__all__ = ["create_app"]

_STATUS = {NotFound: 404, Unauthorized: 401, Forbidden: 403, Conflict: 409, InvalidMedia: 422,
           InvalidReference: 422, InvalidRequest: 422, TooLarge: 413, Gone: 410, TooManyRequests: 429}
JSON_BODY_MAX = 64 * 1024  # every route's body cap unless it names its own (api.guards.BodyLimit)
ENROLMENT_MAX = 100 * 1024 * 1024  # one subject's reference photos
# What a sender may add to a clip; who sent it and how is set by the server.
SENDER_FIELDS = {"caption": 2000, "contact": 200}


def _multipart(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """An OpenAPI request body for a route that reads its multipart form itself."""
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": properties, "required": required}}}}}


CLIP_FORM = _multipart({"file": {"type": "string", "format": "binary", "description": "the clip"},
                        "caption": {"type": "string", "maxLength": 2000},
                        "contact": {"type": "string", "maxLength": 200}}, ["file"])
ENROL_FORM = _multipart({"name": {"type": "string", "maxLength": 200},
                         "images": {"type": "array", "items": {"type": "string", "format": "binary"},
                                    "maxItems": 20}}, ["name", "images"])
UPLOADERS = ("uploader", "control_room", "investigator", "admin")  # officers' body-worn footage, staff

LIVE = ("control_room", "investigator", "admin")  # see incidents, evidence and candidates


def _last_event_id(value: str | None, after: int) -> int:
    """The SSE ``Last-Event-ID`` header: an event id (ASCII digits) or absent."""
    if value is None or value == "":
        return after
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise InvalidRequest("Last-Event-ID must be the id of an event (digits)")
    return int(value)


class IncidentIn(BaseModel):
    reference: str = Field(min_length=1, max_length=64, description="the control room's incident number")
    title: str = Field("", max_length=200)


class UploadLinkIn(BaseModel):
    expires_in_s: int = Field(24 * 3600, ge=60, le=7 * 24 * 3600, description="how long the link works")
    max_uploads: int = Field(5, ge=1, le=100, description="how many clips it accepts")
    max_bytes: int | None = Field(None, ge=1, le=MAX_BIG_ID,
                                  description="cap per clip (at most, and by default, EVIDENCE_MAX_UPLOAD_BYTES)")


class ReviewIn(BaseModel):
    decision: Literal["confirmed", "rejected"]
    reason: str = Field(min_length=1, max_length=2000, description="why: recorded in the audit log")


def _sender_fields(form: Any) -> dict[str, str]:
    """The optional fields a sender may give with a clip (caption, contact); anything else is refused."""
    out = {}
    for key, value in form.multi_items():
        if key == "file":
            continue
        if key not in SENDER_FIELDS or not isinstance(value, str):
            raise InvalidRequest(f"unknown form field {clean_name(key, '?')!r}: send `file` and optionally "
                                 f"{', '.join(f'`{k}`' for k in SENDER_FIELDS)}")
        if len(value) > SENDER_FIELDS[key] or "\x00" in value:
            raise InvalidRequest(f"`{key}` is at most {SENDER_FIELDS[key]} characters of text")
        if value.strip():
            out[key] = value.strip()
    return out


def _incident_summary(i: Incident) -> dict[str, object]:
    return {"id": i.id, "reference": i.reference, "title": i.title, "created_at": i.created_at.isoformat()}


class Wake:
    """Wakes this process's live-feed streams at once when a route of this process has committed
    an event (an ANPR hit, a review); events written by other processes (workers) are seen by the
    feed's 0.2 s poll."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.waiters: set[asyncio.Event] = set()

    def notify(self) -> None:  # from any thread
        if self.loop is not None:
            self.loop.call_soon_threadsafe(lambda: [e.set() for e in list(self.waiters)])


def create_app(settings: Settings | None = None, work_queue: WorkQueue | None = None) -> FastAPI:
    """The API. ``work_queue``: the workers' queue (``evidence serve`` passes it when Redis is
    configured); without it, evidence is analysed in this process after the upload is answered."""
    settings = settings or Settings()
    app = FastAPI(title="Evidence Pipeline", version=__version__,
                  description="Evidence intake, face tracks and watchlist candidates for review. "
                              "Every route but /health and the public upload needs `Authorization: Bearer <API "
                              "key>`; its description names the roles that may call it. Errors are JSON "
                              "`{\"code\", \"message\"}`; every request body has a size cap (413).")
    app.router.route_class = SafeJSONRoute
    app.state.runtime = Runtime(settings)
    app.state.wake = Wake()
    app.state.work_queue = work_queue
    app.state.limits = Limits(settings.auth_failures_per_min, settings.link_requests_per_min,
                              settings.client_link_requests_per_min)
    upload_cap = settings.max_upload_bytes + MULTIPART_SLACK
    app.add_middleware(BodyLimit, default=JSON_BODY_MAX, routes={
        ("POST", "/incidents/{incident_id}/evidence"): upload_cap,
        ("POST", "/public/uploads/{token}"): upload_cap,
        ("POST", "/anpr/reads"): ANPR_MAX_BODY,
        ("POST", "/search/faces"): MAX_PHOTO_BYTES + MULTIPART_SLACK,
        ("POST", "/watchlist"): ENROLMENT_MAX,
    })

    def rt() -> Runtime:
        return app.state.runtime  # type: ignore[no-any-return]

    @app.exception_handler(EvidenceError)
    async def evidence_error(_: Request, exc: EvidenceError) -> JSONResponse:
        """The one place errors become HTTP: a stable ``code`` and a human message."""
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 500)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
        return JSONResponse({"code": exc.code, "message": exc.message}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = json_safe_errors(exc.errors())
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        where = ".".join(str(p) for p in first["loc"])
        return JSONResponse({"code": "invalid_request", "message": f"{where}: {first['msg']}", "errors": errors},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        """The framework's own errors (no such route, a malformed multipart body, a body over its
        cap) in the same shape as ours."""
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error")
        return JSONResponse({"code": code, "message": str(exc.detail)}, status_code=exc.status_code,
                            headers=exc.headers)

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

    @app.get("/incidents/{incident_id}", summary="An incident with its evidence, candidates and plates (audited read)",
             description="Roles: control_room, investigator, admin. Candidates are potential matches for "
                         "review, never identifications; plate sightings are reads to verify against the crop.")
    def get_incident(incident_id: Id, actor: Annotated[Actor, Depends(allow(*LIVE))]) -> dict[str, object]:
        with rt().sessions() as s:
            incident = s.get(Incident, incident_id)
            if incident is None:
                raise NotFound(f"incident {incident_id} not found")
            evidence = list(s.scalars(select(Evidence).where(Evidence.incident_id == incident_id)
                                      .order_by(Evidence.id)))
            out = {**_incident_summary(incident), "evidence": [
                {**evidence_view(ev), "candidates": [_candidate(c) for c in evidence_candidates(s, ev.id)],
                 "plates": [sighting_public(p) for p in s.scalars(
                     select(PlateSightingRow).where(PlateSightingRow.evidence_id == ev.id)
                     .order_by(PlateSightingRow.first_t_s))]}
                for ev in evidence]}
        audit_read(rt().sessions, actor, "incident.view", f"incident:{incident_id}",
                   detail={"evidence": [ev.id for ev in evidence]})
        return out

    def _candidate(c: CandidateRow) -> dict[str, object]:
        view = candidate_view(c, rt().store)
        view["crop"] = f"/candidates/{c.id}/crop" if view["crop"] else None
        return view

    @app.get("/candidates/{candidate_id}", summary="One candidate (audited read)",
             description="Roles: control_room, investigator, admin.")
    def get_candidate(candidate_id: Id, actor: Annotated[Actor, Depends(allow(*LIVE))]) -> dict[str, object]:
        with rt().sessions() as s:
            c = s.get(CandidateRow, candidate_id)
            if c is None:
                raise NotFound(f"candidate {candidate_id} not found")
            out = _candidate(c)
        audit_read(rt().sessions, actor, "candidate.view", f"candidate:{candidate_id}")
        return out

    @app.get("/candidates/{candidate_id}/crop", summary="The candidate's face crop, JPEG (audited read)",
             description="Roles: control_room, investigator, admin.", response_class=FileResponse)
    def get_crop(candidate_id: Id, actor: Annotated[Actor, Depends(allow(*LIVE))]) -> FileResponse:
        with rt().sessions() as s:
            c = s.get(CandidateRow, candidate_id)
            if c is None or c.track.crop is None:
                raise NotFound(f"candidate {candidate_id} has no crop")
            path, sha256 = rt().store.absolute(c.track.crop.store_path), c.track.crop.sha256
        audit_read(rt().sessions, actor, "candidate.view_crop", f"candidate:{candidate_id}", detail={"sha256": sha256})
        return FileResponse(path, media_type="image/jpeg")

    @app.post("/candidates/{candidate_id}/review", responses={409: {"description": "Already reviewed"}}, summary="Confirm or reject a candidate (a named user's decision)",
              description="Roles: control_room, investigator. The key's name is the reviewer; the reason "
                          "is required and audited. A rejected subject is not raised again for that face track.")
    def review(candidate_id: Id, body: ReviewIn,
               actor: Annotated[Actor, Depends(allow("control_room", "investigator"))]) -> dict[str, object]:
        c = review_candidate(rt(), candidate_id, body.decision, actor, body.reason)
        app.state.wake.notify()
        return {"id": c.id, "review_state": c.review_state, "reviewed_by": c.reviewed_by,
                "reason": c.review_reason}

    # --- timeline and live feed ------------------------------------------------------------------

    def _incident_or_404(incident_id: int) -> Incident:
        with rt().sessions() as s:
            incident = s.get(Incident, incident_id)
            if incident is None:
                raise NotFound(f"incident {incident_id} not found")
            return incident

    @app.get("/incidents/{incident_id}/timeline", summary="The incident's events in order",
             description="Roles: control_room, investigator, admin. Evidence received, processing progress, "
                         "candidates and reviews; `after` pages on (event id).")
    def timeline(incident_id: Id, actor: Annotated[Actor, Depends(allow(*LIVE))],
                 after: Annotated[int, Query(ge=0, le=MAX_BIG_ID)] = 0) -> list[dict[str, Any]]:
        _incident_or_404(incident_id)
        with rt().sessions() as s:
            events = [event_view(e) for e in events_after(s, incident_id, after)]
        audit_read(rt().sessions, actor, "incident.timeline", f"incident:{incident_id}", detail={"after": after})
        return events

    @app.get("/incidents/{incident_id}/events", summary="Live feed of the incident's events (Server-Sent Events)",
             description="Roles: control_room, investigator, admin. Each event's SSE id is its event id: "
                         "reconnect with `Last-Event-ID` (or `?after=`) to resume exactly after it. A new "
                         "candidate is on the stream within a fraction of a second of being stored. `max_s` "
                         "ends the stream after that many seconds.",
             response_class=StreamingResponse)
    def live(incident_id: Id, request: Request, actor: Annotated[Actor, Depends(allow(*LIVE))],
             last_event_id: Annotated[str | None, Header(max_length=20)] = None,
             after: Annotated[int, Query(ge=0, le=MAX_BIG_ID)] = 0,
             max_s: Annotated[float | None, Query(gt=0, le=24 * 3600, allow_inf_nan=False)] = None) -> StreamingResponse:
        _incident_or_404(incident_id)
        start = _last_event_id(last_event_id, after)
        audit_read(rt().sessions, actor, "incident.watch", f"incident:{incident_id}", detail={"after": start})

        def fetch(last: int) -> list[dict[str, Any]]:
            with rt().sessions() as s:
                return [event_view(e) for e in events_after(s, incident_id, last)]

        async def stream() -> AsyncIterator[str]:
            last, loop = start, asyncio.get_running_loop()
            began = idle_since = loop.time()
            wake: Wake = app.state.wake
            wake.loop, woken = loop, asyncio.Event()
            wake.waiters.add(woken)
            try:
                yield "retry: 1000\n\n"
                while max_s is None or loop.time() - began < max_s:
                    if await request.is_disconnected():
                        return
                    woken.clear()
                    for e in await run_in_threadpool(fetch, last):
                        last = e["id"]
                        idle_since = loop.time()
                        yield f"id: {e['id']}\nevent: {e['kind']}\ndata: {json.dumps(e)}\n\n"
                    if loop.time() - idle_since > 15:
                        idle_since = loop.time()
                        yield ": keep-alive\n\n"
                    try:
                        await asyncio.wait_for(woken.wait(), 0.2)
                    except TimeoutError:
                        pass
            finally:
                wake.waiters.discard(woken)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    # --- uploads ---------------------------------------------------------------------------------

    async def _upload(request: Request, incident: Incident, actor: Actor, cap: int,
                      submitted: dict[str, Any] | None, background: BackgroundTasks,
                      before_store: Any = None) -> dict[str, Any]:
        refuse_oversize(request.headers, cap, MULTIPART_SLACK)
        limit_body(request.scope, cap + MULTIPART_SLACK)  # this upload's own cap, counted as it streams
        form = await request.form(max_files=1, max_fields=10)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidMedia("no file: send the clip as the multipart field `file`")
        sender = _sender_fields(form)
        tmp = await run_in_threadpool(receive, rt(), upload.file, cap)
        await upload.close()
        if before_store is not None:
            try:
                await run_in_threadpool(before_store)  # a write: never on the event loop's thread
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        # What the sender wrote goes first: the server's own record of who and how cannot be overridden.
        evidence_id, duplicate = await run_in_threadpool(
            store_upload, rt(), tmp, incident, clean_name(upload.filename), actor, {**sender, **(submitted or {})})
        if not duplicate and (run := await run_in_threadpool(start_analysis, rt(), evidence_id,
                                                             app.state.work_queue)) is not None:
            background.add_task(run)
        return await run_in_threadpool(_evidence_out, evidence_id, duplicate)

    def _evidence_out(evidence_id: int, duplicate: bool) -> dict[str, Any]:
        with rt().sessions() as s:
            ev = s.get(Evidence, evidence_id)
            assert ev is not None
            return {**evidence_view(ev), "duplicate": duplicate}

    @app.post("/incidents/{incident_id}/evidence", status_code=201, summary="Upload a clip to an incident",
              openapi_extra=CLIP_FORM,
              description="Roles: uploader, control_room, investigator, admin. Multipart field `file` "
                          "(and optional `caption`). Streamed to disk with its SHA-256; over the size cap, "
                          "empty, not video or truncated is a 4xx with a `code` and nothing is kept. The same "
                          "bytes again link the existing evidence (`duplicate: true`). Then queued for analysis.")
    async def upload(incident_id: Id, request: Request, background: BackgroundTasks,
                     actor: Annotated[Actor, Depends(allow(*UPLOADERS))]) -> dict[str, Any]:
        incident = await run_in_threadpool(_incident_or_404, incident_id)
        return await _upload(request, incident, actor, rt().settings.max_upload_bytes, None, background)

    @app.post("/incidents/{incident_id}/upload-links", status_code=201,
              summary="A public upload link for this incident (sent by text to a witness)",
              description="Roles: control_room, admin. The token is returned once; only its hash is kept.")
    def new_link(incident_id: Id, body: UploadLinkIn,
                 actor: Annotated[Actor, Depends(allow("control_room", "admin"))]) -> dict[str, Any]:
        cap = min(body.max_bytes or rt().settings.max_upload_bytes, rt().settings.max_upload_bytes)
        link, token = create_link(rt(), incident_id, body.expires_in_s, body.max_uploads, cap, actor)
        return {"id": link.id, "token": token, "url": f"/public/uploads/{token}",
                "expires_at": link.expires_at.isoformat(), "max_uploads": link.max_uploads, "max_bytes": cap}

    @app.post("/public/uploads/{token}", status_code=201, summary="A member of the public sends a clip",
              openapi_extra=CLIP_FORM, responses={404: {"description": "Not a link"}, 410: {"description": "Expired or used up"},
                                                  429: {"description": "Rate limited: see Retry-After"}},
              description="No account: the link is the permission (one incident, an expiry, a count and size "
                          "cap). Multipart `file`, optional `caption` and `contact`. A forged token is 404 "
                          "`unknown_link`; an expired or used-up one 410 `link_expired` / `link_used_up`.")
    async def public_upload(token: Annotated[str, PathParam(max_length=100)], request: Request,
                            background: BackgroundTasks) -> dict[str, Any]:
        limits: Limits = app.state.limits
        limits.link_client.hit(client_address(request))
        limits.link.hit(secret_digest(token))
        try:
            link, incident = await run_in_threadpool(check_link, rt(), token)
        except UnknownLink:
            limits.auth_failures.hit(client_address(request))  # guessing links counts as failed sign-ins
            raise
        actor = Actor(f"public:link:{link.id}", "public")
        counted: list[bool] = []

        def count() -> None:
            use_link(rt(), link)
            counted.append(True)

        try:
            out = await _upload(request, incident, actor, link.max_bytes, {"via": f"upload link {link.id}"},
                                background, before_store=count)
        except BaseException:
            if counted:
                await run_in_threadpool(unuse_link, rt(), link)
            raise
        # The public sender sees a receipt, not the police's view of the evidence.
        return {"received": True, "sha256": out["sha256"], "name": out["name"], "size_bytes": out["size_bytes"]}

    app.openapi = documented_errors(app)  # type: ignore[method-assign]
    app.include_router(anpr_router)
    app.include_router(plates_router)
    app.include_router(search_router)
    app.include_router(faces_router)
    app.include_router(exports_router)

    # --- watchlist ------------------------------------------------------------------------------

    @app.get("/watchlist", summary="Watchlist subjects and their number of reference photos",
             description="Roles: control_room, investigator, admin.")
    def watchlist(actor: Annotated[Actor, Depends(allow(*LIVE))]) -> list[dict[str, Any]]:
        with rt().sessions() as s:
            return [{"id": i, "name": n, "references": r} for i, n, r in list_subjects(s) if r]

    @app.post("/watchlist", status_code=201, summary="Enrol a subject from reference photos", openapi_extra=ENROL_FORM,
              description="Roles: admin. Multipart `name` and one or more `images`; each photo must show "
                          "exactly one face, or nothing is enrolled (422 `invalid_reference` naming each).")
    async def add_subject(request: Request, actor: Annotated[Actor, Depends(allow("admin"))]) -> dict[str, Any]:
        form = await request.form(max_files=20, max_fields=5)
        name = form.get("name")
        images = [f for f in form.getlist("images") if isinstance(f, UploadFile)]
        if not isinstance(name, str) or not name.strip() or not images:
            raise InvalidReference("send a `name` and at least one reference photo as `images`")
        if len(name) > 200 or not name.isprintable():
            raise InvalidReference("a subject's `name` is at most 200 printable characters")
        tmp_paths: list[Path] = []
        try:
            for f in images:
                tmp_paths.append(await run_in_threadpool(receive, rt(), f.file, MAX_PHOTO_BYTES))
            labels = tuple(clean_name(f.filename, default=f"photo {i}") for i, f in enumerate(images, start=1))
            await run_in_threadpool(enrol, rt(), [Enrolment(name.strip(), tuple(tmp_paths), labels)], actor)
        finally:
            for p in tmp_paths:
                p.unlink(missing_ok=True)
        with rt().sessions() as s:
            row = next(r for r in list_subjects(s) if r[1] == name.strip())
        return {"id": row[0], "name": row[1], "references": row[2]}

    @app.delete("/watchlist/{subject_id}", summary="Take a subject off the watchlist",
                description="Roles: admin. A `reason` (query) is required and audited; candidates already "
                            "raised keep their history.")
    def remove(subject_id: Id, reason: Annotated[str, Query(min_length=1, max_length=2000)],
               actor: Annotated[Actor, Depends(allow("admin"))]) -> dict[str, Any]:
        return {"id": subject_id, "name": remove_subject(rt(), subject_id, actor, reason), "removed": True}

    return app
