"""Match a face track against watchlist subjects. Produces candidates, never identifications."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from pipeline.types import FaceTrack, WatchlistCandidate, WatchlistSubject

__all__ = ["match_watchlist", "track_distance"]


def track_distance(track_embeddings: npt.NDArray[np.float32], refs: npt.NDArray[np.float32]) -> float:
    """Distance of a track to a subject: for each track embedding the Euclidean distance to the
    subject's nearest reference, averaged over the track's embeddings (several frames vote)."""
    d = np.linalg.norm(track_embeddings[:, None, :] - refs[None, :, :], axis=2)
    return float(d.min(axis=1).mean())


def match_watchlist(
    track: FaceTrack,
    subjects: Sequence[WatchlistSubject],
    threshold: float,
    max_candidates: int = 3,
    exclude_subject_ids: frozenset[int] = frozenset(),
) -> list[WatchlistCandidate]:
    """Ranked candidates (closest first) of subjects whose distance is at most ``threshold``."""
    if len(track.embeddings) == 0:
        return []
    scored = sorted(
        (track_distance(track.embeddings, s.embeddings), s.subject_id, s.name)
        for s in subjects
        if len(s.embeddings) and s.subject_id not in exclude_subject_ids
    )
    t_s = track.best.detection.t_s
    return [
        WatchlistCandidate(track.track_index, sid, name, rank, dist, float(np.clip(1.0 - dist, 0.0, 1.0)),
                           threshold, t_s)
        for rank, (dist, sid, name) in enumerate((x for x in scored if x[0] <= threshold), start=1)
        if rank <= max_candidates
    ]
