"""Face tracks beyond watchlist candidates: a track's crop (what a face search or a people group
points at) and an incident's unknown faces grouped into people. Every view is audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse

from api.auth import allow
from api.guards import SafeJSONRoute
from api.params import Id
from evidence.audit import Actor, audit_read
from evidence.db.tables import FaceTrackRow
from evidence.people import incident_people
from evidence.runtime import Runtime
from pipeline.errors import NotFound

__all__ = ["router"]

router = APIRouter(route_class=SafeJSONRoute)
LIVE = ("control_room", "investigator", "admin")


@router.get("/face-tracks/{track_id}/crop", summary="A face track's best crop, JPEG (audited read)",
            description="Roles: control_room, investigator, admin.", response_class=FileResponse)
def track_crop(track_id: Id, request: Request, actor: Annotated[Actor, Depends(allow(*LIVE))]) -> FileResponse:
    rt: Runtime = request.app.state.runtime
    with rt.sessions() as s:
        row = s.get(FaceTrackRow, track_id)
        if row is None or row.crop is None:
            raise NotFound(f"face track {track_id} has no crop")
        path, detail = rt.store.absolute(row.crop.store_path), {"evidence_id": row.evidence_id,
                                                               "sha256": row.crop.sha256}
    audit_read(rt.sessions, actor, "face_track.view_crop", f"face_track:{track_id}", detail=detail)
    return FileResponse(path, media_type="image/jpeg")


@router.get("/incidents/{incident_id}/people", responses={409: {"description": "Too many unknown faces to group"}},
            summary="The incident's unknown faces grouped into people (audited)",
            description="Roles: investigator, admin. Face tracks no watchlist candidate is attached to, grouped "
                        "across the incident's clips (mean distance <= EVIDENCE_PEOPLE_THRESHOLD; two faces on "
                        "screen together are never grouped), most clips first; `elsewhere` lists the same face "
                        "in other incidents. Suggestions for a person to check, never identities.")
def people(incident_id: Id, request: Request,
           actor: Annotated[Actor, Depends(allow("investigator", "admin"))]) -> dict[str, Any]:
    return incident_people(request.app.state.runtime, incident_id, actor)
