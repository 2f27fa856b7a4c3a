"""Resumable uploads for witnesses, the tus protocol 1.0 (core, creation, termination): a phone in
the street with a poor signal sends its video in pieces; after a dropped connection the browser
asks how much arrived (HEAD) and carries on from there (PATCH). The upload link is the permission,
as for the one-shot upload. When the last byte arrives the file is checked, stored and recorded
like any upload, and a receipt (a reference, the file's SHA-256) is kept for the sender to read.

Each upload is a row (``resumable_uploads``: link, length, offset, what the sender said) and a
temporary file under the store; bytes are written as they arrive, so a connection cut mid-piece
keeps what it delivered."""

from __future__ import annotations

import base64
import binascii
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Header, Path as PathParam, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select, update
from starlette.requests import ClientDisconnect

from api.auth import limit_key
from api.guards import limit_body
from api.ratelimit import Limits
from evidence.audit import Actor
from evidence.db import rows_changed
from evidence.db.tables import Evidence
from evidence.db.upload_tables import ResumableUpload, UploadLink
from evidence.errors import Conflict, EvidenceError, Gone, InvalidMedia, InvalidRequest, NotFound, TooLarge
from evidence.filestore import clean_name
from evidence.keys import secret_digest
from evidence.notify.targets import check_email
from evidence.notify.witness import add_status, witness_reference
from evidence.runtime import Runtime
from evidence.uploads import (UnknownLink, check_link, drop_upload, start_upload, store_upload, touch_upload,
                              unuse_link, upload_part, use_link)
from evidence.utc import utcnow
from evidence.work import start_analysis
from pipeline.media import sniff_kind

__all__ = ["router"]

router = APIRouter(tags=["uploads"])
TUS = {"Tus-Resumable": "1.0.0"}
Token = Annotated[str, PathParam(max_length=100)]
UploadId = Annotated[str, PathParam(max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
CHUNK = 1 << 20
RESPONSES: dict[int | str, dict[str, Any]] = {404: {"description": "Not a link, or no such upload"},
                                              409: {"description": "Offset does not match"},
                                              410: {"description": "Expired or used up, or the part received is on "
                                                                   "another server: start again"},
                                              429: {"description": "Rate limited: see Retry-After"}}


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def _link(request: Request, token: str, new: bool = True) -> UploadLink:
    """The link ``token`` names, if it is still usable. ``new``: a request that starts something
    (an upload, a look at the link) counts against the sender's address; the pieces of an upload
    already started do not (an upload of hundreds of pieces must not trip the limit, and its
    random id cannot be guessed)."""
    limits: Limits = request.app.state.limits
    if new:
        limits.link_client.hit(limit_key(request))
    try:
        link, _ = check_link(_rt(request), token)
    except UnknownLink:
        limits.auth_failures.hit(limit_key(request))
        raise
    return link


def _upload(rt: Runtime, link: UploadLink, upload_id: str) -> ResumableUpload:
    with rt.sessions() as s:
        row = s.get(ResumableUpload, upload_id)
        if row is None or row.link_id != link.id:
            raise NotFound("no such upload")
        if row.abandoned_at is not None:
            raise Gone("this upload was stopped unfinished (no piece arrived for a long time, or its link "
                       "ended) and what had arrived was deleted: send the video again")
        return row


def _metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs."""
    out: dict[str, str] = {}
    for pair in (header or "").split(","):
        key, _, value = pair.strip().partition(" ")
        if not key:
            continue
        try:
            out[key] = base64.b64decode(value, validate=True).decode("utf-8") if value else ""
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidRequest(f"Upload-Metadata: {key} is not base64 of UTF-8 text") from exc
    return out


@router.options("/public/tus/{token}", include_in_schema=False)
def options(token: Token, request: Request) -> Response:
    link = _link(request, token)
    return Response(status_code=204, headers={**TUS, "Tus-Version": "1.0.0", "Tus-Extension": "creation,termination",
                                              "Tus-Max-Size": str(link.max_bytes)})


@router.post("/public/tus/{token}", status_code=201, responses=RESPONSES,
             summary="Start a resumable upload (tus creation) through an upload link",
             description="No account: the link is the permission. Headers `Tus-Resumable: 1.0.0`, "
                         "`Upload-Length` (at most the link's cap: 413 otherwise, before a byte is sent) and "
                         "`Upload-Metadata` (`filename`, `filetype`, `caption`, `contact`, and `updates_email`: an "
                         "address to email at each step of the video's status). `Location` names the upload.")
def create(token: Token, request: Request, upload_length: Annotated[int, Header(ge=1, le=2**62)],
           upload_metadata: Annotated[str | None, Header(max_length=8000)] = None) -> Response:
    link = _link(request, token)
    if upload_length > link.max_bytes:
        raise TooLarge(f"This video is {upload_length // 2**20} MB; this link takes at most {link.max_bytes // 2**20} MB")
    meta = _metadata(upload_metadata)
    fields = (("caption", 2000), ("contact", 200)) + ((("recorded_by", 100), ("device", 100)) if link.staff_role else ())
    sender = {k: meta[k].strip()[:n] for k, n in fields if meta.get(k, "").strip()}
    if meta.get("updates_email", "").strip():  # the sender asked for an email at each step: checked now, not at the end
        sender["updates_email"] = check_email(meta["updates_email"].strip())
    rt = _rt(request)
    upload_id = secrets.token_urlsafe(16)
    start_upload(rt, link, upload_id, upload_length, clean_name(meta.get("filename"), "video"), sender,
                 limit_key(request))
    return Response(status_code=201, headers={**TUS, "Location": f"/public/tus/{token}/{upload_id}"})


def _path(rt: Runtime, upload_id: str) -> Path:
    return upload_part(rt, upload_id)


def _here(rt: Runtime, upload_id: str, unfinished: bool) -> None:
    """The bytes received so far are kept by the process that received them: asked of another
    (a proxy that does not keep one upload on one process), the sender is told to start again."""
    if unfinished and not _path(rt, upload_id).exists():
        raise Gone("this upload's received part is not on this server: start the upload again")


@router.head("/public/tus/{token}/{upload_id}", responses=RESPONSES, summary="How much of an upload arrived (tus)")
def offset(token: Token, upload_id: UploadId, request: Request) -> Response:
    rt = _rt(request)
    row = _upload(rt, _link(request, token, new=False), upload_id)
    _here(rt, upload_id, row.finished_at is None)
    return Response(status_code=200, headers={**TUS, "Upload-Offset": str(row.offset), "Upload-Length": str(row.length),
                                              "Cache-Control": "no-store"})


@router.patch("/public/tus/{token}/{upload_id}", status_code=204, responses=RESPONSES,
              summary="Send the next piece of an upload (tus)",
              description="`Content-Type: application/offset+octet-stream`, `Upload-Offset` the offset HEAD "
                          "gave. Bytes are kept as they arrive: after a dropped connection, ask HEAD and go on. "
                          "The last piece stores the video; its receipt is at `…/receipt`.")
async def patch(token: Token, upload_id: UploadId, request: Request, background: BackgroundTasks,
                upload_offset: Annotated[int, Header(ge=0, le=2**62)],
                content_type: Annotated[str, Header(max_length=100)] = "") -> Response:
    rt = _rt(request)
    link = await run_in_threadpool(_link, request, token, False)
    if content_type != "application/offset+octet-stream":
        raise InvalidRequest("Content-Type must be application/offset+octet-stream")
    receiving: set[str] = request.app.state.tus_receiving
    if upload_id in receiving:  # checked and taken with no await between: one writer per upload in this process
        raise Conflict("another piece of this upload is still arriving: ask how much arrived (HEAD), then go on")
    receiving.add(upload_id)  # (an upload's pieces all reach the process that keeps its bytes: see _here)
    try:
        return await _receive(request, rt, link, upload_id, upload_offset, background)
    finally:
        receiving.discard(upload_id)


async def _receive(request: Request, rt: Runtime, link: UploadLink, upload_id: str, upload_offset: int,
                   background: BackgroundTasks) -> Response:
    """One PATCH's bytes, written where the upload stands (read now that this request is its only
    writer): the stored bytes are always those of the requests that were answered 204."""
    row = await run_in_threadpool(_upload, rt, link, upload_id)
    if row.finished_at is not None or upload_offset != row.offset:
        raise Conflict(f"this upload is at offset {row.offset}, not {upload_offset}")
    _here(rt, upload_id, True)
    await run_in_threadpool(touch_upload, rt, upload_id)  # a long piece is activity from its start
    limit_body(request.scope, row.length - row.offset)
    written = 0
    try:
        with _path(rt, upload_id).open("r+b") as f:
            f.seek(row.offset)
            async for chunk in request.stream():
                if written + len(chunk) > row.length - row.offset:
                    raise TooLarge("more bytes than the upload's length")
                if row.offset == 0 and written == 0 and (kind := sniff_kind(chunk[:512])):  # refused at its first bytes
                    await run_in_threadpool(drop_upload, rt, upload_id, f"not a video ({kind})")  # frees its place
                    raise InvalidMedia(f"This file is {kind}, not a video. Choose the video you recorded.")
                f.write(chunk)
                written += len(chunk)
    except ClientDisconnect:
        pass  # what arrived is kept: the sender asks HEAD and carries on
    finally:
        await run_in_threadpool(_advance, rt, upload_id, row.offset, written)
    done = row.offset + written
    if done == row.length:
        await run_in_threadpool(_finish, request, rt, link, upload_id, background)
    return Response(status_code=204, headers={**TUS, "Upload-Offset": str(done)})


def _advance(rt: Runtime, upload_id: str, start: int, written: int) -> None:
    if not written:
        return  # nothing arrived (a refused piece, a connection dropped at once): nothing to record
    with rt.sessions.begin() as s:
        if rows_changed(s.execute(update(ResumableUpload).where(ResumableUpload.id == upload_id,
                                                                ResumableUpload.offset == start,
                                                                ResumableUpload.finished_at.is_(None),
                                                                ResumableUpload.abandoned_at.is_(None))
                                  .values(offset=start + written, touched_at=utcnow()))) != 1:
            raise Conflict("another request moved this upload on")


def _finish(request: Request, rt: Runtime, link: UploadLink, upload_id: str, background: BackgroundTasks) -> None:
    """The last byte arrived: count it on the link, check and store it, start its analysis. What
    went wrong (not a video, the link used up meanwhile) is kept for the receipt."""
    row = _upload(rt, link, upload_id)
    tmp = _path(rt, upload_id)
    # A staff member's own link: they sent it (body-worn, CCTV); otherwise a member of the public.
    actor = Actor(link.created_by, link.staff_role) if link.staff_role else Actor(f"public:link:{link.id}", "public")
    evidence_id, sha256, error = None, None, None
    try:
        use_link(rt, link, besides=upload_id)
        try:
            submitted = {k: v for k, v in (row.sender or {}).items() if k != "updates_email"}
            evidence_id, duplicate = store_upload(rt, tmp, link.incident_id, row.name, actor,
                                                  {**submitted, "via": "uploaded by staff (resumable)" if link.staff_role
                                                   else f"upload link {link.id} (resumable)",
                                                   "reference": witness_reference(upload_id)})
        except BaseException:
            unuse_link(rt, link)
            raise
        if not duplicate and (run := start_analysis(rt, evidence_id, request.app.state.work_queue)) is not None:
            background.add_task(run)
    except EvidenceError as exc:
        error = exc.message
    finally:
        tmp.unlink(missing_ok=True)
    if evidence_id is not None:
        with rt.sessions() as s:
            ev = s.get(Evidence, evidence_id)
            sha256 = ev.sha256 if ev else None
    with rt.sessions.begin() as s:
        done = s.get(ResumableUpload, upload_id)
        assert done is not None
        done.finished_at, done.evidence_id, done.sha256, done.error = utcnow(), evidence_id, sha256, error
        if evidence_id is not None:  # the sender's status page (and their emails, if they asked)
            done.status_token = add_status(s, evidence_id, witness_reference(upload_id), (row.sender or {}).get("updates_email"))


@router.get("/public/tus/{token}/{upload_id}/receipt", responses={**RESPONSES, 422: {"description": "Not stored"}},
            summary="The receipt of a finished upload: a reference and the file's SHA-256")
def receipt(token: Token, upload_id: UploadId, request: Request) -> JSONResponse:
    row = _upload(_rt(request), _link_for_receipt(request, token), upload_id)
    if row.finished_at is None:
        raise Conflict(f"still receiving: {row.offset} of {row.length} bytes")
    if row.error:
        return JSONResponse({"code": "not_stored", "message": row.error}, status_code=422)
    return JSONResponse({"reference": witness_reference(upload_id), "received_at": row.finished_at.isoformat(),
                         "name": row.name, "sha256": row.sha256, "size_bytes": row.length,
                         "status_url": f"/s/{row.status_token}" if row.status_token else None})


def _link_for_receipt(request: Request, token: str) -> UploadLink:
    """A receipt is readable after the link's last use (but not with a forged token)."""
    try:
        return _link(request, token, new=False)
    except Gone:
        with _rt(request).sessions() as s:
            link = s.scalar(select(UploadLink).where(UploadLink.token_sha256 == secret_digest(token)))
            if link is None:
                raise
            return link


@router.delete("/public/tus/{token}/{upload_id}", status_code=204, responses=RESPONSES,
               summary="Abandon an upload (tus termination)")
def terminate(token: Token, upload_id: UploadId, request: Request) -> Response:
    rt = _rt(request)
    row = _upload(rt, _link(request, token), upload_id)
    if upload_id in request.app.state.tus_receiving:  # its bytes are being written: not from under them
        raise Conflict("a piece of this upload is still arriving: stop sending it first")
    if row.finished_at is None:
        _path(rt, upload_id).unlink(missing_ok=True)
        with rt.sessions.begin() as s:
            s.execute(update(ResumableUpload).where(ResumableUpload.id == upload_id)
                      .values(finished_at=utcnow(), error="abandoned by the sender"))
    return Response(status_code=204, headers=TUS)
