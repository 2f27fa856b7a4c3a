"""The investigator's pages: where else a face appears (search by photo), every sighting of a plate,
an incident's unknown people, and the export for court. Each search and export takes a reason,
recorded in the audit log under the signed-in person's name, exactly as through the API."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy import select

from api.auth import EXPORTERS
from api.deps import RuntimeDep
from api.errors import status_of
from api.pages.hits import direction_words, local_time
from api.pages.maps import Place, map_view, position
from api.pages.common import PageUser, check_csrf, clock, render, staff, watch_url
from api.pages.anpr_access import ACCESS_PAGE
from api.params import MAX_ID, Id
from evidence.anpr_access import ApprovalRequired
from evidence.db.tables import Incident
from evidence.errors import EvidenceError, InvalidRequest, NotFound, TooLarge
from evidence.export import export_incident
from evidence.filestore import clean_name
from evidence.people import incident_people
from evidence.redaction import redactor_for
from evidence.runtime import Runtime
from evidence.search import FaceFilters, search_faces, search_plates
from evidence.users import SessionUser

__all__ = ["MAX_PHOTO_BYTES", "router"]

router = APIRouter(include_in_schema=False)
Exporter = Annotated[SessionUser, Depends(staff(*EXPORTERS))]
MAX_PHOTO_BYTES = 20 * 1024 * 1024
MAP_PLACES = 50  # places marked on the plate search's map (all are in the table)


def _incident(rt: Runtime, incident_id: int) -> dict[str, Any]:
    with rt.sessions() as s:
        incident = s.get(Incident, incident_id)
        if incident is None:
            raise NotFound(f"incident {incident_id} not found")
        return {"id": incident.id, "reference": incident.reference}


def _references(rt: Runtime, incident_ids: set[int]) -> dict[int, str]:
    if not incident_ids:
        return {}
    with rt.sessions() as s:
        return dict(s.execute(select(Incident.id, Incident.reference).where(Incident.id.in_(incident_ids))).all())


def _appearance(a: dict[str, Any], refs: dict[int, str]) -> dict[str, Any]:
    return {**a, "clock": clock(a["t_s"]), "incident_ref": refs.get(a["incident_id"] or 0, "-"),
            "watch_url": watch_url(a["evidence_id"], a["t_s"], None, "face") + f"&track={a['track_id']}"}


@router.get("/app/search/faces", response_class=HTMLResponse)
def faces_form(request: Request, user: PageUser) -> HTMLResponse:
    return render(request, "search_faces.html", user, results=None, page_title="Face search")


@router.post("/app/search/faces", response_class=HTMLResponse)
async def faces(request: Request, rt: RuntimeDep, user: PageUser, photo: Annotated[UploadFile | None, File()] = None,
                reason: Annotated[str, Form(max_length=2000)] = "", csrf_token: Annotated[str, Form()] = ""
                ) -> HTMLResponse:
    check_csrf(user, csrf_token)
    try:
        if photo is None or not photo.filename:
            raise InvalidRequest("Choose a photo showing the face to look for")
        data = await photo.read(MAX_PHOTO_BYTES + 1)
        if len(data) > MAX_PHOTO_BYTES:
            raise TooLarge(f"A photo to search with is at most {MAX_PHOTO_BYTES // 2**20} MB")
        found = await run_in_threadpool(search_faces, rt, data, clean_name(photo.filename, "photo"), reason.strip(),
                                        user.actor, FaceFilters(), 60)
    except EvidenceError as exc:
        return render(request, "search_faces.html", user, status_code=status_of(exc), results=None, reason=reason,
                      error=exc.message, page_title="Face search")
    refs = _references(rt, {a["incident_id"] for a in found["results"] if a["incident_id"]})
    results = [_appearance(a, refs) for a in found["results"] if a["crop_url"]]
    return render(request, "search_faces.html", user, results=results, reason=reason,
                  max_distance=found["max_distance"], not_compared=found["not_compared"], page_title="Face search")


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
    incident = _incident(rt, incident_id)
    found = incident_people(rt, incident_id, user.actor)
    refs = _references(rt, {a["incident_id"] for p in found["people"] for a in p["elsewhere"] if a["incident_id"]})
    groups = [{"person": p["person"], "clips": p["clips"],
               "appearances": [_appearance(a, refs) for a in p["appearances"] if a["crop_url"]],
               "elsewhere": [_appearance(a, refs) for a in p["elsewhere"] if a["crop_url"]]} for p in found["people"]]
    return render(request, "people.html", user, incident=incident, people=groups, page_title="Unknown people")


@router.get("/app/incidents/{incident_id}/export", response_class=HTMLResponse)
def export_form(incident_id: Id, request: Request, rt: RuntimeDep, user: Exporter) -> HTMLResponse:
    return render(request, "export.html", user, incident=_incident(rt, incident_id), page_title="Export for court")


@router.post("/app/incidents/{incident_id}/export", response_model=None)
def export(incident_id: Id, request: Request, rt: RuntimeDep, user: Exporter, background: BackgroundTasks,
           reason: Annotated[str, Form(max_length=2000)] = "", redact: Annotated[str, Form(max_length=5)] = "",
           redact_plates: Annotated[str, Form(max_length=5)] = "", csrf_token: Annotated[str, Form()] = ""
           ) -> FileResponse | HTMLResponse:
    check_csrf(user, csrf_token)
    incident = _incident(rt, incident_id)
    if not reason.strip():
        return render(request, "export.html", user, status_code=422, incident=incident, page_title="Export for court",
                      error="Give the reason for this export: it is recorded in the audit log")
    out = Path(tempfile.mkdtemp(dir=_exports_dir(rt))) / f"incident-{incident['reference']}.zip"
    try:
        redactor = redactor_for(rt, user.actor, bool(redact_plates)) if redact or redact_plates else None
        summary = export_incident(rt, incident_id, out, user.actor, reason.strip(), redactor)
    except EvidenceError as exc:
        shutil.rmtree(out.parent, ignore_errors=True)
        return render(request, "export.html", user, status_code=status_of(exc), incident=incident,
                      page_title="Export for court", error=exc.message)
    except BaseException:
        shutil.rmtree(out.parent, ignore_errors=True)
        raise
    background.add_task(shutil.rmtree, out.parent, True)
    return FileResponse(out, media_type="application/zip", filename=clean_name(out.name, "incident.zip"),
                        headers={"X-Manifest-SHA256": summary.manifest_sha256})


def _exports_dir(rt: Runtime) -> Path:
    path = rt.settings.data_dir / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path

