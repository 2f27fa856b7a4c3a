"""Receiving evidence from outside: a received file is copied to a temporary file under the store
(1 MiB chunks, capped), then checked, stored and recorded (``evidence.work.ingest_upload``) — a
refused upload leaves no file and no row. And the upload links a witness is sent: one incident,
an expiry, a count and a size cap; only the token's hash is kept."""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import ColumnElement, func, or_, select, update

from evidence.audit import Actor, append_audit
from evidence.db import rows_changed
from evidence.db.outbox_tables import Delivery
from evidence.db.tables import Incident
from evidence.db.upload_tables import ResumableUpload, UploadLink
from evidence.errors import Conflict, Gone, NotFound, TooLarge, TooManyRequests
from evidence.eventkinds import EventKind
from evidence.events import add_event
from evidence.keys import secret_digest
from evidence.notify.govnotify import Channel, shown
from evidence.notify.messages import upload_link_words
from evidence.runtime import Runtime
from evidence.utc import utcnow
from evidence.work import ingest_upload

__all__ = ["LinkExpired", "LinkUsedUp", "UnknownLink", "check_link", "create_link", "drop_upload", "expire_uploads",
           "link_of", "touch_upload",
           "link_sends", "start_upload", "upload_part",
           "send_link", "wait_for_delivery", "receive", "store_upload",
           "unuse_link", "use_link"]

CHUNK = 1 << 20


def receive(rt: Runtime, src: BinaryIO, max_bytes: int) -> Path:
    """Copy an upload to a temporary file under the store; TooLarge past ``max_bytes`` (the partial
    file is removed)."""
    tmp_dir = rt.store.root / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"upload larger than the {max_bytes}-byte limit")
                out.write(chunk)
        return Path(name)
    except BaseException:
        os.unlink(name)
        raise


def store_upload(rt: Runtime, tmp: Path, incident_id: int, filename: str, actor: Actor,
                 submitted: dict[str, Any] | None = None) -> tuple[int, bool]:
    """Probe and store a received upload on the incident; the temporary file is always removed."""
    try:
        with rt.sessions() as s:
            incident = s.get(Incident, incident_id)
            if incident is None:
                raise NotFound(f"incident {incident_id} not found")
            reference = incident.reference
        return ingest_upload(rt, tmp, reference, actor, filename, submitted)
    finally:
        tmp.unlink(missing_ok=True)


def link_of(rt: Runtime, incident_id: int, token: str) -> UploadLink:
    """The witness upload link of this incident whose token this is; UnknownLink otherwise."""
    with rt.sessions() as s:
        link = s.scalar(select(UploadLink).where(UploadLink.token_sha256 == secret_digest(token),
                                                 UploadLink.incident_id == incident_id,
                                                 UploadLink.staff_role.is_(None)))
        if link is None:
            raise UnknownLink("no such upload link on this incident")
        return link


def link_sends(rt: Runtime, link_id: int) -> list[dict[str, Any]]:
    """How each text message or email of this link went: how, to whom, and its delivery's state
    (pending, delivered to Notify, failed) with the last error."""
    with rt.sessions() as s:
        rows = s.scalars(select(Delivery).where(Delivery.kind == "upload.link", Delivery.key.like(f"link{link_id}:%"))
                         .order_by(Delivery.id))
        return [{"how": "text message" if d.channel == "notify_sms" else "email", "to": shown(d.channel, d.target),
                 "state": d.state, "error": d.last_error, "attempts": d.attempts} for d in rows]


def wait_for_delivery(rt: Runtime, delivery_id: int, within_s: float) -> None:
    """Wait (at most ``within_s``) for the first attempt at a delivery: its answer, for the page."""
    until = time.monotonic() + within_s
    while time.monotonic() < until:
        with rt.sessions() as s:
            d = s.get(Delivery, delivery_id)
            if d is None or d.attempts or d.state != "pending":
                return
        time.sleep(0.2)


def send_link(rt: Runtime, incident_id: int, token: str, url: str, channel: Channel, to: str, actor: Actor) -> int:
    """Send a witness the upload link ``url`` (whose token is ``token``, shown to its maker once)
    by text message or email through GOV.UK Notify; the delivery's id. The link is kept in the
    outbox only until it is sent; who sent it where is audited and on the incident's chronology."""
    link = link_of(rt, incident_id, token)
    with rt.sessions.begin() as s:
        if link.expires_at <= utcnow():
            raise LinkExpired("this upload link has expired: make a new one")
        before, _ = upload_link_words(rt.settings, link.expires_at)
        d = Delivery(key=f"link{link.id}:{secrets.token_hex(8)}", kind="upload.link", channel=channel, target=to,
                     payload={"before": before, "link_path": url, "link": link.id, "incident_id": incident_id})
        s.add(d)
        s.flush()
        how = "text message" if channel == "notify_sms" else "email"
        append_audit(s, actor, "upload_link.send", f"incident:{incident_id}",
                     detail={"link": link.id, "delivery": d.id, "by": how, "to": to})
        add_event(s, incident_id, EventKind.UPLOAD_LINK_SENT, {"link": link.id, "by": actor.name, "how": how,
                                                       "to": shown(channel, to), "delivery": d.id})
        return d.id


def create_link(rt: Runtime, incident_id: int, expires_in_s: int, max_uploads: int, max_bytes: int,
                actor: Actor, staff: bool = False) -> tuple[UploadLink, str]:
    """A link to upload through (its token is returned once). ``staff``: the signed-in ``actor``'s
    own, for their footage (body-worn, CCTV): what comes through it names them as the sender."""
    token = secrets.token_urlsafe(32)
    with rt.sessions.begin() as s:
        incident = s.get(Incident, incident_id, with_for_update=True)  # a close waits for this link, or it sees the close
        if incident is None:
            raise NotFound(f"incident {incident_id} not found")
        if incident.status == "closed":
            raise Conflict(f"{incident.reference} is closed: reopen it before asking for more footage")
        link = UploadLink(incident_id=incident_id, token_sha256=secret_digest(token),
                          expires_at=utcnow() + timedelta(seconds=expires_in_s), max_uploads=max_uploads,
                          max_bytes=max_bytes, created_by=actor.name, staff_role=actor.role if staff else None)
        s.add(link)
        s.flush()
        append_audit(s, actor, "upload_link.create", f"incident:{incident_id}",
                     detail={"link": link.id, "expires_in_s": expires_in_s, "max_uploads": max_uploads, "staff": staff})
        if not staff:  # the board's timeline: a link sent to a witness (a staff upload shows as its evidence)
            add_event(s, incident_id, EventKind.UPLOAD_LINK_CREATED, {"link": link.id, "by": actor.name,
                                                              "expires_at": link.expires_at.isoformat()})
        return link, token


def _unfinished() -> tuple[ColumnElement[bool], ...]:
    """An upload still being sent: neither finished nor removed."""
    return ResumableUpload.finished_at.is_(None), ResumableUpload.abandoned_at.is_(None)


def upload_part(rt: Runtime, upload_id: str) -> Path:
    """Where the received part of a resumable upload is kept (on the process that receives it)."""
    return rt.store.root / "tmp" / f"tus-{upload_id}"


def start_upload(rt: Runtime, link: UploadLink, upload_id: str, length: int, name: str, sender: dict[str, Any],
                 client: str) -> None:
    """A resumable upload begins: counted against its link (what was sent and what is being sent
    together within ``max_uploads``: LinkUsedUp) and against the address that started it
    (``uploads_in_progress_per_address``: TooManyRequests) as it is created, not when it finishes —
    bytes that are never finished cannot pile up behind one link or one sender."""
    with rt.sessions.begin() as s:
        held = s.get(UploadLink, link.id, with_for_update=True)  # creations at once are counted one by one
        assert held is not None
        unfinished = _unfinished()
        sending = s.scalar(select(func.count()).select_from(ResumableUpload)
                           .where(ResumableUpload.link_id == link.id, *unfinished)) or 0
        if held.uses + sending >= held.max_uploads:
            raise LinkUsedUp(f"this upload link takes {held.max_uploads} video(s) and has {held.uses} sent and "
                             f"{sending} being sent: carry on with the one being sent, or ask for a new link")
        mine = s.scalar(select(func.count()).select_from(ResumableUpload)
                        .where(ResumableUpload.client == client, *unfinished)) or 0
        if mine >= rt.settings.uploads_in_progress_per_address:
            raise TooManyRequests(f"{mine} unfinished uploads from this address already: finish or stop one first",
                                  retry_after_s=60)
        s.add(ResumableUpload(id=upload_id, link_id=link.id, length=length, offset=0, name=name, sender=sender,
                              client=client[:64], touched_at=utcnow()))
        part = upload_part(rt, upload_id)
        part.parent.mkdir(parents=True, exist_ok=True)
        part.touch()


def touch_upload(rt: Runtime, upload_id: str) -> None:
    """A piece of the upload begins to arrive: it is not idle (the sweep leaves it be)."""
    with rt.sessions.begin() as s:
        s.execute(update(ResumableUpload).where(ResumableUpload.id == upload_id).values(touched_at=utcnow()))


def drop_upload(rt: Runtime, upload_id: str, why: str) -> None:
    """An upload refused before it could finish (its first bytes are not a video): removed now, so
    that it does not hold its link's place until it would have expired."""
    with rt.sessions.begin() as s:
        s.execute(update(ResumableUpload).where(ResumableUpload.id == upload_id, ResumableUpload.finished_at.is_(None))
                  .values(abandoned_at=utcnow(), error=why))
    upload_part(rt, upload_id).unlink(missing_ok=True)


def expire_uploads(rt: Runtime) -> int:
    """Remove unfinished resumable uploads that had no piece for ``upload_idle_hours`` or whose link
    has ended (expired, or its incident closed): each row marked abandoned, its received part
    deleted, the removal audited. Then this process's leftover parts (of uploads finished, removed
    or unknown) are deleted too. How many uploads were removed."""
    now = utcnow()
    idle = now - timedelta(hours=rt.settings.upload_idle_hours)
    with rt.sessions() as s:
        due = s.execute(select(ResumableUpload.id, ResumableUpload.link_id, ResumableUpload.offset,
                               UploadLink.incident_id, UploadLink.expires_at)
                        .join(UploadLink, UploadLink.id == ResumableUpload.link_id)
                        .where(*_unfinished(),
                               or_(func.coalesce(ResumableUpload.touched_at, ResumableUpload.created_at) < idle,
                                   UploadLink.expires_at <= now))).all()
    removed = 0
    for upload_id, link_id, received, incident_id, link_ends in due:
        with rt.sessions.begin() as s:
            if not rows_changed(s.execute(update(ResumableUpload).where(
                    ResumableUpload.id == upload_id, *_unfinished()).values(abandoned_at=now))):
                continue  # finished or removed meanwhile
            why = "its link ended" if link_ends <= now else f"no piece for {rt.settings.upload_idle_hours:g} hours"
            append_audit(s, Actor("uploads", "system"), "upload.abandoned", f"incident:{incident_id}",
                         reason=why, detail={"upload": upload_id, "link": link_id, "bytes": received})
        upload_part(rt, upload_id).unlink(missing_ok=True)
        removed += 1
    _leftover_parts(rt)
    return removed


def _leftover_parts(rt: Runtime) -> None:
    """Parts on this process's disk whose upload is no longer being received."""
    parts = {p.name[4:]: p for p in (rt.store.root / "tmp").glob("tus-*")}
    if not parts:
        return
    with rt.sessions() as s:
        live = set(s.scalars(select(ResumableUpload.id).where(ResumableUpload.id.in_(parts), *_unfinished())))
    for upload_id, part in parts.items():
        try:
            if upload_id not in live and time.time() - part.stat().st_mtime > 60:  # not one being created now
                part.unlink(missing_ok=True)
        except FileNotFoundError:  # finished or removed meanwhile
            continue


class UnknownLink(NotFound):
    code = "unknown_link"


class LinkExpired(Gone):
    code = "link_expired"


class LinkUsedUp(Gone):
    code = "link_used_up"


def check_link(rt: Runtime, token: str) -> tuple[UploadLink, Incident]:
    """The link and its incident; UnknownLink (forged), LinkExpired, LinkUsedUp."""
    with rt.sessions() as s:
        link = s.scalar(select(UploadLink).where(UploadLink.token_sha256 == secret_digest(token)))
        if link is None:
            raise UnknownLink("this upload link is not valid")
        if link.expires_at < utcnow():
            raise LinkExpired("this upload link has expired: ask the police for a new one")
        if link.uses >= link.max_uploads:
            raise LinkUsedUp(f"this upload link has been used its {link.max_uploads} time(s)")
        incident = s.get(Incident, link.incident_id)
        assert incident is not None
        return link, incident


def use_link(rt: Runtime, link: UploadLink, besides: str | None = None) -> None:
    """Count one upload on the link (compare-and-set: two last uploads at once cannot both pass),
    within what its unfinished resumable uploads hold (``besides``: the one finishing now)."""
    held = select(func.count()).select_from(ResumableUpload).where(
        ResumableUpload.link_id == link.id, *_unfinished(), ResumableUpload.id != (besides or "")).scalar_subquery()
    with rt.sessions.begin() as s:
        res = s.execute(update(UploadLink).where(UploadLink.id == link.id, UploadLink.uses + held < UploadLink.max_uploads,
                                                 UploadLink.expires_at > utcnow())
                        .values(uses=UploadLink.uses + 1).execution_options(synchronize_session=False))
        if rows_changed(res) != 1:
            if link.expires_at <= utcnow():
                raise LinkExpired("this upload link has expired: ask the police for a new one")
            raise LinkUsedUp(f"this upload link has been used its {link.max_uploads} time(s)")


def unuse_link(rt: Runtime, link: UploadLink) -> None:
    with rt.sessions.begin() as s:
        s.execute(update(UploadLink).where(UploadLink.id == link.id).values(uses=UploadLink.uses - 1)
                  .execution_options(synchronize_session=False))
