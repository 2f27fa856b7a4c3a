"""Unknown faces: face tracks that match no watchlist subject, grouped into people across an
incident's evidence ("the same unknown person appears in these three clips"), and each group
looked for in every other incident through the face index. Groups are suggestions for a person to
check, never identities; the grouping is computed when asked, so it always reflects what is stored
(a candidate confirmed since takes its track out)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select

from evidence.audit import Actor, audit_read
from evidence.db.tables import CandidateRow, Evidence, FaceTrackRow, Incident
from evidence.runtime import Runtime
from evidence.states import ReviewState
from evidence.faceindex import embedding_rows, other_embedder_tracks
from evidence.search import appearance_view, is_current, not_compared
from evidence.errors import Conflict, NotFound
from pipeline.facesearch import cluster_tracks, pair_distance, track_template

__all__ = ["incident_people"]

MAX_TRACKS = 2000  # clustering is quadratic in tracks; an incident past this is refused, not slowed to a crawl
ELSEWHERE_K = 100


def _tracks(rt: Runtime, incident_id: int | None = None, exclude_incident: int | None = None,
            track_ids: list[int] | None = None, unknown: bool = True) -> list[tuple[FaceTrackRow, Evidence]]:
    """Current face tracks with their evidence; ``unknown``: only those no watchlist candidate
    (pending or confirmed) is attached to."""
    q = select(FaceTrackRow, Evidence).join(Evidence, Evidence.id == FaceTrackRow.evidence_id).where(
        FaceTrackRow.embedder == rt.faces.profile.name)  # another model's vectors are never compared
    if unknown:
        matched = select(CandidateRow.track_id).where(CandidateRow.review_state.in_((ReviewState.PENDING, ReviewState.CONFIRMED)))
        q = q.where(FaceTrackRow.id.not_in(matched))
    if incident_id is not None:
        q = q.where(Evidence.incident_id == incident_id)
    if exclude_incident is not None:
        q = q.where((Evidence.incident_id != exclude_incident) | Evidence.incident_id.is_(None))
    if track_ids is not None:
        q = q.where(FaceTrackRow.id.in_(track_ids))
    with rt.sessions() as s:
        rows = s.execute(q.order_by(Evidence.id, FaceTrackRow.first_t_s)).all()
    return [(r, ev) for r, ev in rows if is_current(r, ev)]


def _overlapping(rows: list[tuple[FaceTrackRow, Evidence]]) -> list[tuple[int, int]]:
    """Pairs of tracks on screen together in one clip: two different people."""
    pairs = []
    for i, (a, ea) in enumerate(rows):
        for j in range(i + 1, len(rows)):
            b, eb = rows[j]
            if ea.id == eb.id and a.first_t_s <= b.last_t_s and b.first_t_s <= a.last_t_s:
                pairs.append((i, j))
    return pairs


def _elsewhere(rt: Runtime, incident_id: int, embs: np.ndarray, threshold: float) -> list[dict[str, Any]]:
    index = rt.face_index
    hits = [i for i, d in index.search(track_template(embs), ELSEWHERE_K) if d <= threshold]
    found = []
    # Elsewhere every track counts: the same face matched to a watchlist subject there is a lead.
    for row, ev in _tracks(rt, exclude_incident=incident_id, track_ids=hits, unknown=False) if hits else []:
        d = pair_distance(embs, embedding_rows(row.embeddings, rt.faces.profile.dimension))
        if d <= threshold:
            found.append((d, appearance_view(row, ev, d)))
    return [view for _, view in sorted(found, key=lambda x: x[0])]


def incident_people(rt: Runtime, incident_id: int, actor: Actor) -> dict[str, Any]:
    """The incident's unknown faces grouped into people, most clips first, each with its
    appearances here and in other incidents (``elsewhere``). Audited."""
    threshold = rt.analysis.people_threshold
    with rt.sessions() as s:
        if s.get(Incident, incident_id) is None:
            raise NotFound(f"incident {incident_id} not found")
        others = other_embedder_tracks(s, rt.faces.profile.name,
                                       select(Evidence.id).where(Evidence.incident_id == incident_id))
    rows = _tracks(rt, incident_id)
    if len(rows) > MAX_TRACKS:
        raise Conflict(f"incident {incident_id} has {len(rows)} unknown face tracks; grouping is limited to "
                       f"{MAX_TRACKS} (search by photo instead)")
    embs = [embedding_rows(r.embeddings, rt.faces.profile.dimension) for r, _ in rows]
    labels = cluster_tracks(embs, threshold, _overlapping(rows))
    rt.face_index.catch_up(rt.sessions)
    people: list[dict[str, Any]] = []
    for label in sorted(set(labels)):
        members = [k for k, lab in enumerate(labels) if lab == label]
        group = np.concatenate([embs[k] for k in members])
        appearances = [appearance_view(rows[k][0], rows[k][1], pair_distance(embs[k], group)) for k in members]
        people.append({"appearances": appearances, "clips": len({rows[k][1].id for k in members}),
                       "elsewhere": _elsewhere(rt, incident_id, group, threshold)})
    people.sort(key=lambda p: (-p["clips"], -len(p["appearances"]), p["appearances"][0]["track_id"]))
    for n, p in enumerate(people, start=1):
        p["person"] = f"unknown-{n}"
    audit_read(rt.sessions, actor, "incident.people", f"incident:{incident_id}",
               detail={"tracks": len(rows), "people": len(people), "threshold": threshold,
                       "in_several_clips": sum(1 for p in people if p["clips"] > 1)})
    return {"incident_id": incident_id, "threshold": threshold, "unknown_tracks": len(rows),
            "people": [{"person": p.pop("person"), **p} for p in people], **not_compared(others, rt.faces.profile.name)}
