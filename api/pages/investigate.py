"""The investigator's pages: where else a face appears (search by photo), every sighting of a plate,
an incident's unknown people, and the export for court. Each search and export takes a reason,
recorded in the audit log under the signed-in person's name, exactly as through the API."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import UploadFile

from api.auth import EXPORTERS
from api.deps import RuntimeDep
from api.errors import status_of
from api.pages.hits import direction_words
from api.pages.maps import Place, map_view, position
from api.pages.common import (FieldError, PageUser, check_csrf, clock, day_starts, field_of, incident_view, local_time,
                              render, size_text, staff, typed_date, watch_url)
from api.pages.anpr_access import ACCESS_PAGE
from api.params import MAX_ID, Id
from evidence.anpr_access import ApprovalRequired
from evidence.db.tables import Incident
from evidence.errors import EvidenceError, Forbidden, InvalidReference, NotFound
from evidence.audit import audit_read
from evidence.db.export_tables import ExportJob
from evidence.exportjobs import ExportRunning, export_job, start_export
from evidence.filestore import clean_name
from evidence.unknown_people import incident_people
from evidence.states import Role
from evidence.runtime import Runtime
from evidence.search import FaceFilters, search_faces, search_plates, shown_again
from evidence.work import with_reference
from evidence.users import SessionUser

__all__ = ["MAX_PHOTO_BYTES", "router"]

router = APIRouter(include_in_schema=False)
Exporter = Annotated[SessionUser, Depends(staff(*EXPORTERS))]
MAX_PHOTO_BYTES = 20 * 1024 * 1024
MAP_PLACES = 50  # places marked on the plate search's map (all are in the table)


def _references(rt: Runtime, incident_ids: set[int]) -> dict[int, str]:
    if not incident_ids:
        return {}
    with rt.sessions() as s:
        return dict(s.execute(select(Incident.id, Incident.reference).where(Incident.id.in_(incident_ids))).all())


def _appearance(a: dict[str, Any], refs: dict[int, str]) -> dict[str, Any]:
    return {**a, "clock": clock(a["t_s"]), "incident_ref": refs.get(a["incident_id"] or 0, "-"),
            "watch_url": watch_url(a["evidence_id"], a["t_s"], None, "face") + f"&track={a['track_id']}"}


FACE_FORM = ("reason", "incident", *(f"{d}-{p}" for d in ("since", "until") for p in ("day", "month", "year")))


def _faces_page(request: Request, user: SessionUser, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("typed", {})
    return render(request, "search_faces.html", user, status_code=status, page_title="Face search",
                  **{"results": None, **context})


@router.get("/app/search/faces", response_class=HTMLResponse)
def faces_form(request: Request, user: PageUser) -> HTMLResponse:
    return _faces_page(request, user)


def _face_filters(rt: Runtime, typed: dict[str, str]) -> FaceFilters:
    """The page's filters: one incident by its reference, and the days the footage was received
    between (as days in the force's time zone; both included)."""
    incident_ids: tuple[int, ...] = ()
    if reference := typed.get("incident", "").strip():
        with rt.sessions() as s:
            found = s.scalar(select(Incident.id).where(with_reference(reference)))
        if found is None:
            raise FieldError("incident", f"There is no incident {reference}: check the reference, or leave it empty "
                                         "to search all footage")
        incident_ids = (found,)
    since = typed_date(typed, "since", "Received from")
    until = typed_date(typed, "until", "Received up to")
    if since and until and until < since:
        raise FieldError("until-day", "Received up to must be the same as or after received from")
    zone = rt.settings.zone
    return FaceFilters(since=day_starts(since, zone) if since else None,
                       until=day_starts(until + timedelta(days=1), zone) - timedelta(microseconds=1) if until else None,
                       incident_ids=incident_ids)


@router.post("/app/search/faces", response_class=HTMLResponse)
async def faces(request: Request, rt: RuntimeDep, user: PageUser) -> Response:
    """Search, then show the results at their own address (POST, redirect, GET): Back and reload
    show them again without searching again."""
    form = await request.form(max_files=1, max_fields=len(FACE_FORM) + 2, max_part_size=MAX_PHOTO_BYTES)
    token = form.get("csrf_token")
    check_csrf(user, token if isinstance(token, str) else None)
    typed = {k: v for k in FACE_FORM if isinstance(v := form.get(k), str)}
    photo = form.get("photo")
    try:
        if not typed.get("reason", "").strip():
            raise FieldError("reason", "Say why you are searching: it is recorded in the audit log")
        filters = _face_filters(rt, typed)
        if not isinstance(photo, UploadFile) or not photo.filename:
            raise FieldError("photo", "Choose a photo showing the face to look for")
        data = await photo.read(MAX_PHOTO_BYTES + 1)
        if len(data) > MAX_PHOTO_BYTES:
            raise FieldError("photo", f"The photo must be smaller than {MAX_PHOTO_BYTES // 2**20} MB")
        try:
            found = await run_in_threadpool(search_faces, rt, data, clean_name(photo.filename, "photo"),
                                            typed["reason"].strip(), user.actor, filters, 60)
        except InvalidReference as exc:
            raise FieldError("photo", exc.message) from None
    except EvidenceError as exc:
        again = field_of(exc) != "photo" and isinstance(photo, UploadFile) and bool(photo.filename)
        return _faces_page(request, user, status_of(exc), error=exc.message, field=field_of(exc), typed=typed,
                           photo_again=again)
    return RedirectResponse(f"/app/search/faces/{found['search_id']}", status_code=303)


@router.get("/app/search/faces/{search_id}", response_class=HTMLResponse)
def face_results(search_id: Id, request: Request, rt: RuntimeDep, user: PageUser) -> HTMLResponse:
    """A search this person made, shown again from what it recorded (not searched, not audited again)."""
    found = shown_again(rt, search_id, user.actor)
    refs = _references(rt, {a["incident_id"] for a in found["results"] if a["incident_id"]})
    results = [_appearance(a, refs) for a in found["results"] if a["crop_url"]]
    typed = {"reason": found.get("reason") or ""}
    if found.get("incidents"):
        typed["incident"] = _references(rt, set(found["incidents"])).get(found["incidents"][0], "")
    for key in ("since", "until"):
        if found.get(key):
            day = datetime.fromisoformat(found[key]).astimezone(rt.settings.zone).date()
            typed.update({f"{key}-day": str(day.day), f"{key}-month": str(day.month), f"{key}-year": str(day.year)})
    return _faces_page(request, user, results=results, typed=typed, search_id=search_id,
                       probe_name=found.get("probe_name") or "photo", max_distance=found.get("max_distance"),
                       not_compared=found["not_compared"])


@router.get("/app/search/faces/{search_id}/probe")
def face_probe(search_id: Id, rt: RuntimeDep, user: PageUser) -> FileResponse:
    """The photo this person searched with (only theirs, only while the search can be shown again)."""
    found = shown_again(rt, search_id, user.actor)
    if not found.get("probe_path"):
        raise NotFound("This search kept no photo")
    return FileResponse(rt.store.absolute(found["probe_path"]), media_type="image/jpeg",
                        headers={"Cache-Control": "private, no-store"})


@router.get("/app/search/plates", response_class=HTMLResponse)
def plates(request: Request, rt: RuntimeDep, user: PageUser, q: Annotated[str, Query(max_length=20)] = "",
           reason: Annotated[str, Query(max_length=2000)] = "",
           access: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> HTMLResponse:
    """Every sighting of a plate; camera reads older than the access limit only with ``access``, an
    approved request for this query (asked for on the older reads page)."""
    context: dict[str, Any] = {"q": q, "reason": reason, "access": access, "page_title": "Plate search",
                               "ask_url": f"{ACCESS_PAGE}?{urlencode({'q': q})}",
                               "recent_url": f"/app/search/plates?{urlencode({'q': q, 'reason': reason})}"}
    if (not q and not reason) or (access is not None and not reason.strip()):  # from an approval's link: ask why
        return render(request, "search_plates.html", user, results=None, **context)
    try:
        found, reads_since = search_plates(rt, q, reason.strip(), user.actor, limit=500, access=access)
    except ApprovalRequired as exc:
        return render(request, "search_plates.html", user, status_code=status_of(exc), results=None,
                      error=f"{exc.what[0].upper()}{exc.what[1:]}", approval_needed=True, **context)
    except EvidenceError as exc:
        return render(request, "search_plates.html", user, status_code=status_of(exc), results=None,
                      error=exc.message, **context)
    places: dict[tuple[float, float], Place] = {}
    for r in found:
        if (where := position(r.get("location"))) is not None:  # one marker a place, numbered as on the map
            name = (r["location"].get("name") if isinstance(r["location"], dict) else None) or \
                (f"camera {r['camera_id']}" if r["source"] == "camera" else r["evidence_name"])
            places.setdefault(where, Place(where[0], where[1], str(name)))
            r["marker"] = list(places).index(where) + 1
        if r["source"] == "footage":
            r["watch_url"] = watch_url(r["evidence_id"], r["t_s"], None, "plate")
            r["when"] = f"{clock(r['t_s'])} in the clip"
        else:
            r["when"] = local_time(r["at"], rt.settings)
            r["place"] = r["location"].get("name") if isinstance(r.get("location"), dict) else None
            r["heading"] = direction_words(r.get("direction"))
            if access and r["plate_image_url"]:  # an old read's image is shown under the same approval
                r["plate_image_url"] += f"?access={access}"
    plotted = map_view(list(places.values())[:MAP_PLACES], rt.settings.map_tiles, rt.settings.map_attribution,
                       width=640, height=320)
    return render(request, "search_plates.html", user, results=found, map=plotted, **context,
                  reads_since=f"{reads_since:%d %B %Y}" if reads_since else None)


@router.get("/app/incidents/{incident_id}/people", response_class=HTMLResponse)
def people(incident_id: Id, request: Request, rt: RuntimeDep, user: Exporter) -> HTMLResponse:
    incident = incident_view(rt, incident_id)
    found = incident_people(rt, incident_id, user.actor)
    refs = _references(rt, {a["incident_id"] for p in found["people"] for a in p["elsewhere"] if a["incident_id"]})
    groups = [{"person": p["person"], "clips": p["clips"],
               "appearances": [_appearance(a, refs) for a in p["appearances"] if a["crop_url"]],
               "elsewhere": [_appearance(a, refs) for a in p["elsewhere"] if a["crop_url"]]} for p in found["people"]]
    return render(request, "people.html", user, incident=incident, people=groups, page_title="Unknown people")


@router.get("/app/incidents/{incident_id}/export", response_class=HTMLResponse)
def export_form(incident_id: Id, request: Request, rt: RuntimeDep, user: Exporter) -> HTMLResponse:
    return render(request, "export.html", user, incident=incident_view(rt, incident_id), page_title="Export for court")


@router.post("/app/incidents/{incident_id}/export", response_model=None)
def export(incident_id: Id, request: Request, rt: RuntimeDep, user: Exporter,
           reason: Annotated[str, Form(max_length=2000)] = "", redact: Annotated[str, Form(max_length=5)] = "",
           redact_plates: Annotated[str, Form(max_length=5)] = "", csrf_token: Annotated[str, Form()] = ""
           ) -> Response:
    """Start making the package (in the background) and show its progress; a second start while
    one of this incident is being made shows that one."""
    check_csrf(user, csrf_token)
    incident = incident_view(rt, incident_id)
    try:
        job_id = start_export(rt, incident_id, user.actor, reason, bool(redact), bool(redact_plates))
    except ExportRunning as exc:
        return RedirectResponse(f"/app/exports/{exc.job_id}?already=yes", status_code=303)
    except EvidenceError as exc:
        return render(request, "export.html", user, status_code=status_of(exc), incident=incident,
                      page_title="Export for court", error=exc.message, field="reason" if not reason.strip() else "")
    return RedirectResponse(f"/app/exports/{job_id}", status_code=303)


def _job_view(job: ExportJob) -> dict[str, Any]:
    return {"id": job.id, "state": job.state, "percent": round(job.progress * 100), "step": job.step,
            "error": job.error, "size": size_text(job.size_bytes or 0), "manifest_sha256": job.manifest_sha256,
            "requested_by": job.requested_by, "redact": job.redact, "plates": job.redact_plates,
            "downloadable": job.state == "done" and bool(job.file_path)}


@router.get("/app/exports/{job_id}", response_class=HTMLResponse)
def export_progress(job_id: Id, request: Request, rt: RuntimeDep, user: Exporter,
                    already: Annotated[str, Query(max_length=5)] = "") -> HTMLResponse:
    job = export_job(rt, job_id)
    return render(request, "export_progress.html", user, job=_job_view(job), incident=incident_view(rt, job.incident_id),
                  already=bool(already), page_title="Export for court")


@router.get("/app/exports/{job_id}/status")
def export_status(job_id: Id, rt: RuntimeDep, user: Exporter) -> dict[str, Any]:
    """How far the package has got (the progress page asks every two seconds)."""
    return _job_view(export_job(rt, job_id))


@router.get("/app/exports/{job_id}/download")
def export_download(job_id: Id, rt: RuntimeDep, user: Exporter) -> FileResponse:
    """The package, for the person who asked for it (audited)."""
    job = export_job(rt, job_id)
    if job.requested_by != user.name and user.role != Role.ADMIN:
        raise Forbidden(f"This package was made for {job.requested_by}: start your own export (it is audited)")
    if job.state != "done" or not job.file_path or not Path(job.file_path).exists():
        raise NotFound("This package is not ready, or was deleted after a day: start the export again")
    audit_read(rt.sessions, user.actor, "export.download", f"incident:{job.incident_id}",
               detail={"job": job.id, "manifest_sha256": job.manifest_sha256})
    return FileResponse(job.file_path, media_type="application/zip", filename=clean_name(Path(job.file_path).name,
                                                                                        "incident.zip"),
                        headers={"X-Manifest-SHA256": job.manifest_sha256 or ""})


