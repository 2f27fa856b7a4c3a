"""Footage coming in over HTTP: from officers and staff (a key), and from the public through an
upload link (the link is the permission). The body is counted against its cap as it streams, the
file copied under the store while hashed, sniffed and probed, and only then stored and recorded —
a refused upload leaves no file and no row. Its analysis then starts on the workers' queue or in
this process (``evidence.work.start_analysis``)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Path as PathParam, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from starlette.datastructures import FormData, UploadFile

from api.auth import OPENERS, UPLOADERS, allow, limit_key
from api.deps import RuntimeDep
from api.guards import MULTIPART_SLACK, SafeJSONRoute, limit_body, refuse_oversize
from api.views import incident_exists
from api.params import MAX_BIG_ID, Id
from api.ratelimit import Limits
from api.schemas import EvidenceUploaded, Receipt, UploadLinkPublic, multipart_body
from evidence.notify.witness import add_status, witness_reference
from evidence.audit import Actor
from evidence.db.tables import Evidence
from evidence.errors import InvalidMedia, InvalidRequest
from evidence.filestore import clean_name
from evidence.keys import secret_digest
from evidence.reports import evidence_view
from evidence.runtime import Runtime
from evidence.uploads import UnknownLink, check_link, create_link, receive, store_upload, unuse_link, use_link
from evidence.work import start_analysis

__all__ = ["router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["uploads"])
SENDER_FIELDS = {"caption": 2000, "contact": 200}  # what a sender may add; who and how is the server's record
CLIP_FORM = multipart_body({"file": {"type": "string", "format": "binary", "description": "the clip"},
                            "caption": {"type": "string", "maxLength": 2000},
                            "contact": {"type": "string", "maxLength": 200}}, ["file"])


class UploadLinkIn(BaseModel):
    expires_in_s: int = Field(24 * 3600, ge=60, le=7 * 24 * 3600, description="how long the link works")
    max_uploads: int = Field(5, ge=1, le=100, description="how many clips it accepts")
    max_bytes: int | None = Field(None, ge=1, le=MAX_BIG_ID,
                                  description="cap per clip (at most, and by default, EVIDENCE_MAX_UPLOAD_BYTES)")


def _sender_fields(form: FormData) -> dict[str, str]:
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


def _evidence_out(rt: Runtime, evidence_id: int, duplicate: bool) -> EvidenceUploaded:
    with rt.sessions() as s:
        ev = s.get(Evidence, evidence_id)
        assert ev is not None
        return EvidenceUploaded(**evidence_view(ev), duplicate=duplicate)


async def _upload(request: Request, rt: Runtime, incident_id: int, actor: Actor, cap: int,
                  submitted: dict[str, Any] | None, background: BackgroundTasks,
                  before_store: Any = None) -> EvidenceUploaded:
    refuse_oversize(request.headers, cap, MULTIPART_SLACK)
    limit_body(request.scope, cap + MULTIPART_SLACK)  # this upload's own cap, counted as it streams
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidMedia("no file: send the clip as the multipart field `file`")
    sender = _sender_fields(form)
    tmp: Path = await run_in_threadpool(receive, rt, upload.file, cap)
    await upload.close()
    if before_store is not None:
        try:
            await run_in_threadpool(before_store)  # a write: never on the event loop's thread
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    # What the sender wrote goes first: the server's own record of who and how cannot be overridden.
    evidence_id, duplicate = await run_in_threadpool(store_upload, rt, tmp, incident_id, clean_name(upload.filename),
                                                     actor, {**sender, **(submitted or {})})
    if not duplicate and (run := await run_in_threadpool(start_analysis, rt, evidence_id,
                                                         request.app.state.work_queue)) is not None:
        background.add_task(run)
    return await run_in_threadpool(_evidence_out, rt, evidence_id, duplicate)


@router.post("/incidents/{incident_id}/evidence", status_code=201, summary="Upload a clip to an incident",
             response_model=EvidenceUploaded, openapi_extra=CLIP_FORM,
             description="Roles: uploader, control_room, investigator, admin. Multipart field `file` "
                         "(and optional `caption`, `contact`). Streamed to disk with its SHA-256; over the size cap, "
                         "empty, not video or truncated is a 4xx with a `code` and nothing is kept. The same "
                         "bytes again link the existing evidence (`duplicate: true`). Then queued for analysis.")
async def upload(incident_id: Id, request: Request, background: BackgroundTasks, rt: RuntimeDep,
                 actor: Annotated[Actor, Depends(allow(*UPLOADERS))]) -> EvidenceUploaded:
    await run_in_threadpool(incident_exists, rt, incident_id)
    return await _upload(request, rt, incident_id, actor, rt.settings.max_upload_bytes, None, background)


@router.post("/incidents/{incident_id}/upload-links", status_code=201, response_model=UploadLinkPublic,
             summary="A public upload link for this incident (sent by text to a witness)",
             description="Roles: control_room, admin. The token is returned once; only its hash is kept.")
def new_link(incident_id: Id, body: UploadLinkIn, rt: RuntimeDep,
             actor: Annotated[Actor, Depends(allow(*OPENERS))]) -> UploadLinkPublic:
    cap = min(body.max_bytes or rt.settings.max_upload_bytes, rt.settings.max_upload_bytes)
    link, token = create_link(rt, incident_id, body.expires_in_s, body.max_uploads, cap, actor)
    return UploadLinkPublic(id=link.id, token=token, url=f"/public/uploads/{token}", page_url=f"/u/{token}",
                            expires_at=link.expires_at,
                            max_uploads=link.max_uploads, max_bytes=cap)


@router.post("/public/uploads/{token}", status_code=201, response_model=Receipt, summary="A member of the public sends a clip",
             openapi_extra=CLIP_FORM, responses={404: {"description": "Not a link"},
                                                 410: {"description": "Expired or used up"},
                                                 429: {"description": "Rate limited: see Retry-After"}},
             description="No account: the link is the permission (one incident, an expiry, a count and size "
                         "cap). Multipart `file`, optional `caption` and `contact`. A forged token is 404 "
                         "`unknown_link`; an expired or used-up one 410 `link_expired` / `link_used_up`.")
async def public_upload(token: Annotated[str, PathParam(max_length=100)], request: Request, rt: RuntimeDep,
                        background: BackgroundTasks) -> Receipt:
    limits: Limits = request.app.state.limits
    limits.link_client.hit(limit_key(request))
    limits.link.hit(secret_digest(token))
    try:
        link, incident = await run_in_threadpool(check_link, rt, token)
    except UnknownLink:
        limits.auth_failures.hit(limit_key(request))  # guessing links counts as failed sign-ins
        raise
    actor = Actor(f"public:link:{link.id}", "public")
    counted: list[bool] = []

    def count() -> None:
        use_link(rt, link)
        counted.append(True)

    try:
        out = await _upload(request, rt, incident.id, actor, link.max_bytes, {"via": f"upload link {link.id}"},
                            background, before_store=count)
    except BaseException:
        if counted:
            await run_in_threadpool(unuse_link, rt, link)
        raise
    # The public sender sees a receipt, not the police's view of the evidence, and a status link.
    status = None if out.duplicate else await run_in_threadpool(_status_link, rt, out.id)
    return Receipt(received=True, sha256=out.sha256, name=out.name, size_bytes=out.size_bytes, status_url=status)


def _status_link(rt: Runtime, evidence_id: int) -> str:
    with rt.sessions.begin() as s:
        # A reference that says nothing of how many videos came before (not the evidence's number).
        return f"/s/{add_status(s, evidence_id, witness_reference(secrets.token_hex(8)), None)}"
