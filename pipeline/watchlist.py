"""Match a face track against watchlist subjects. Produces candidates, never identifications."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from pipeline.types import FaceTrack, WatchlistCandidate, WatchlistSubject

__all__ = ["match_embeddings", "match_watchlist", "track_distance", "watchlist_threshold"]

# Never looser than this whatever the watchlist: past ~0.55 even one-to-one verification errs
# on >0.1 % of different-person pairs (models/face_calibration.json). Never stricter than 0.40.
THRESHOLD_BOUNDS = (0.40, 0.55)


def watchlist_threshold(
    n_references: int,
    fpir: float,
    fmr_threshold: Sequence[tuple[float, float]],
    bounds: tuple[float, float] = THRESHOLD_BOUNDS,
) -> float:
    """Distance threshold that keeps the false-positive identification rate near ``fpir``.

    A face compared with ``n_references`` reference photos of people it is not falsely matches
    one of them with probability about n_references x FMR(t), so t is read off the measured
    FMR curve (``fmr_threshold``: (fmr, threshold) pairs, any order) at fpir / n_references,
    interpolated in log FMR. Bigger watchlists get stricter thresholds."""
    target = fpir / max(1, n_references)
    pts = sorted(fmr_threshold)
    logs = np.log10([f for f, _ in pts])
    t = float(np.interp(np.log10(target), logs, [th for _, th in pts]))
    return float(np.clip(t, *bounds))


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
    return match_embeddings(track.track_index, track.embeddings, track.best.detection.t_s, subjects, threshold,
                            max_candidates, exclude_subject_ids)


def match_embeddings(
    track_index: int,
    embeddings: npt.NDArray[np.float32],
    t_s: float,
    subjects: Sequence[WatchlistSubject],
    threshold: float,
    max_candidates: int = 3,
    exclude_subject_ids: frozenset[int] = frozenset(),
) -> list[WatchlistCandidate]:
    """``match_watchlist`` for a track known only by its embeddings (a stored or stitched one)."""
    if len(embeddings) == 0:
        return []
    scored = sorted(
        (track_distance(embeddings, s.embeddings), s.subject_id, s.name)
        for s in subjects
        if len(s.embeddings) and s.subject_id not in exclude_subject_ids
    )
    return [
        WatchlistCandidate(track_index, sid, name, rank, dist, float(np.clip(1.0 - dist, 0.0, 1.0)), threshold, t_s)
        for rank, (dist, sid, name) in enumerate((x for x in scored if x[0] <= threshold), start=1)
        if rank <= max_candidates
    ]
