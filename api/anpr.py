"""ANPR cameras' reads (the camera role only): stored before the answer, checked against the
hotlist; and the reads' images (audited; an old read's only with a recorded reason)."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile as StarletteUpload

from api.auth import CAMERAS, READERS, allow
from api.deps import RuntimeDep
from api.guards import SafeJSONRoute, parse_json
from api.params import BigId
from api.schemas import AlprdResult, BatchResult, CameraHealth, ReadResult
from evidence.alprd import KINDS, alprd_reads, alprd_streams
from evidence.anpr import store_reads
from evidence.anpr_access import check_read, old_before
from evidence.cameras import camera_view, cameras, heartbeat
from evidence.audit import Actor, audit_read
from evidence.db.tables import AnprRead
from evidence.errors import EvidenceError, NotFound
from evidence.runtime import Runtime
from evidence.utc import UtcDatetime

__all__ = ["ALPRD_MAX_BODY", "MAX_BODY", "router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["anpr"])
MAX_BODY = 64 * 1024 * 1024
ALPRD_MAX_BODY = 8 * 1024 * 1024  # one group: two base64 crops of up to 2 MB each, and the rest
AGED = ("Roles: control_room, investigator, admin. Audited. A read older than EVIDENCE_ANPR_REASON_AFTER_DAYS (90) "
        "is shown only with `access`: the caller's own request for a query matching the read, approved by a second "
        "person with the authority role (POST /anpr/access; 403 `approval_required` without one).")


MAX_BATCH = 1000  # reads in one batch (a camera's backlog is sent in parts)
MAX_ERRORS_LISTED = 20  # a batch's answer lists this many bad reads; the rest are counted


class Alternative(BaseModel):
    vrm: str = Field(min_length=1, max_length=20)
    confidence: float = Field(ge=0, le=1)


class ReadIn(BaseModel):
    camera_id: str = Field(min_length=1, max_length=64, description="the key's name, or <key name>/<stream>")
    timestamp: UtcDatetime = Field(description="with its UTC offset (2026-11-22T21:14:03Z or …+01:00); stored in UTC")
    vrm: str = Field(min_length=1, max_length=20, description="the registration as read")
    confidence: float = Field(ge=0, le=1)
    location: dict[str, Any] | None = Field(None, description='e.g. {"lat": 51.5, "lon": -0.12, "name": "A40 J3"}')
    direction: str | None = Field(None, description="N, NE, ... or TOWARDS / AWAY")
    plate_image: str | None = Field(None, description="plate patch, base64 JPEG/PNG (<= 2 MB)")
    overview_image: str | None = Field(None, description="overview, base64 JPEG/PNG (<= 2 MB)")
    alternatives: list[Alternative] | None = Field(None, max_length=20, description="the camera's other reads of "
                                                   "this plate: each is checked against the hotlist too")
    country: str | None = Field(None, max_length=8, description="where the camera places the plate (gb, ie, fr, "
                                "...): a plate placed outside the UK is kept as read, format `foreign`")


async def _multipart_read(request: Request) -> Any:
    """One read as multipart: a ``read`` field (the read's JSON) and the images as files
    ``plate_image`` / ``overview_image`` (JPEG or PNG), as many cameras send them."""
    form = await request.form(max_part_size=4 * 1024 * 1024)
    raw = form.get("read")
    if not isinstance(raw, str):
        raise ValueError("a multipart read needs a `read` field holding the read's JSON")
    read = parse_json(raw)
    if not isinstance(read, dict):
        raise ValueError("`read` must be a JSON object")
    for name in ("plate_image", "overview_image"):
        part = form.get(name)
        if isinstance(part, StarletteUpload):
            read[name] = base64.b64encode(await part.read()).decode()
    return read


def _reads_body() -> dict[str, Any]:
    """The OpenAPI request body of POST /anpr/reads, which reads its body itself (JSON or multipart)."""
    read = ReadIn.model_json_schema()
    batch = {"type": "object", "required": ["reads"],
             "properties": {"reads": {"type": "array", "minItems": 1, "items": read}}}
    multipart = {"type": "object", "required": ["read"], "properties": {
        "read": {"type": "string", "description": "the read's JSON"},
        "plate_image": {"type": "string", "format": "binary"}, "overview_image": {"type": "string", "format": "binary"}}}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {"anyOf": [read, batch]}},
                                                          "multipart/form-data": {"schema": multipart}}}}


@router.post("/anpr/reads", summary="ANPR camera reads: one, or a batch", openapi_extra=_reads_body(),
             response_model=ReadResult | BatchResult,
             responses={200: {"description": "A batch (BatchResult), or a read already stored (duplicate)"},
                        201: {"description": "A new read stored", "model": ReadResult}},
             description="Roles: camera (the key's name is the camera id). A read object, or "
                         '`{"reads": [...]}` (JSON; images base64), or one read as multipart/form-data: a `read` '
                         "field with its JSON and `plate_image` / `overview_image` files. Each read is stored "
                         "before the response; duplicates (same camera, VRM, time) are ignored; hotlist hits (confusion-aware: O/0, I/1, ...) go to the linked "
                         "incident's feed. In a batch, bad reads are listed by index and the rest stored.")
async def post_reads(request: Request, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*CAMERAS))]) -> JSONResponse:
    try:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            body = await _multipart_read(request)
        else:
            body = await request.json()
    except ValueError as exc:
        return JSONResponse({"code": "invalid_read", "message": f"body is not a read: {exc}"}, status_code=422)
    batch = isinstance(body, dict) and "reads" in body
    items = body["reads"] if batch else [body]
    if not isinstance(items, list) or not items:
        return JSONResponse({"code": "invalid_read", "message": "`reads` must be a non-empty list"}, status_code=422)
    if len(items) > MAX_BATCH:  # counted before anything is checked: a small body must not make a large answer
        return JSONResponse({"code": "too_many_reads", "message": f"a batch holds at most {MAX_BATCH} reads, not "
                             f"{len(items)}: send it in parts"}, status_code=413)

    done, errors = await run_in_threadpool(_store, rt, items, actor)
    if not batch:
        if errors:
            status = 413 if errors[0]["code"] == "too_large" else 422
            return JSONResponse({"code": errors[0]["code"], "message": errors[0]["message"]}, status_code=status)
        return JSONResponse(done[0], status_code=200 if done[0]["duplicate"] else 201)
    summary = {"stored": sum(1 for d in done if not d["duplicate"]), "duplicates": sum(1 for d in done if d["duplicate"]),
               "hits": sum(1 for d in done if d["hit"]), "errors": errors[:MAX_ERRORS_LISTED],
               "errors_not_listed": max(0, len(errors) - MAX_ERRORS_LISTED)}
    return JSONResponse(summary, status_code=422 if not done else 200)


def _store(rt: Runtime, items: list[Any], actor: Actor
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Validate and store a batch: per read, its result or its error (by index)."""
    valid: list[tuple[int, dict[str, Any]]] = []
    errors: list[dict[str, Any]] = []
    for i, raw in enumerate(items):
        try:
            valid.append((i, ReadIn.model_validate(raw).model_dump()))
        except ValidationError as exc:  # where and what, never the value sent (it could be anything, and large)
            e = exc.errors(include_input=False, include_url=False)[0]
            errors.append({"index": i, "code": "invalid_read",
                           "message": f"{'.'.join(str(p) for p in e['loc'])[:100]}: {str(e['msg'])[:200]}"})
    done = []
    outcomes = store_reads(rt, [r for _, r in valid], actor)
    for (i, _), out in zip(valid, outcomes, strict=True):
        if isinstance(out, EvidenceError):
            errors.append({"index": i, "code": out.code, "message": out.message})
        else:
            # A camera is told that a read hit, never why: the hotlist's reasons go to the incident.
            done.append({"read_id": out.read_id, "duplicate": out.duplicate, "hit": bool(out.hits)})
    errors.sort(key=lambda e: e["index"])
    return done, errors


@router.post("/anpr/openalpr", summary="An OpenALPR agent's JSON (alprd): plate groups, results, heartbeats",
             response_model=AlprdResult, openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"type": "object", "required": ["data_type"], "properties": {
                     "data_type": {"type": "string", "enum": list(KINDS)}}}}}}},
             responses={422: {"description": "not alprd JSON, an unhandled data_type, or every read refused"}},
             description="Roles: camera (the key names the agent; each of its cameras is `<key name>/<camera_id>`). "
                         "The body alprd posts, as it posts it: `alpr_group` (one vehicle: best plate, candidates, "
                         "epoch milliseconds, confidence 0-100, travel direction in degrees, base64 crops) and "
                         "`alpr_results` are stored as reads (the camera's candidates are checked against the hotlist "
                         "too; a plate the camera places outside the UK is kept as read); a `heartbeat` records each "
                         "camera's health (GET /anpr/cameras). A camera heard from by neither for "
                         "EVIDENCE_ANPR_CAMERA_SILENT_S raises an alert on the desk.")
async def post_openalpr(request: Request, rt: RuntimeDep,
                        actor: Annotated[Actor, Depends(allow(*CAMERAS))]) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError as exc:
        return JSONResponse({"code": "invalid_read", "message": f"body is not JSON: {exc}"}, status_code=422)
    kind = body.get("data_type") if isinstance(body, dict) else None
    if kind not in KINDS:
        return JSONResponse({"code": "invalid_read", "message": f"data_type {kind!r} is not handled: one of "
                                                                 f"{', '.join(KINDS)}"}, status_code=422)
    try:
        if kind == "heartbeat":
            streams, unknown = alprd_streams(body, actor)
            await run_in_threadpool(heartbeat, rt, streams)
            errors = [{"code": "unknown_camera", "message": f"{len(unknown)} stream(s) not registered for "
                       f"{actor.name} were not kept (first: {unknown[0][:40]!r}): an administrator registers them"}
                      ] if unknown else []
            return JSONResponse({"data_type": kind, "stored": 0, "duplicates": 0, "hits": 0, "errors": errors,
                                 "cameras": sorted(streams)})
        reads = alprd_reads(body, actor.name)
    except EvidenceError as exc:
        return JSONResponse({"code": "invalid_read", "message": exc.message}, status_code=422)
    done, errors = await run_in_threadpool(_store, rt, reads, actor)
    summary = {"data_type": kind, "stored": sum(1 for d in done if not d["duplicate"]),
               "duplicates": sum(1 for d in done if d["duplicate"]), "hits": sum(1 for d in done if d["hit"]),
               "errors": errors[:MAX_ERRORS_LISTED], "errors_not_listed": max(0, len(errors) - MAX_ERRORS_LISTED),
               "cameras": []}
    return JSONResponse(summary, status_code=422 if errors and not done else 200)


@router.get("/anpr/cameras", summary="Each ANPR camera's health", response_model=list[CameraHealth],
            description="Roles: control_room, investigator, admin. When each camera last sent a read and a "
                        "heartbeat, whether it said it was streaming, its last heartbeat's figures, and since when it "
                        "has been silent (an alert was raised).")
def list_cameras(rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))]) -> list[dict[str, Any]]:
    with rt.sessions() as s:
        return [camera_view(row) for row in cameras(s)]


def _image(rt: Runtime, read_id: int, which: str, actor: Actor, reason: str | None, access: int | None) -> FileResponse:
    with rt.sessions() as s:
        row = s.get(AnprRead, read_id)
        path = getattr(row, which) if row else None
        if row is None or path is None:
            raise NotFound(f"read {read_id} has no {which.replace('_', ' ')}")
        approval = check_read(s, actor, access, row).id if row.read_at < old_before(rt) else None
    audit_read(rt.sessions, actor, f"anpr.view_{which}", f"anpr_read:{read_id}", reason=reason or None,
               detail={"access": approval} if approval else None)
    return FileResponse(rt.store.absolute(path))


ACCESS = Query(ge=1, le=2**31 - 1, description="an approved access request, for a read older than 90 days")


@router.get("/anpr/reads/{read_id}/plate", summary="A read's plate patch (audited)", response_class=FileResponse,
            description=AGED)
def plate_image(read_id: BigId, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))],
                reason: Annotated[str | None, Query(max_length=2000)] = None,
                access: Annotated[int | None, ACCESS] = None) -> FileResponse:
    return _image(rt, read_id, "plate_image", actor, reason, access)


@router.get("/anpr/reads/{read_id}/overview", summary="A read's overview image (audited)",
            response_class=FileResponse, description=AGED)
def overview_image(read_id: BigId, rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*READERS))],
                   reason: Annotated[str | None, Query(max_length=2000)] = None,
                   access: Annotated[int | None, ACCESS] = None) -> FileResponse:
    return _image(rt, read_id, "overview_image", actor, reason, access)
