"""Face tracks beyond watchlist candidates: a track's crop (what a face search or a people group
points at) and an incident's unknown faces grouped into people. Every view is audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from api.auth import EXPORTERS, READERS, allow
from api.deps import RuntimeDep, viewed
from api.guards import SafeJSONRoute
from api.params import Id
from api.schemas import PeopleResult
from evidence.audit import Actor
from evidence.db.tables import FaceTrackRow
from evidence.errors import NotFound
from evidence.unknown_people import incident_people

__all__ = ["router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["search"])


@router.get("/face-tracks/{track_id}/crop", summary="A face track's best crop, JPEG (audited read)",
            description="Roles: control_room, investigator, admin.", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}}, "description": "the face crop"}})
def track_crop(track_id: Id, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))]) -> FileResponse:
    with viewed(rt, actor, FaceTrackRow, track_id, "face_track", "face_track.view_crop") as (_, row, detail):
        if row.crop is None:
            raise NotFound(f"face track {track_id} has no crop")
        path = rt.store.absolute(row.crop.store_path)
        detail.update(evidence_id=row.evidence_id, sha256=row.crop.sha256)
    return FileResponse(path, media_type="image/jpeg")


@router.get("/incidents/{incident_id}/people", responses={409: {"description": "Too many unknown faces to group"}},
            response_model=PeopleResult, summary="The incident's unknown faces grouped into people (audited)",
            description="Roles: investigator, admin. Face tracks no watchlist candidate is attached to, grouped "
                        "across the incident's clips (mean distance <= EVIDENCE_PEOPLE_THRESHOLD; two faces on "
                        "screen together are never grouped), most clips first; `elsewhere` lists the same face "
                        "in other incidents. Suggestions for a person to check, never identities.")
def people(incident_id: Id, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*EXPORTERS))]) -> dict[str, Any]:
    return incident_people(rt, incident_id, actor)
