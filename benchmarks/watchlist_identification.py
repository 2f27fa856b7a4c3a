"""Open-set identification the way a watchlist is used.

    python benchmarks/watchlist_identification.py --images ../shared/data/faces/lfw/images \\
        --sizes 10,100,400

For each watchlist size N and each of --repeats random draws: N people are enrolled; *mated*
probes are other photos of enrolled people, *non-mated* probes are photos of people not enrolled.
A probe raises an alert when its nearest subject is within the threshold; it is a correct hit when
that subject is the right one. Reported per size:

  FPIR(t)  share of non-mated probes that raise any alert
  DIR(t)   share of mated probes whose nearest subject is the right one, within t

at the thresholds where FPIR is 1 % and 0.1 %, and at the configured threshold: the one the
pipeline derives for a watchlist with that many reference photos from models/face_calibration.json
and EVIDENCE_MATCH_FPIR (or EVIDENCE_MATCH_THRESHOLD when that fixes it), its FPIR beside that
target. Every person here was also in the calibration, so a last table checks the target on people
it never saw (--held-out-draws, 0 skips it): the calibration curve is refitted the recipe's way
(models/recipes/face_calibration.py, same pair weighting and margin as the json) on half the
people, drawn at random, and the single protocol is run on the other half. Three ways of matching
are compared:

  single    one enrolment photo, one probe photo (the protocol above; the last line reports it)
  refs3     up to three enrolment photos per subject (nearest reference)
  track3    up to three enrolment photos, probes of two photos of one person averaged the way
            the pipeline averages a face track's frames (pipeline.watchlist.track_distance)

Last line: ``dir_at_fpir_0.001=<0..1>`` for the largest size, single protocol."""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import shared_data  # noqa: E402
from lfw import configured_faces, embed_images  # noqa: E402

from evidence.runtime import AnalysisConfig  # noqa: E402
from evidence.settings import Settings  # noqa: E402
from pipeline.watchlist import watchlist_threshold  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models" / "recipes"))
from face_calibration import Faces, fmr_curve  # noqa: E402

VARIANTS = {"single": (1, 1), "refs3": (3, 1), "track3": (3, 2)}  # (enrolment photos, probe photos)


def _probes(photos: list[str], per_probe: int) -> list[list[str]]:
    return [photos[i:i + per_probe] for i in range(0, len(photos) - per_probe + 1, per_probe)]


def run_draw(people: dict[str, list[str]], vec: dict[str, np.ndarray], size: int, refs: int, per_probe: int,
             rng: np.random.Generator) -> tuple[list[tuple[float, bool]], list[float], int]:
    """(mated: [(top-1 distance, top-1 is right)], non-mated: [top-1 distance], reference photos
    enrolled) for one draw."""
    names = sorted(people)
    multi = [n for n in names if len(people[n]) > refs]
    rest = [n for n in names if n not in multi]
    # Enrol people who have photos left to probe with first, then fill with the others.
    pick = list(rng.permutation(multi))[:size]
    if len(pick) < size:
        pick += list(rng.permutation(rest))[: size - len(pick)]
    enrolled = set(pick)
    gallery_names = sorted(enrolled)
    refs_per = [people[n][:refs] for n in gallery_names]
    starts = np.cumsum([0] + [len(r) for r in refs_per[:-1]])
    gallery = np.stack([vec[p] for r in refs_per for p in r])

    def top1(probe: list[str]) -> tuple[float, str]:
        # The same rule as pipeline.watchlist.track_distance, vectorised over the whole gallery:
        # nearest reference per subject, averaged over the probe's photos.
        e = np.stack([vec[p] for p in probe])
        d = np.linalg.norm(e[:, None, :] - gallery[None, :, :], axis=2)
        per_subject = np.minimum.reduceat(d, starts, axis=1).mean(axis=0)
        i = int(np.argmin(per_subject))
        return float(per_subject[i]), gallery_names[i]

    mated = []
    for n in gallery_names:
        for probe in _probes(people[n][refs:], per_probe):
            d, who = top1(probe)
            mated.append((d, who == n))
    non_mated = [top1(probe)[0] for n in names if n not in enrolled for probe in _probes(people[n], per_probe)]
    return mated, non_mated, len(gallery)


def rates(mated: list[tuple[float, bool]], non_mated: list[float], t: float) -> tuple[float, float]:
    fpir = float(np.mean(np.array(non_mated) <= t))
    dir_ = float(np.mean([(d <= t) and ok for d, ok in mated]))
    return dir_, fpir


def held_out_check(people: dict[str, list[str]], vec: dict[str, np.ndarray], sizes: list[int], fpir: float,
                   draws: int) -> None:
    """Single protocol on people the calibration curve was not fitted on (see the docstring)."""
    faces = configured_faces()
    calibration = json.loads(faces.models.companion(faces.entries["face_embedder"], "calibration").path().read_text())
    weighting, margin = calibration.get("weighting", "photo_pair"), float(calibration.get("margin", 1.0))
    names = [p for v in people.values() for p in v]
    faces = Faces.from_vectors(np.stack([vec[n] for n in names]), np.array([n.split("/")[0] for n in names]))
    who = sorted(people)  # Faces numbers people in sorted order
    print(f"\n[held out] curve refitted on half the people ({weighting} pairs, margin {margin:g}), {draws} draws; "
          f"single protocol on the other half; target FPIR {fpir:g}")
    print(f"{'size':>5} {'t_mean':>6} {'DIR':>6} {'FPIR':>6} {'FPIR_p90':>8} {'<=target':>8} {'target':>6}")
    for size in [s for s in sizes if s <= len(people) // 4]:
        rng = np.random.default_rng(1000 + size)
        ts, dirs, fpirs = [], [], []
        for _ in range(draws):
            order = rng.permutation(len(who))
            half = len(who) // 2
            curve = [(f, t) for f, t in fmr_curve(faces, order[:half], weighting, margin)]
            held = {who[i]: people[who[i]] for i in order[half:]}
            mated, non_mated, n_refs = run_draw(held, vec, size, 1, 1, rng)
            ts.append(watchlist_threshold(n_refs, fpir, curve))
            d, f = rates(mated, non_mated, ts[-1])
            dirs.append(d)
            fpirs.append(f)
        v = np.array(fpirs)
        print(f"{size:>5} {np.mean(ts):>6.3f} {np.mean(dirs):>6.3f} {v.mean():>6.4f} {np.quantile(v, 0.9):>8.4f}"
              f" {np.mean(v <= fpir):>8.2f} {fpir:>6.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, required=True)
    ap.add_argument("--sizes", default="10,100,400")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--held-out-draws", type=int, default=100)
    args = ap.parse_args()
    cfg = AnalysisConfig.from_settings(Settings(), configured_faces())
    people: dict[str, list[str]] = defaultdict(list)
    for p in sorted(shared_data(args.images).glob("*/*.jpg")):
        people[p.parent.name].append(f"{p.parent.name}/{p.name}")
    emb = embed_images(args.images, [p for v in people.values() for p in v])
    print(f"people={len(people)} photos={sum(map(len, people.values()))} no_face_detected={len(emb.undetected)} "
          f"repeats={args.repeats} match_fpir={cfg.match_fpir} match_threshold={cfg.match_threshold or 'derived'}")
    sizes = [int(s) for s in args.sizes.split(",")]
    last = float("nan")
    for variant, (refs, per_probe) in VARIANTS.items():
        print(f"\n[{variant}] enrolment photos<={refs}, photos per probe={per_probe}")
        print(f"{'size':>5} {'mated':>6} {'nonmated':>8} | {'t@1%':>6} {'DIR@1%':>7} | {'t@0.1%':>6} {'DIR@0.1%':>8} |"
              f" {'t_cfg':>6} {'DIR@cfg':>7} {'FPIR@cfg':>8} {'target':>6}")
        for size in sizes:
            rng = np.random.default_rng(size)
            mated, non_mated, n_refs = [], [], 0
            for _ in range(args.repeats):
                m, n, n_refs = run_draw(people, emb.vectors, size, refs, per_probe, rng)
                mated += m
                non_mated += n
            threshold = cfg.threshold_for(n_refs)
            target = "fixed" if cfg.match_threshold is not None else f"{cfg.match_fpir:.4f}"
            t1, t01 = float(np.quantile(non_mated, 0.01)), float(np.quantile(non_mated, 0.001))
            d1, d01 = rates(mated, non_mated, t1)[0], rates(mated, non_mated, t01)[0]
            dc, fc = rates(mated, non_mated, threshold)
            print(f"{size:>5} {len(mated):>6} {len(non_mated):>8} | {t1:>6.3f} {d1:>7.3f} | {t01:>6.3f} {d01:>8.3f} |"
                  f" {threshold:>6.3f} {dc:>7.3f} {fc:>8.4f} {target:>6}")
            if variant == "single" and size == max(sizes):
                last = d01
    if args.held_out_draws and cfg.match_threshold is None:
        held_out_check(people, emb.vectors, sizes, cfg.match_fpir, args.held_out_draws)
    print(f"dir_at_fpir_0.001={last:.4f}")


if __name__ == "__main__":
    main()
