"""ANPR: camera reads stored durably, checked against the hotlist (confusion-aware), and hits put on
the linked incident's live feed for an operator to verify against the image."""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from evidence.audit import Actor, append_audit
from evidence.db import rows_changed
from evidence.db.tables import AnprRead, HotlistEntry, Incident, PlateSightingRow
from evidence.eventkinds import EventKind
from evidence.utc import utcnow
from evidence.events import add_event
from evidence.runtime import Runtime
from evidence.utc import as_utc
from evidence.errors import EvidenceError, InvalidRequest, NotFound, TooLarge
from evidence.cameras import heard
from pipeline.plates import confusion_key, normalise, parse_plate
from pipeline.types import PlateRead

__all__ = ["BadRead", "ReadOutcome", "add_hotlist", "hotlist", "purge_reads", "remove_hotlist", "sighting_hits",
           "store_reads"]

log = logging.getLogger(__name__)
MAX_IMAGE_BYTES = 2 * 1024 * 1024
DIRECTIONS = {"N", "NE", "E", "SE", "S", "SW", "W", "NW", "TOWARDS", "AWAY", "UNKNOWN"}


class BadRead(EvidenceError):
    code = "invalid_read"


class UnknownCamera(EvidenceError):
    code = "unknown_camera"


@dataclass(frozen=True)
class ReadOutcome:
    read_id: int | None
    duplicate: bool
    hits: list[dict[str, Any]]


def _image(rt: Runtime, b64: str | None, what: str, kept: dict[str, bytes]) -> str | None:
    if not b64:
        return None
    if len(b64) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise TooLarge(f"{what} over {MAX_IMAGE_BYTES} bytes")
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRead(f"{what} is not valid base64") from exc
    if not (data.startswith(b"\xff\xd8") or data.startswith(b"\x89PNG")):
        raise BadRead(f"{what} is not a JPEG or PNG image")
    path = rt.store.relative(rt.store.put_bytes(data, "anpr", ".jpg" if data[:2] == b"\xff\xd8" else ".png").path)
    kept[path] = data  # stored again inside the transaction if a purge removed it meanwhile
    return path


UK_COUNTRIES = {"", "gb", "uk", "gbr", "ni", "eu"}  # "eu": a European camera's default, not a country


def _check(read: dict[str, Any], actor: Actor) -> tuple[datetime, str, float, str | None]:
    camera = str(read.get("camera_id"))
    if camera != actor.name and not camera.startswith(actor.name + "/"):
        raise UnknownCamera(f"camera {camera[:40]!r} is not this key's camera ({actor.name}) "
                            f"or one of its streams ({actor.name}/...)")
    if camera != actor.name and camera[len(actor.name) + 1:] not in actor.streams:
        raise UnknownCamera(f"stream {camera[len(actor.name) + 1:][:40]!r} is not registered for {actor.name}: an "
                            "administrator registers an agent's streams with its key")
    try:
        at = as_utc(read["timestamp"])
    except ValueError as exc:
        raise BadRead(f"timestamp: {exc}") from exc
    now = utcnow()
    if at > now + timedelta(minutes=5) or at < now - timedelta(days=366):
        raise BadRead(f"impossible timestamp {at.isoformat()} (the camera's clock?)")
    vrm = normalise(read["vrm"])
    if not 1 <= len(vrm) <= 10:
        raise BadRead(f"vrm {read['vrm']!r} is not a registration (1-10 letters and digits)")
    direction = read.get("direction")
    if direction is not None and direction.upper() not in DIRECTIONS:
        raise BadRead(f"direction {direction!r}: one of {', '.join(sorted(DIRECTIONS))}")
    return at, vrm, float(read["confidence"]), direction.upper() if direction else None


def _parse(vrm_read: str, country: str | None) -> PlateRead:
    """The UK grammar for a UK plate (or one of no stated country); a plate the camera placed
    elsewhere is kept as read."""
    code = (country or "").strip().lower()
    if code in UK_COUNTRIES or code.startswith(("gb-", "uk-")):
        return parse_plate(vrm_read)
    return PlateRead(vrm_read, vrm_read, "foreign", False, 0)


def _alternatives(read: dict[str, Any], vrm: str) -> list[list[Any]] | None:
    alts: list[list[Any]] = []
    for alt in read.get("alternatives") or []:
        plate = normalise(alt["vrm"])
        if plate and plate != vrm and plate not in {a[0] for a in alts}:
            alts.append([plate, round(float(alt["confidence"]), 4)])
    return alts or None


def store_reads(rt: Runtime, reads: list[dict[str, Any]], actor: Actor) -> list[ReadOutcome | EvidenceError]:
    """A camera's batch in one transaction (one commit: what makes thousands of reads a second
    possible): one multi-row insert, duplicates skipped. Each read is checked against the hotlist
    on its registration and on the camera's alternative reads. Returns, per read, its outcome or
    the error that refused it."""
    prepared: list[tuple[int, dict[str, Any]] | EvidenceError] = []
    images: dict[str, bytes] = {}
    for read in reads:
        try:
            at, vrm_read, confidence, direction = _check(read, actor)
            parsed = _parse(vrm_read, read.get("country"))
            prepared.append((0, {"camera_id": str(read["camera_id"]), "read_at": at, "vrm_read": vrm_read,
                                 "vrm": parsed.plate, "vrm_key": confusion_key(parsed.plate),
                                 "vrm_key_rev": confusion_key(parsed.plate)[::-1], "valid": parsed.valid,
                                 "format": parsed.format, "alternatives": _alternatives(read, parsed.plate),
                                 "confidence": confidence, "location": read.get("location"), "direction": direction,
                                 "plate_image": _image(rt, read.get("plate_image"), "plate_image", images),
                                 "overview_image": _image(rt, read.get("overview_image"), "overview_image",
                                                          images)}))
        except EvidenceError as exc:
            prepared.append(exc)
    out: list[ReadOutcome | EvidenceError] = []
    rows = [p[1] for p in prepared if not isinstance(p, EvidenceError)]
    inserted: dict[tuple[str, str, datetime], int] = {}
    with rt.sessions.begin() as s:
        for path, data in images.items():  # the same bytes as an old read's, purged since they were stored
            if not rt.store.has(path):  # the store itself (a bucket), not a cached copy
                rt.store.put_bytes(data, "anpr", path[-4:])
        if rows:
            # One INSERT for the batch (Core, not the ORM's bulk path: half the cost); duplicates
            # (same camera, VRM, time) are skipped by the unique constraint, and RETURNING says
            # which rows are new.
            dialect = s.get_bind().dialect.name
            insert_ = sqlite_insert if dialect == "sqlite" else pg_insert
            table = cast(Table, AnprRead.__table__)
            stmt = insert_(table).on_conflict_do_nothing().returning(
                table.c.id, table.c.camera_id, table.c.vrm_read, table.c.read_at)
            received = utcnow()
            for rid, camera, vrm_read, at in s.connection().execute(stmt, [{"received_at": received, **r}
                                                                           for r in rows]):
                inserted[(camera, vrm_read, at)] = rid
            hot: dict[str, list[HotlistEntry]] = {}
            keys = {k for r in rows for k in _keys(r)}
            if s.connection().execute(select(HotlistEntry.__table__.c.id).where(
                    HotlistEntry.__table__.c.vrm_key.in_(keys)).limit(1)).first() is not None:
                for entry in _active(s, keys):  # rarely: only when a key is on the hotlist at all
                    hot.setdefault(entry.vrm_key, []).append(entry)
            heard(s, {r["camera_id"] for r in rows})
        for p in prepared:
            if isinstance(p, EvidenceError):
                out.append(p)
                continue
            r = p[1]
            key = (r["camera_id"], r["vrm_read"], r["read_at"])
            if key not in inserted:  # skipped by the unique constraint: stored before
                out.append(ReadOutcome(None, True, []))
                continue
            rid = inserted.pop(key)
            entries = list({e.id: e for k in _keys(r) for e in hot.get(k, [])}.values())
            row = AnprRead(id=rid, **r) if entries else None  # the hit's view only
            out.append(ReadOutcome(rid, False, [_hit(s, row, e) for e in entries] if row else []))
    return out


def _matched(row: AnprRead, entry: HotlistEntry) -> dict[str, Any]:
    """Which of the read's registrations matched the entry, and how sure the camera was of it."""
    if entry.vrm_key == row.vrm_key:
        return {"vrm": row.vrm, "confidence": row.confidence}
    for vrm, confidence in row.alternatives or ():
        if confusion_key(vrm) == entry.vrm_key:
            return {"vrm": vrm, "confidence": confidence}
    return {"vrm": row.vrm, "confidence": row.confidence}


def _keys(r: dict[str, Any]) -> list[str]:
    """The confusion keys a read is matched on: its registration's and its alternatives'."""
    return [r["vrm_key"], *(confusion_key(a[0]) for a in r["alternatives"] or ())]


def _active(s: Session, keys: set[str]) -> list[HotlistEntry]:
    """Hotlist entries in force whose confusion key is one of ``keys``."""
    now = utcnow()
    return list(s.scalars(select(HotlistEntry).where(
        HotlistEntry.vrm_key.in_(keys), HotlistEntry.removed_at.is_(None),
        or_(HotlistEntry.expires_at.is_(None), HotlistEntry.expires_at > now))))


def sighting_hits(s: Session, row: PlateSightingRow, incident_id: int | None) -> list[dict[str, Any]]:
    """A plate sighting in footage checked against the hotlist: its registration and the
    alternatives it was also read as. Each hit goes on the hotlist entry's incident (and on the
    footage's own incident) as an ``anpr.hit`` to verify against the crop, and to the audit log."""
    keys = {row.vrm_key} | {confusion_key(a[0]) for a in row.alternatives}
    hits = []
    for entry in _active(s, keys):
        hit = {"source": "footage", "sighting_id": row.id, "evidence_id": row.evidence_id, "t_s": row.best_t_s,
               **_matched_entry(entry, row.vrm, row.vrm_key, row.confidence),
               "plate_image_url": f"/plate-sightings/{row.id}/image?kind=plate",
               "overview_image_url": f"/plate-sightings/{row.id}/image?kind=overview"}
        for target in {entry.incident_id, incident_id} - {None}:
            add_event(s, target, EventKind.ANPR_HIT, hit)
        append_audit(s, Actor("anpr", "system"), EventKind.ANPR_HIT, f"hotlist:{entry.id}",
                     detail={"sighting_id": row.id, "evidence_id": row.evidence_id, "vrm": row.vrm})
        hits.append(hit)
    return hits


def _matched_entry(entry: HotlistEntry, vrm: str, vrm_key: str, confidence: float | None) -> dict[str, Any]:
    """What an ``anpr.hit`` says of the hotlist entry a read (or a sighting in footage) matched."""
    return {"vrm": vrm, "hotlist_id": entry.id, "hotlist_vrm": entry.vrm, "reason": entry.reason,
            "category": entry.category, "confidence": confidence, "on_alternative_read": entry.vrm_key != vrm_key,
            "exact": vrm == entry.vrm, "verify": "a potential match: check the read against the image before acting"}


def _hit(s: Session, row: AnprRead, entry: HotlistEntry) -> dict[str, Any]:
    hit = {"read_id": row.id, "camera_id": row.camera_id, "read_at": row.read_at.isoformat(),
           "vrm_read": row.vrm_read, **_matched_entry(entry, row.vrm, row.vrm_key, row.confidence),
           "location": row.location, "direction": row.direction, "format": row.format,
           "matched_read": _matched(row, entry),
           "plate_image_url": f"/anpr/reads/{row.id}/plate" if row.plate_image else None,
           "overview_image_url": f"/anpr/reads/{row.id}/overview" if row.overview_image else None}
    add_event(s, entry.incident_id, EventKind.ANPR_HIT, hit)
    append_audit(s, Actor("anpr", "system"), EventKind.ANPR_HIT, f"hotlist:{entry.id}",
                 detail={"read_id": row.id, "camera": row.camera_id, "vrm_read": row.vrm_read})
    return hit


def add_hotlist(rt: Runtime, vrm: str, reason: str, category: str, incident_id: int | None,
                expires_at: datetime | None, actor: Actor) -> HotlistEntry:
    plate = parse_plate(vrm).plate
    expires_at = as_utc(expires_at) if expires_at is not None else None
    if not plate:
        raise InvalidRequest(f"{vrm!r} is not a registration")
    with rt.sessions.begin() as s:
        if incident_id is not None and s.get(Incident, incident_id) is None:
            raise NotFound(f"incident {incident_id} not found")
        entry = HotlistEntry(vrm=plate, vrm_key=confusion_key(plate), reason=reason, category=category,
                             incident_id=incident_id, expires_at=expires_at, added_by=actor.name)
        s.add(entry)
        s.flush()
        append_audit(s, actor, "hotlist.add", f"hotlist:{entry.id}", reason=reason,
                     detail={"vrm": plate, "category": category, "incident_id": incident_id})
        return entry


def hotlist(s: Session) -> list[HotlistEntry]:
    return list(s.scalars(select(HotlistEntry).where(HotlistEntry.removed_at.is_(None)).order_by(HotlistEntry.id)))


def remove_hotlist(rt: Runtime, entry_id: int, actor: Actor, reason: str) -> None:
    with rt.sessions.begin() as s:
        entry = s.get(HotlistEntry, entry_id)
        if entry is None or entry.removed_at is not None:
            raise NotFound(f"hotlist entry {entry_id} not found")
        entry.removed_at = utcnow()
        append_audit(s, actor, "hotlist.remove", f"hotlist:{entry_id}", reason=reason, detail={"vrm": entry.vrm})


def purge_reads(rt: Runtime, actor: Actor, now: datetime | None = None) -> int:
    """Delete camera reads older than the retention period (EVIDENCE_ANPR_RETENTION_DAYS) with their
    plate and overview images, and record how many in the audit log. An image is deleted once no
    remaining read refers to it (the store is content-addressed), after the deletion has committed."""
    cutoff = (now or utcnow()) - timedelta(days=rt.settings.anpr_retention_days)
    with rt.sessions.begin() as s:
        old = AnprRead.read_at < cutoff
        images = {p for pair in s.execute(select(AnprRead.plate_image, AnprRead.overview_image).where(old))
                  for p in pair if p}
        n = rows_changed(s.execute(delete(AnprRead).where(old).execution_options(synchronize_session=False)))
        listed = sorted(images)
        for k in range(0, len(listed), 500):  # still referred to by a read kept: kept
            chunk = listed[k:k + 500]
            images -= {p for pair in s.execute(select(AnprRead.plate_image, AnprRead.overview_image).where(
                or_(AnprRead.plate_image.in_(chunk), AnprRead.overview_image.in_(chunk)))) for p in pair if p}
        # Deleted while the write lock is held: a read stored meanwhile with the same bytes finds
        # its file missing inside its own transaction and stores it again.
        # A failure (the store unreachable) raises: the whole purge rolls back and its job is retried,
        # so no image outlives its reads unreferenced (an image already deleted belongs to reads
        # that are past their retention too, and the retry deletes them).
        deleted = rt.store.delete_many(sorted(images))  # an S3 store: 1,000 a request
        append_audit(s, actor, "anpr.retention", "anpr_reads",
                     detail={"deleted": n, "images_deleted": deleted, "before": cutoff.isoformat()})
    return int(n or 0)
