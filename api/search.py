"""Investigators' searches: every one needs a reason, recorded with the query and result count."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from pydantic import Field

from api.auth import READERS, allow
from api.deps import RuntimeDep
from api.guards import SafeJSONRoute, Text
from api.params import MAX_ID
from api.schemas import FaceSearchResult, PlateSearchResult
from evidence.audit import Actor
from evidence.errors import InvalidReference, TooLarge
from evidence.filestore import clean_name
from evidence.search import MAX_RESULTS, FaceFilters, search_faces, search_plates
from evidence.utc import UtcDatetime
from pipeline.geo import GeoBox

__all__ = ["MAX_PHOTO_BYTES", "router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["search"])
MAX_PHOTO_BYTES = 20 * 1024 * 1024


def _box(text: str | None) -> GeoBox | None:
    try:
        return GeoBox.from_text(text) if text else None
    except ValueError as exc:
        raise InvalidReference(f"box: {exc}") from exc


@router.get("/search/plates", summary="Every sighting of a plate: camera reads and footage (audited, reason required)",
            response_model=PlateSearchResult,
            description="Roles: investigator, control_room, admin. `q`: a registration, with `?` for one unknown "
                        "character and `*` for any run (`AB1?CDE`, `*CDE`); O/0, I/1, B/8, S/5, Z/2, G/6 match "
                        "alike. `box`: `min_lat,min_lon,max_lat,max_lon` (camera location, or where footage was "
                        "filmed). `reason` is required and audited with the query and the result count. Results "
                        "are reads to verify against their images. Camera reads older than 90 days (EVIDENCE_ANPR_REASON_AFTER_DAYS) "
                        "are searched only with `access`, an approved request for this query (403 "
                        "`approval_required` for an earlier `since` without one); without `since`, reads are "
                        "searched from that limit (`reads_since`).")
def plates(rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))],
           q: Annotated[str, Query(min_length=1, max_length=20)],
           reason: Annotated[str, Query(min_length=1, max_length=2000)],
           since: Annotated[UtcDatetime | None, Query(description="with its UTC offset")] = None,
           until: Annotated[UtcDatetime | None, Query(description="with its UTC offset")] = None,
           camera: Annotated[str | None, Query(max_length=64)] = None,
           box: Annotated[str | None, Query(max_length=100)] = None, limit: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 200,
           access: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="an approved access request "
                                              "(POST /anpr/access) for camera reads past 90 days")] = None) -> dict[str, Any]:
    results, reads_since = search_plates(rt, q, reason, actor, since, until, camera, _box(box), limit, access)
    return {"query": q, "count": len(results), "reads_since": reads_since, "results": results}


@router.post("/search/faces", summary="Where else does this face appear? (audited, reason required)",
             response_model=FaceSearchResult,
             description="Roles: investigator, control_room, admin. Multipart: `photo` (one face), `reason` "
                         "(required, audited with the probe's SHA-256 and the result count), optional `since`, "
                         "`until` (when footage was received), `incident` (repeatable), `box` "
                         "(`min_lat,min_lon,max_lat,max_lon`, where footage was filmed), `limit`. Returns "
                         "appearances (evidence, face track, time, crop URL, distance) closest first, within "
                         "EVIDENCE_SEARCH_MAX_DISTANCE: candidates for a person to check, never identities.")
def faces(rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))],
          photo: Annotated[UploadFile, File(description="a photo showing the one face to look for")],
          reason: Annotated[Text, Form(min_length=1, max_length=2000)],
          since: Annotated[UtcDatetime | None, Form(description="with its UTC offset")] = None,
          until: Annotated[UtcDatetime | None, Form(description="with its UTC offset")] = None,
          incident: Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None, Form(max_length=100)] = None,
          box: Annotated[Text | None, Form(max_length=100)] = None,
          limit: Annotated[int, Form(ge=1, le=MAX_RESULTS)] = 50) -> dict[str, Any]:
    data = photo.file.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise TooLarge(f"a probe photo is at most {MAX_PHOTO_BYTES // 2**20} MiB")
    filters = FaceFilters(since, until, tuple(incident or ()), _box(box))
    return search_faces(rt, data, clean_name(photo.filename, "photo"), reason, actor, filters, limit)
