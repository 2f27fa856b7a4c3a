"""Investigators' searches over everything processed. Every search needs a reason; the reason, the
query and the number of results go to the audit log. Results are candidates, never identities.

Faces: a probe photo's face against every face track (the HNSW index of ``evidence.faceindex``
finds the nearest templates; each is then measured exactly against the track's stored embeddings),
ranked closest first, at most ``search_max_distance`` away; filtered by when the footage was
received, its incident and where it was filmed (phone location metadata).

Plates: camera reads and plate sightings in footage, by registration with ``?`` (one character) and
``*`` (any run) wildcards, confusable-aware (O/0, I/1, B/8, S/5, Z/2, G/6 match alike), filtered by
time (a read's time; for footage, when it was received), camera and place. A pattern's literal
start, or its literal end through the reversed key, is an index range, so ``*CDE`` does not read
every row."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute

from evidence.anpr_access import check_search, old_before
from evidence.audit import Actor, audit_read, utc_naive
from evidence.db.tables import AnprRead, AuditEntry, Evidence, FaceTrackRow, PlateSightingRow
from evidence.images import decode_rgb
from evidence.runtime import Runtime
from evidence.states import EvidenceState
from evidence.errors import InvalidRequest, ModelMismatch, NotFound
from evidence.utc import as_utc, utcnow
from evidence.faceindex import embedding_rows, other_embedder_tracks
from pipeline.faces import embed_reference
from pipeline.facesearch import probe_distances
from pipeline.geo import GeoBox
from pipeline.plates import KeyQuery, key_query, prefix_upper_bound

__all__ = ["FaceFilters", "MAX_RESULTS", "appearance_view", "is_current", "not_compared", "search_embedding", "search_faces",
           "search_plates", "shown_again"]

MAX_RESULTS = 1000
OVERFETCH = 10  # index hits fetched per result wanted: room for filters and stale entries


def _need_reason(reason: str) -> None:
    if not reason.strip():
        raise InvalidRequest("a search needs a reason (it is recorded in the audit log)")


@dataclass(frozen=True)
class FaceFilters:
    since: datetime | None = None
    until: datetime | None = None
    incident_ids: tuple[int, ...] = ()
    box: GeoBox | None = None

    def keeps(self, ev: Evidence) -> bool:
        received = utc_naive(ev.received_at)
        return ((self.since is None or received >= utc_naive(self.since))
                and (self.until is None or received <= utc_naive(self.until))
                and (not self.incident_ids or ev.incident_id in self.incident_ids)
                and (self.box is None or self.box.contains(ev.media.get("location"))))

    def record(self) -> dict[str, Any]:
        return {"since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
                "incidents": list(self.incident_ids), "box": self.box.__dict__ if self.box else None}


def appearance_view(row: FaceTrackRow, ev: Evidence, distance: float) -> dict[str, Any]:
    return {"track_id": row.id, "evidence_id": ev.id, "incident_id": ev.incident_id,
            "evidence_name": ev.original_name, "evidence_sha256": ev.sha256, "track": row.track_index,
            "t_s": round(row.best_t_s, 2), "first_t_s": round(row.first_t_s, 2), "last_t_s": round(row.last_t_s, 2),
            "recorded_at": ev.media.get("creation_time"), "location": ev.media.get("location"),
            "distance": round(distance, 4), "crop_url": f"/face-tracks/{row.id}/crop" if row.crop_id else None}


def is_current(row: FaceTrackRow, ev: Evidence) -> bool:
    # Keyframe quick-pass tracks stand in only until the evidence's full analysis is done.
    return row.segment >= 0 or ev.state != EvidenceState.DONE


def search_faces(rt: Runtime, photo: bytes, photo_name: str, reason: str, actor: Actor,
                 filters: FaceFilters = FaceFilters(), limit: int = 50) -> dict[str, Any]:
    """Appearances of the probe photo's one face across all processed footage, closest first.
    Raises InvalidRequest without a reason, InvalidReference unless the photo shows exactly one face."""
    _need_reason(reason)
    m = rt.faces
    probe = embed_reference(decode_rgb(photo, photo_name), m.reference_detector, m.aligner, m.embedder, photo_name)
    stored = rt.store.put_bytes(photo, "probes", ".jpg")
    return search_embedding(rt, probe, {"probe_sha256": stored.sha256, "probe_name": photo_name,
                                        "probe_path": rt.store.relative(stored.path)}, reason, actor, filters, limit)


def search_embedding(rt: Runtime, probe: np.ndarray, probe_record: dict[str, Any], reason: str, actor: Actor,
                     filters: FaceFilters = FaceFilters(), limit: int = 50) -> dict[str, Any]:
    """``search_faces`` for a probe already embedded ((d,) float32, by this process's embedder); ``probe_record`` says what
    it was (audited)."""
    _need_reason(reason)
    max_distance = rt.analysis.search_max_distance
    embedder = rt.faces.profile
    index = rt.face_index
    hits: list[tuple[int, float]] = []
    if not filters.incident_ids:
        index.catch_up(rt.sessions)
        hits = index.search(probe, min(max(limit * OVERFETCH, 200), 10_000))
    out: list[tuple[float, dict[str, Any]]] = []
    with rt.sessions() as s:
        # Only the process's embedder's vectors are comparable with its probe.
        tracks = select(FaceTrackRow, Evidence).join(Evidence, Evidence.id == FaceTrackRow.evidence_id).where(
            FaceTrackRow.embedder == embedder.name)
        in_incidents = select(Evidence.id).where(Evidence.incident_id.in_(filters.incident_ids)) \
            if filters.incident_ids else None
        others = other_embedder_tracks(s, embedder.name, in_incidents)
        if filters.incident_ids:  # a few incidents: measure every one of their tracks, no index needed
            rows = s.execute(tracks.where(Evidence.incident_id.in_(filters.incident_ids))).all()
        else:
            # A template (the mean) is never farther from the probe than the track's mean distance,
            # so hits past the limit on templates cannot be within it exactly.
            ids = [i for i, template_d in hits if template_d <= max_distance]
            rows = s.execute(tracks.where(FaceTrackRow.id.in_(ids))).all() if ids else []
        kept = [(row, ev) for row, ev in rows if is_current(row, ev) and filters.keeps(ev)]
        vectors = [embedding_rows(r.embeddings, embedder.dimension) for r, _ in kept]
        for (row, ev), d in zip(kept, probe_distances(probe, vectors), strict=True):
            if d <= max_distance:
                out.append((d, appearance_view(row, ev, d)))
        out.sort(key=lambda x: x[0])
    results = [{"rank": n, **view} for n, (_, view) in enumerate(out[:limit], start=1)]
    model = embedder.provenance
    # What was shown is recorded with the search: the page shows it again from here (Back, a link)
    # without searching again, and the log says exactly what the searcher saw.
    search_id = audit_read(rt.sessions, actor, "search.faces", f"probe:{probe_record.get('probe_sha256', 'embedding')}",
                           reason=reason, detail={**probe_record, **filters.record(), "max_distance": max_distance,
                                                  "model": model, "embedder": embedder.name, "results": len(results),
                                                  "not_compared": others,
                                                  "shown": [[r["track_id"], round(r["distance"], 4)] for r in results]})
    return {**probe_record, "search_id": search_id, "max_distance": max_distance, "model": model,
            "embedder": embedder.name, "indexed": index.count, "results": results, **not_compared(others, embedder.name)}


def shown_again(rt: Runtime, search_id: int, actor: Actor, within: timedelta = timedelta(hours=12)) -> dict[str, Any]:
    """A face search this person made (its audit entry), its results as they stand now (a track
    deleted since is left out), without searching again; NotFound for anyone else's or an old one."""
    with rt.sessions() as s:
        entry = s.get(AuditEntry, search_id)
        if (entry is None or entry.action != "search.faces" or entry.actor != actor.name
                or as_utc(entry.at) < utcnow() - within):
            raise NotFound("This search is not one of yours from the last 12 hours: search again")
        d = dict(entry.detail or {})
        shown = {int(t): float(dist) for t, dist in d.get("shown", [])}
        rows = s.execute(select(FaceTrackRow, Evidence).join(Evidence, Evidence.id == FaceTrackRow.evidence_id)
                         .where(FaceTrackRow.id.in_(shown))).all() if shown else []
        found = {row.id: appearance_view(row, ev, shown[row.id]) for row, ev in rows}
    results = [{"rank": n, **found[t]} for n, t in enumerate((t for t in shown if t in found), start=1)]
    return {**d, "search_id": search_id, "reason": entry.reason, "results": results,
            **not_compared(int(d.get("not_compared") or 0), str(d.get("embedder", "")))}


def not_compared(n: int, embedder: str) -> dict[str, Any]:
    """What a face search or grouping says of the tracks another embedder made (never compared)."""
    if not n:
        return {"not_compared": 0}
    return {"not_compared": n, "not_compared_reason": f"{n} face track(s) were made by another embedder than "
            f"this process's ({embedder}) and were not searched: {ModelMismatch.REMEDY}"}


def _key_filter(key: InstrumentedAttribute[str], key_rev: InstrumentedAttribute[str | None],
                plan: KeyQuery) -> tuple[ColumnElement[bool], ...]:
    if plan.exact is not None:
        return (key == plan.exact,)
    conds: list[ColumnElement[bool]] = [key.like(plan.like)]
    if plan.prefix:
        col = key_rev if plan.reverse else key
        conds += [col >= plan.prefix, col < prefix_upper_bound(plan.prefix)]
    return tuple(conds)


def _first(rows: Iterable[Any], keep: Any, n: int) -> Iterator[Any]:
    for row in rows:
        if n <= 0:
            return
        if keep(row):
            n -= 1
            yield row


def _read_view(r: AnprRead) -> dict[str, Any]:
    return {"source": "camera", "read_id": r.id, "vrm": r.vrm, "vrm_read": r.vrm_read,
            "camera_id": r.camera_id, "at": r.read_at.isoformat(), "confidence": r.confidence,
            "location": r.location, "direction": r.direction,
            "plate_image_url": f"/anpr/reads/{r.id}/plate" if r.plate_image else None,
            "overview_image_url": f"/anpr/reads/{r.id}/overview" if r.overview_image else None}


def _footage_view(p: PlateSightingRow, ev: Evidence) -> dict[str, Any]:
    return {"source": "footage", "sighting_id": p.id, "vrm": p.vrm, "evidence_id": ev.id,
            "incident_id": ev.incident_id, "evidence_name": ev.original_name,
            "t_s": p.best_t_s, "first_t_s": p.first_t_s, "last_t_s": p.last_t_s,
            "confidence": p.confidence, "review_state": p.review_state, "location": ev.media.get("location"),
            "plate_image_url": f"/plate-sightings/{p.id}/image?kind=plate",
            "overview_image_url": f"/plate-sightings/{p.id}/image?kind=overview"}


def _timed(q: Any, col: Any, since: datetime | None, until: datetime | None) -> Any:
    """``q`` (a select) limited to ``since`` <= ``col`` <= ``until``."""
    if since is not None:
        q = q.where(col >= since)
    if until is not None:
        q = q.where(col <= until)
    return q


def search_plates(rt: Runtime, query: str, reason: str, actor: Actor, since: datetime | None = None,
                  until: datetime | None = None, camera: str | None = None, box: GeoBox | None = None,
                  limit: int = MAX_RESULTS, access: int | None = None) -> tuple[list[dict[str, Any]], datetime | None]:
    """(camera reads (newest first), then sightings in footage (by evidence, time), whose confusion
    key matches ``query``; the earliest read time searched). Camera reads past the access limit
    (EVIDENCE_ANPR_REASON_AFTER_DAYS) are searched only with an approved ``access`` request for
    this query (``evidence.anpr_access``); without ``since`` and without one, reads are searched
    from the limit on. Raises InvalidRequest without a reason or a usable query, ApprovalRequired
    for a ``since`` before the limit without an approval."""
    _need_reason(reason)
    plan = key_query(query)
    if not plan.like.strip("%_"):
        raise InvalidRequest(f"Give at least one letter or number of the registration: {query!r} on its own would "
                             "match every plate")
    out: list[dict[str, Any]] = []
    limit_at = old_before(rt)
    with rt.sessions() as s:
        reads_since = since
        if access is not None or (since is not None and since < limit_at):
            approval: int | None = check_search(s, actor, access, query).id
        else:
            approval, reads_since = None, max(since or limit_at, limit_at)
        reads = _timed(select(AnprRead).where(*_key_filter(AnprRead.vrm_key, AnprRead.vrm_key_rev, plan)),
                       AnprRead.read_at, reads_since, until)
        if camera is not None:
            reads = reads.where(AnprRead.camera_id == camera)
        reads = reads.order_by(AnprRead.read_at.desc())
        if box is None:
            reads = reads.limit(limit)
        rows = s.scalars(reads.execution_options(yield_per=500))
        out += [_read_view(r) for r in _first(rows, lambda r: box is None or box.contains(r.location), limit)]
        if camera is None:  # footage has no camera id
            found = _timed(select(PlateSightingRow, Evidence).join(Evidence, Evidence.id == PlateSightingRow.evidence_id)
                           .where(*_key_filter(PlateSightingRow.vrm_key, PlateSightingRow.vrm_key_rev, plan)),
                           Evidence.received_at, since, until)
            pairs = s.execute(found.order_by(PlateSightingRow.evidence_id, PlateSightingRow.first_t_s)
                              .execution_options(yield_per=500))
            out += [_footage_view(p, ev) for p, ev in _first(
                pairs, lambda r: box is None or box.contains(r[1].media.get("location")), limit - len(out))]
    audit_read(rt.sessions, actor, "search.plates", f"plates:{query}", reason=reason,
               detail={"query": query, "pattern": plan.like, "since": since.isoformat() if since else None,
                       "until": until.isoformat() if until else None, "camera": camera,
                       "box": box.__dict__ if box else None, "results": len(out), "access": approval,
                       "reads_since": reads_since.isoformat() if reads_since else None})
    return out, reads_since
