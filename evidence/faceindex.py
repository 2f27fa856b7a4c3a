"""The face index: an HNSW graph (FAISS) over every face track's template, a cache of the database.

It holds the tracks of one embedder (the process's): another model's vectors are never compared
with its own (``other_embedder_tracks`` counts them, for searches to say so).

The database is the truth. The index remembers the highest track id it holds; before each search
it adds the tracks written since (by any worker), so it is always in step for new footage. Tracks
deleted or re-made since (a re-run, a segment stitched) are dropped when the search joins its hits
back to the database, and the distance reported is recomputed from the stored embeddings, so a
stale template can cost a little recall, never a wrong answer. When tracks are deleted for
retention (``evidence.retention``) the ``face_index_epoch`` marker moves on: a process whose index
is of an older epoch rebuilds it from the database at its next search, so deleted templates leave
memory and the saved file as well as the results. ``evidence index rebuild`` builds it
afresh from the database (compacting it) and saves it beside the store; a process loads the saved
file at its first search and catches up from there."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from evidence.db import Sessions
from evidence.db.governance_tables import INDEX_EPOCH, marker
from evidence.db.tables import FaceTrackRow
from pipeline.facesearch import track_template

__all__ = ["FaceIndex", "embedding_rows", "other_embedder_tracks"]

HNSW_M = 32  # links per node: recall@10 0.983 on 1 M synthetic templates (benchmarks/search.py)
EF_CONSTRUCTION = 80
EF_SEARCH = 128
BATCH = 20_000
SAVE_AFTER = 10_000  # catch-ups that add this many tracks save the file


def _faiss() -> Any:
    import faiss  # imported on first use: ~0.3 s that most CLI commands do not need

    return faiss


def embedding_rows(blob: bytes, dimension: int) -> npt.NDArray[np.float32]:
    """A stored ``embeddings`` blob (FaceTrackRow) as its (n, dimension) float32 rows."""
    return np.frombuffer(blob, dtype="<f4").reshape(-1, dimension)


def other_embedder_tracks(s: Session, embedder: str, evidence_ids: Any = None) -> int:
    """How many face tracks (of the evidence ids or subquery given, or all) another embedder made."""
    q = select(func.count(FaceTrackRow.id)).where(FaceTrackRow.embedder != embedder)
    if evidence_ids is not None:
        q = q.where(FaceTrackRow.evidence_id.in_(evidence_ids))
    return int(s.scalar(q) or 0)


def templates_from_rows(rows: Iterator[tuple[int, bytes]], dimension: int
                        ) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
    """(ids, templates) in batches from (track id, float32 embeddings blob) rows."""
    ids: list[int] = []
    vecs: list[npt.NDArray[np.float32]] = []
    for track_id, blob in rows:
        emb = embedding_rows(blob, dimension)
        if len(emb):
            ids.append(track_id)
            vecs.append(track_template(emb))
        if len(ids) >= BATCH:
            yield np.array(ids, dtype=np.int64), np.stack(vecs)
            ids, vecs = [], []
    if ids:
        yield np.array(ids, dtype=np.int64), np.stack(vecs)


class FaceIndex:
    """The tracks of ``embedder`` (its vectors ``dimension`` long)."""

    def __init__(self, directory: Path, embedder: str, dimension: int) -> None:
        self.embedder, self.dimension = embedder, dimension
        # One file per embedder: processes on two embedders (a change being rolled out) never share one.
        self.path = directory / f"faces-{embedder}.faiss"
        self.meta_path = directory / f"faces-{embedder}.json"
        self.lock = threading.Lock()
        self.index: Any = None
        self.high_id = 0  # every track with an id up to this is in the index
        self.epoch = 0  # the face_index_epoch it was built at (deletions since need a rebuild)

    def _new(self) -> Any:
        faiss = _faiss()
        hnsw = faiss.IndexHNSWFlat(self.dimension, HNSW_M)
        hnsw.hnsw.efConstruction = EF_CONSTRUCTION
        hnsw.hnsw.efSearch = EF_SEARCH
        return faiss.IndexIDMap2(hnsw)

    def _load(self) -> None:
        if self.index is not None:
            return
        meta = json.loads(self.meta_path.read_text()) if self.meta_path.is_file() else {}
        index = _faiss().read_index(str(self.path)) if self.path.is_file() and meta else None
        if index is not None and index.d == self.dimension and meta.get("embedder") == self.embedder:
            self.index = index
            self.high_id, self.epoch = int(meta["high_id"]), int(meta.get("epoch", 0))
        else:  # none saved, or not this embedder's: built afresh from the database
            self.index, self.high_id, self.epoch = self._new(), 0, 0

    def save(self) -> None:
        """Write the index and its high-water mark (each replaced whole, never half-written)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mine = f".{os.getpid()}.{threading.get_ident()}.tmp"  # processes sharing a directory never collide
        tmp = self.path.with_name(self.path.name + mine)
        _faiss().write_index(self.index, str(tmp))
        tmp.replace(self.path)
        meta_tmp = self.meta_path.with_name(self.meta_path.name + mine)
        meta_tmp.write_text(json.dumps({"high_id": self.high_id, "epoch": self.epoch, "count": int(self.index.ntotal),
                                        "embedder": self.embedder, "dimension": self.dimension, "hnsw_m": HNSW_M,
                                        "saved_at": time.time()}))
        meta_tmp.replace(self.meta_path)

    def _add_from(self, s: Session, after_id: int) -> int:
        rows = s.execute(select(FaceTrackRow.id, FaceTrackRow.embeddings)
                         .where(FaceTrackRow.id > after_id, FaceTrackRow.embedder == self.embedder)
                         .order_by(FaceTrackRow.id).execution_options(yield_per=BATCH))
        added = 0
        for ids, vecs in templates_from_rows(iter(rows), self.dimension):
            self.index.add_with_ids(vecs, ids)
            self.high_id = int(ids[-1])
            added += len(ids)
        return added

    def catch_up(self, sessions: Sessions) -> int:
        """Add the tracks written since the last look; returns how many. Rebuilt instead when
        tracks have been deleted for retention since it was built."""
        with self.lock:
            self._load()
            with sessions() as s:
                if marker(s, INDEX_EPOCH) != self.epoch:
                    return self._rebuild(s)
                newest = s.scalar(select(func.max(FaceTrackRow.id))) or 0
                if newest <= self.high_id:
                    return 0
                added = self._add_from(s, self.high_id)
                self.high_id = max(self.high_id, newest)  # another embedder's tracks up to it are not for here
            if added >= SAVE_AFTER:
                self.save()
            return added

    def rebuild(self, sessions: Sessions) -> int:
        """Build afresh from every track in the database and save; returns the number indexed."""
        with self.lock, sessions() as s:
            return self._rebuild(s)

    def _rebuild(self, s: Session) -> int:
        """(The lock held.) Every track in the database, at the current deletion epoch; saved."""
        self.index, self.high_id, self.epoch = self._new(), 0, marker(s, INDEX_EPOCH)
        n = self._add_from(s, 0)
        self.save()
        return n

    def search(self, probe: npt.NDArray[np.float32], k: int) -> list[tuple[int, float]]:
        """Up to ``k`` (track id, template distance) nearest the probe, closest first."""
        with self.lock:
            self._load()
            if self.index.ntotal == 0:
                return []
            faiss = _faiss()
            params = faiss.SearchParametersHNSW(efSearch=max(EF_SEARCH, k))
            dist, ids = self.index.search(probe.reshape(1, -1).astype(np.float32), k, params=params)
        # FAISS gives squared L2 distances, and -1 where it found fewer than k.
        return [(int(i), float(np.sqrt(max(d, 0.0)))) for d, i in zip(dist[0], ids[0], strict=True) if i >= 0]

    @property
    def count(self) -> int:
        with self.lock:
            self._load()
            return int(self.index.ntotal)
