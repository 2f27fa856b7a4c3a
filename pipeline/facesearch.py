"""Face search and unknown-face clustering over stored face tracks: pure functions on embeddings.

A face track carries several embeddings (float32, one per sampled frame). Its *template* is
their mean: the vector index is built over templates and finds candidates quickly; the exact
distance then reported is the track's own (``pipeline.watchlist.track_distance``: each of the
track's embeddings against the probe, averaged), the same measure watchlist candidates carry."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from pipeline.watchlist import track_distance

__all__ = ["cluster_tracks", "pair_distance", "pair_distances", "probe_distances", "track_template"]

F32 = npt.NDArray[np.float32]


def track_template(embeddings: F32) -> F32:
    """(n, d) float32 -> (d,) float32: the mean of the track's embeddings."""
    if embeddings.ndim != 2 or len(embeddings) == 0:
        raise ValueError("a track template needs (n >= 1, d) embeddings")
    return np.asarray(embeddings.mean(axis=0), dtype=np.float32)


def pair_distance(a: F32, b: F32) -> float:
    """Distance between two tracks: every embedding of one against every one of the other, averaged
    (symmetric; on the same scale as a one-to-one comparison of two faces)."""
    return float(np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2).mean())


def pair_distances(tracks: Sequence[F32]) -> npt.NDArray[np.float64]:
    """``pair_distance`` between every two tracks at once: (n, n), the diagonal included."""
    flat = np.concatenate(tracks).astype(np.float64)
    sq = (flat * flat).sum(axis=1)
    e = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * flat @ flat.T, 0.0))
    starts = np.cumsum([0] + [len(t) for t in tracks[:-1]])
    counts = np.array([len(t) for t in tracks], dtype=np.float64)
    sums = np.add.reduceat(np.add.reduceat(e, starts, axis=0), starts, axis=1)
    return np.asarray(sums / counts[:, None] / counts[None, :])


def cluster_tracks(tracks: Sequence[F32], threshold: float,
                   cannot_link: Sequence[tuple[int, int]] = ()) -> list[int]:
    """Average-linkage clustering of face tracks: two groups merge while the mean distance between
    their faces (every embedding of one against every one of the other: ``pair_distance`` of the
    two groups, the measure a group is looked for elsewhere with) is at most ``threshold``; a
    track's embeddings stay together. ``cannot_link`` pairs (indices into ``tracks``: two faces on
    screen at the same moment of one clip) are never put in one group, nor are groups holding them.
    Returns a label per track: 0, 1, ... numbered by each group's first track."""
    n = len(tracks)
    if n == 0:
        return []
    d = pair_distances(tracks)
    for i, j in cannot_link:
        d[i, j] = d[j, i] = np.inf
    np.fill_diagonal(d, np.inf)
    size = np.array([len(t) for t in tracks], dtype=np.float64)  # faces per group
    members: list[list[int]] = [[i] for i in range(n)]
    while True:
        a, b = (int(x) for x in np.unravel_index(int(np.argmin(d)), d.shape))
        if not d[a, b] <= threshold:
            break
        i, j = min(a, b), max(a, b)
        # Average linkage (Lance-Williams) weighted by faces: a group's distance to the merged one is
        # the mean over all their face pairs; an infinite (cannot-link) distance stays infinite.
        # The merged-away group's row and column become infinite: it is never picked again.
        merged = (size[i] * d[i] + size[j] * d[j]) / (size[i] + size[j])
        d[i, :] = d[:, i] = merged
        d[j, :] = d[:, j] = np.inf
        d[i, i] = np.inf
        size[i] += size[j]
        members[i].extend(members[j])
        members[j] = []
    labels = [0] * n
    groups = sorted((sorted(m) for m in members if m), key=lambda m: m[0])
    for label, group in enumerate(groups):
        for k in group:
            labels[k] = label
    return labels


def probe_distances(probe: F32, tracks: Sequence[F32]) -> list[float]:
    """The exact distance of a probe embedding (d,) to each track."""
    ref = probe.reshape(1, -1)
    return [track_distance(t, ref) for t in tracks]

