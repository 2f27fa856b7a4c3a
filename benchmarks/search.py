"""Investigators' searches at scale: face search over >= 1,000,000 face-track appearances and plate
search over >= 10,000,000 camera reads, in the project's own database (SQLite by default, or
EVIDENCE_DATABASE_URL), through the project's own search functions (index, database join, exact
re-ranking, audit entry), beside the plain approach measured in the same run:

- faces: the HNSW index vs brute force over every template held in memory (numpy, one matrix
  product a query -- the best plain approach; reading the embeddings from the database per query
  would be slower still). Recall@10 of the index against brute force is printed too.
- plates: the indexed plan (a pattern's literal start on the key, or its literal end on the
  reversed key) vs the same query forced to scan the table (``NOT INDEXED``), a few queries only.

Synthetic data: 100,000 people, each appearance their centre plus noise (same-person distance
~0.4, different people ~0.95, like the dlib embeddings on LFW); UK current-format registrations of
2,000,000 vehicles read ~5 times each by 500 cameras over a year. The data is kept in --data and
reused by later runs (loading it takes minutes).

    python benchmarks/search.py [--faces 1000000] [--reads 10000000] [--queries 200] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import string
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import func, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evidence.audit import Actor  # noqa: E402
from evidence.db.tables import AnprRead, Evidence, FaceTrackRow, Incident  # noqa: E402
from evidence.runtime import Runtime  # noqa: E402
from evidence.search import search_embedding, search_plates  # noqa: E402
from evidence.settings import Settings  # noqa: E402
from pipeline.plates import confusion_key  # noqa: E402

ACTOR = Actor("benchmark", "investigator")
PEOPLE = 100_000
TRACKS_PER_EVIDENCE = 100
CENTRE_SD, NOISE_SD = 0.06, 0.025
VEHICLES = 2_000_000
CAMERAS = 500
BATCH = 50_000
LETTERS = np.array(list("ABCDEFGHJKLMNOPRSTUVWXY"))  # no I, Q, Z in the current format's letters
DIGITS = np.array(list(string.digits))


def centres(seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, CENTRE_SD, (PEOPLE, 128)).astype(np.float32)


def load_faces(rt: Runtime, n: int) -> None:
    """n face tracks (one embedding each) on n / 100 evidence items in n / 10,000 incidents."""
    rng = np.random.default_rng(1)
    c = centres()
    n_ev = n // TRACKS_PER_EVIDENCE
    start = datetime(2025, 11, 1, tzinfo=UTC)
    with rt.engine.begin() as conn:
        conn.execute(insert(Incident), [{"reference": f"BENCH-{i}", "title": "synthetic"} for i in range(max(1, n_ev // 100))])
        inc_ids = list(conn.scalars(select(Incident.id).order_by(Incident.id)))
        conn.execute(insert(Evidence), [{
            "incident_id": inc_ids[i % len(inc_ids)], "sha256": f"{i:064x}", "original_name": f"clip{i}.mp4",
            "size_bytes": 1, "store_path": "none", "media": {}, "state": "done", "provenance": {},
            "received_at": start + timedelta(minutes=i * 50)} for i in range(n_ev)])
        ev_ids = list(conn.scalars(select(Evidence.id).order_by(Evidence.id)))
    for lo in range(0, n, BATCH):
        k = min(BATCH, n - lo)
        who = rng.integers(0, PEOPLE, k)
        emb = (c[who] + rng.normal(0, NOISE_SD, (k, 128))).astype("<f4")
        rows = [{"evidence_id": ev_ids[(lo + j) // TRACKS_PER_EVIDENCE], "track_index": (lo + j) % TRACKS_PER_EVIDENCE,
                 "first_t_s": 1.0, "last_t_s": 3.0, "best_t_s": 2.0, "best_xyxy": [0, 0, 100, 100], "n_detections": 5,
                 "quality": 1.0, "closed": True, "embeddings": emb[j].tobytes(), "segment": 0,
                 "embedder": "dlib-resnet-v1"} for j in range(k)]
        with rt.engine.begin() as conn:
            conn.execute(insert(FaceTrackRow), rows)
        print(f"  faces {lo + k:,}/{n:,}", end="\r", flush=True)
    print()


def plates(rng: np.random.Generator, n: int) -> np.ndarray:
    l1, l2 = rng.choice(LETTERS, (n, 2)), rng.choice(LETTERS, (n, 3))
    d = rng.choice(DIGITS, (n, 2))
    return np.array(["".join(r) for r in np.concatenate([l1, d, l2], axis=1)])


def load_reads(rt: Runtime, n: int) -> None:
    """n camera reads of VEHICLES cars in a year, loaded with the secondary indexes dropped and
    built afterwards (as a bulk import would)."""
    rng = np.random.default_rng(2)
    fleet = plates(rng, VEHICLES)
    keys = np.array([confusion_key(p) for p in fleet])
    start = datetime(2025, 11, 1, tzinfo=UTC)
    year_s = 365 * 86400
    sqlite = rt.engine.dialect.name == "sqlite"
    with rt.engine.begin() as conn:
        for ix in ("ix_anpr_reads_vrm_key", "ix_anpr_reads_read_at", "ix_anpr_reads_vrm_key_rev"):
            conn.execute(text(f"DROP INDEX IF EXISTS {ix}"))
    received = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    # Straight to the driver (SQLAlchemy's per-row processing would triple the load time), in
    # SQLAlchemy's own storage formats: naive UTC 'YYYY-MM-DD HH:MM:SS.ffffff' text, JSON text.
    sql = ("INSERT INTO anpr_reads (camera_id, read_at, vrm_read, vrm, vrm_key, vrm_key_rev, valid, confidence, "
           "location, direction, received_at) VALUES (?, ?, ?, ?, ?, ?, 1, 0.9, ?, 'N', ?)")
    if not sqlite:
        sql = sql.replace("?", "%s").replace("1, 0.9", "true, 0.9")
    places = [json.dumps({"lat": 51.0 + c / 1000, "lon": -0.5 + c / 1000}) for c in range(CAMERAS)]
    for lo in range(0, n, BATCH):
        k = min(BATCH, n - lo)
        car = rng.integers(0, VEHICLES, k)
        secs = rng.integers(0, year_s, k)
        cams = rng.integers(0, CAMERAS, k)
        rows = [(f"CAM-{int(cams[j]):03d}",
                 (start + timedelta(seconds=int(secs[j]), microseconds=(lo + j) % 1_000_000)).replace(tzinfo=None)
                 .isoformat(" ", "microseconds"), fleet[car[j]], fleet[car[j]], keys[car[j]], keys[car[j]][::-1],
                 places[cams[j]], received) for j in range(k)]
        with rt.engine.begin() as conn:
            if sqlite:
                conn.exec_driver_sql("PRAGMA cache_size=-1000000")
            conn.exec_driver_sql(sql, rows)
        print(f"  reads {lo + k:,}/{n:,}", end="\r", flush=True)
    print()
    with rt.engine.begin() as conn:
        conn.execute(text("CREATE INDEX ix_anpr_reads_vrm_key ON anpr_reads (vrm_key)"))
        conn.execute(text("CREATE INDEX ix_anpr_reads_read_at ON anpr_reads (read_at)"))
        conn.execute(text("CREATE INDEX ix_anpr_reads_vrm_key_rev ON anpr_reads (vrm_key_rev)"))
        conn.execute(text("ANALYZE" if sqlite else "ANALYZE anpr_reads"))


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(xs, p))


def row(name: str, ms: list[float]) -> str:
    return f"| {name} | {len(ms)} | {statistics.median(ms):.1f} | {pct(ms, 95):.1f} | {max(ms):.1f} |"


def bench_faces(rt: Runtime, n: int, queries: int) -> list[str]:
    out = []
    t = time.perf_counter()
    indexed = rt.face_index.rebuild(rt.sessions)
    out.append(f"index rebuild (evidence index rebuild): {indexed:,} tracks in {time.perf_counter() - t:.0f} s")
    with rt.sessions() as s:
        ids = np.array(s.scalars(select(FaceTrackRow.id).order_by(FaceTrackRow.id)).all())
        blobs = s.execute(select(FaceTrackRow.embeddings).order_by(FaceTrackRow.id)).scalars().all()
    matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(-1, 128)
    sq = (matrix * matrix).sum(axis=1)
    rng = np.random.default_rng(3)
    c = centres()
    probes = (c[rng.integers(0, PEOPLE, queries)] + rng.normal(0, NOISE_SD, (queries, 128))).astype(np.float32)
    ours, brute, recall, found = [], [], [], []
    for q in probes:
        t = time.perf_counter()
        res = search_embedding(rt, q, {"probe": "synthetic"}, "benchmark", ACTOR, limit=50)
        ours.append((time.perf_counter() - t) * 1000)
        found.append(len(res["results"]))
        t = time.perf_counter()
        d = sq - 2.0 * (matrix @ q) + float(q @ q)
        top = np.argpartition(d, 50)[:50]
        top = top[np.argsort(d[top])]
        within = top[np.sqrt(np.maximum(d[top], 0)) <= rt.analysis.search_max_distance]
        brute.append((time.perf_counter() - t) * 1000)
        exact10 = set(ids[within[:10]].tolist())
        got10 = {r["track_id"] for r in res["results"][:10]}
        if exact10:
            recall.append(len(exact10 & got10) / len(exact10))
    out += ["", "| face search, 1 probe embedding | queries | p50 ms | p95 ms | max ms |", "|---|---|---|---|---|",
            row(f"project: HNSW index + database join + exact re-rank + audit ({indexed:,} tracks)", ours),
            row("brute force: every template in memory (numpy matrix product, top 50)", brute), "",
            f"recall@10 of the project's results against brute force: {statistics.mean(recall):.4f}; "
            f"appearances found per probe: median {statistics.median(found):.0f}"]
    return out


PLATE_QUERIES = [("exact", lambda p: p), ("one unknown (AB1?CDE)", lambda p: p[:3] + "?" + p[4:]),
                 ("ends with (*CDE)", lambda p: "*" + p[4:]), ("starts with (AB12*)", lambda p: p[:4] + "*"),
                 ("unknown first (?B12CDE)", lambda p: "?" + p[1:])]


def bench_plates(rt: Runtime, queries: int) -> list[str]:
    rng = np.random.default_rng(4)
    with rt.sessions() as s:
        top = s.scalar(select(func.max(AnprRead.id)))
        sample = [s.scalar(select(AnprRead.vrm).where(AnprRead.id == int(i))) for i in rng.integers(1, top, queries)]
    out = ["| plate search (reads + footage, 200 newest) | queries | p50 ms | p95 ms | max ms |", "|---|---|---|---|---|"]
    everything: list[float] = []
    for name, make in PLATE_QUERIES:
        ms = []
        for p in sample:
            t = time.perf_counter()
            search_plates(rt, make(p), "benchmark", ACTOR, limit=200)[0]
            ms.append((time.perf_counter() - t) * 1000)
        everything += ms
        out.append(row(f"project, {name}", ms))
    out.append(row("project, all of the above", everything))
    scan = []
    with rt.engine.connect() as conn:
        for p in sample[:5]:
            t = time.perf_counter()
            conn.execute(text("SELECT id FROM anpr_reads NOT INDEXED WHERE vrm_key LIKE :p ORDER BY read_at DESC LIMIT 200"
                              if rt.engine.dialect.name == "sqlite" else
                              "SELECT id FROM anpr_reads WHERE vrm_key LIKE :p ORDER BY read_at DESC LIMIT 200"),
                         {"p": "%" + confusion_key(p[4:])}).all()
            scan.append((time.perf_counter() - t) * 1000)
    out.append(row("plain: the same LIKE scanning the table (ends with)", scan))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=int, default=1_000_000)
    ap.add_argument("--reads", type=int, default=10_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--data", type=Path, default=Path("/tmp/evidence-search-bench"))
    args = ap.parse_args()
    os.environ.setdefault("EVIDENCE_DATA_DIR", str(args.data))
    rt = Runtime(Settings())
    with rt.sessions() as s:
        have_faces = s.scalar(select(func.count()).select_from(FaceTrackRow)) or 0
        have_reads = s.scalar(select(func.max(AnprRead.id))) or 0
    t = time.perf_counter()
    if have_faces < args.faces:
        load_faces(rt, args.faces - have_faces)
    if have_reads < args.reads:
        load_reads(rt, args.reads - have_reads)
    loaded = time.perf_counter() - t
    with rt.sessions() as s:
        n_faces = s.scalar(select(func.count()).select_from(FaceTrackRow))
        n_reads = s.scalar(select(func.count()).select_from(AnprRead))
    db = rt.settings.db_url.split("///")[-1]
    size = f", {Path(db).stat().st_size / 1e9:.1f} GB" if Path(db).exists() else ""
    lines = [f"database: {rt.engine.dialect.name}{size}; {n_faces:,} face tracks, {n_reads:,} camera reads "
             f"(loaded in {loaded:.0f} s this run); {os.cpu_count()} CPUs", ""]
    lines += bench_faces(rt, n_faces, args.queries) + [""] + bench_plates(rt, max(20, args.queries // 4))
    print("\n".join(lines))
    print(json.dumps({"faces": n_faces, "reads": n_reads}))


if __name__ == "__main__":
    main()
