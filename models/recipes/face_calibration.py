"""Recipe for models/face_calibration.json: the distance t at which two photos of *different* people
come out close enough to match at a given false-match rate (FMR), with the project's own face path,
fitted so that the watchlist threshold derived from it holds on people it never saw.

    python models/recipes/face_calibration.py --images ../shared/data/faces/lfw/images

At run time pipeline.watchlist.watchlist_threshold reads the curve at fpir / R for a watchlist of R
reference photos: a probe compared with R photos of people it is not falsely alerts with
probability about R x FMR(t). Two things made that false-positive identification rate (FPIR) come
out above the configured one (0.6-1.0 % for 0.5 %, issue 17), and the recipe answers each:

* Pair weighting. Counting every photo pair (689,383 on LFW View 2 fold 1) lets the few people with
  many photos dominate the curve, while a watchlist compares a passer-by with one subject after
  another. Each pair of *identities* now weighs the same (a pair of photos 1 / (n_a x n_b)).
* Unseen identities. The curve is checked on people held out from it: in each of DRAWS draws
  (fixed seed) the people, not the photos, are split in half; the curve is fitted on one half, the
  runtime derives its threshold for watchlists of SIZES people, and the FPIR is measured on the
  other half with the protocol of benchmarks/watchlist_identification.py (one enrolment photo of N
  held-out people, people with several photos first; every photo of the other held-out people is a
  probe; GALLERIES watchlists a draw so the count of false alerts is not mere binomial noise).
  The margin is the 90th percentile (COVER), over draws and sizes, of measured / target FPIR (at
  least 1), and the curve written is the one fitted on every identity read at FMR / margin. A
  factor on the FMR axis was chosen over a lower quantile of the per-draw thresholds because it is
  set by the held-out FPIR itself (per-draw thresholds show how noisy the fit is, not how far pair
  FMR is from watchlist FPIR), and FPIR being about R x FMR it means the same at every size.
  The spread is wide and lumpy: the closest different-person pairs of LFW are nearly all among a
  few East Asian faces, and a draw's FPIR depends on whether they fall in the held-out half. Hence
  200 draws (with 20 the margin moved from 1.1 to 2.7 between seeds; with 200, 2.0-2.2), and the
  90th rather than the 75th percentile: that one moved 1.0-1.35 between seeds even at 200 draws,
  and at 1.35 the benchmark's own held-out check still found 0.58 % at 100 people (0.41 % at 2.2).
  Fitting on half the people is noisier than on all, so the margin errs on the safe side.

The margin is then checked on fresh draws (another seed), side by side with the recipe before
issue 17 (every photo pair, no margin); the json records both under "held_out". "pair_fmr_threshold"
keeps the plain one-to-one curve (every photo pair, no margin) for reference."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from lfw import embed_images  # noqa: E402

from pipeline.watchlist import watchlist_threshold  # noqa: E402

FMRS = [10 ** (-k / 4) for k in range(4, 25)]  # 1e-1 .. 1e-6, four points a decade
TARGET_FPIR = 0.005  # EVIDENCE_MATCH_FPIR's default
SIZES = (10, 50, 100)  # watchlist sizes that leave enough held-out people to probe with
DRAWS, GALLERIES, SEED, COVER = 200, 10, 17, 0.9
Weighting = Literal["photo_pair", "identity"]


@dataclass(frozen=True)
class Faces:
    """Every photo's distance to every other and whose photo it is."""

    distance: np.ndarray  # (n, n) float, Euclidean between embeddings
    person: np.ndarray  # (n,) int, index into photos
    photos: list[np.ndarray]  # per person, indices of their photos in file order

    @classmethod
    def from_vectors(cls, x: np.ndarray, ids: np.ndarray) -> Faces:
        people, person = np.unique(ids, return_inverse=True)
        distance = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=2)
        return cls(distance, person, [np.flatnonzero(person == k) for k in range(len(people))])


def fmr_curve(faces: Faces, people: np.ndarray, weighting: Weighting, margin: float = 1.0) -> list[list[float]]:
    """[[fmr, t], ...] over FMRS from the different-person pairs among ``people``: t is the
    distance under which that share of pairs falls, read at fmr / margin."""
    idx = np.flatnonzero(np.isin(faces.person, people))
    iu = np.triu_indices(len(idx), 1)
    a, b = faces.person[idx[iu[0]]], faces.person[idx[iu[1]]]
    different = a != b
    d = faces.distance[idx[iu[0]], idx[iu[1]]][different]
    at = np.array(FMRS) / margin
    if weighting == "photo_pair":
        ts = np.quantile(d, at)
    else:
        n = np.bincount(faces.person)
        w = 1.0 / (n[a[different]] * n[b[different]])
        order = np.argsort(d)
        cum = np.cumsum(w[order])
        ts = np.interp(at, (cum - w[order] / 2) / cum[-1], d[order])
    return [[fmr, round(float(t), 4)] for fmr, t in zip(FMRS, ts, strict=True)]


def heldout_fpir(faces: Faces, held: np.ndarray, threshold: float, size: int, rng: np.random.Generator) -> float:
    """Share of probes of held-out people not enrolled that come within ``threshold`` of one of
    ``size`` enrolled held-out people (one photo each), pooled over GALLERIES watchlists."""
    multi = [p for p in held if len(faces.photos[p]) > 1]
    single = [p for p in held if len(faces.photos[p]) == 1]
    alerts = probes = 0
    for _ in range(GALLERIES):
        pick = list(rng.permutation(multi))[:size]
        pick += list(rng.permutation(single))[: size - len(pick)]
        gallery = [faces.photos[p][0] for p in pick]
        enrolled = set(pick)
        probe = np.concatenate([faces.photos[p] for p in held if p not in enrolled])
        alerts += int((faces.distance[np.ix_(probe, gallery)].min(axis=1) <= threshold).sum())
        probes += len(probe)
    return alerts / probes


def draw_fpirs(faces: Faces, weighting: Weighting, margin: float, seed: int) -> dict[int, np.ndarray]:
    """Held-out FPIR at TARGET_FPIR per watchlist size, one value per draw."""
    rng = np.random.default_rng(seed)
    out: dict[int, list[float]] = {size: [] for size in SIZES}
    for _ in range(DRAWS):
        order = rng.permutation(len(faces.photos))
        fit, held = order[: len(order) // 2], order[len(order) // 2:]
        curve = fmr_curve(faces, fit, weighting, margin)
        for size in SIZES:
            t = watchlist_threshold(size, TARGET_FPIR, [(f, th) for f, th in curve])
            out[size].append(heldout_fpir(faces, held, t, size, rng))
    return {size: np.array(v) for size, v in out.items()}


def summary(fpirs: dict[int, np.ndarray]) -> dict[str, dict[str, float]]:
    return {str(size): {"mean": round(float(v.mean()), 5), "p90": round(float(np.quantile(v, 0.9)), 5),
                        "share_at_or_below_target": round(float(np.mean(v <= TARGET_FPIR)), 2)}
            for size, v in fpirs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "face_calibration.json")
    args = ap.parse_args()
    names = [f"{p.parent.name}/{p.name}" for p in sorted(args.images.glob("*/*.jpg"))]
    vec = embed_images(args.images, names).vectors
    faces = Faces.from_vectors(np.stack([vec[n] for n in names]), np.array([n.split("/")[0] for n in names]))
    everyone = np.arange(len(faces.photos))
    fitting = draw_fpirs(faces, "identity", 1.0, SEED)
    ratios = np.concatenate(list(fitting.values())) / TARGET_FPIR
    margin = max(1.0, float(np.quantile(ratios, COVER)))
    margin_75 = max(1.0, float(np.quantile(ratios, 0.75)))
    checks: dict[str, tuple[Weighting, float]] = {
        "before_issue_17 (every photo pair, no margin)": ("photo_pair", 1.0),
        "identity pairs, no margin": ("identity", 1.0),
        f"identity pairs, margin {margin:.2f} (this curve)": ("identity", margin),
        f"identity pairs, margin {margin_75:.2f} (75 % quantile, for comparison)": ("identity", margin_75),
    }
    checked = {label: summary(draw_fpirs(faces, w, m, SEED + 1)) for label, (w, m) in checks.items()}
    n_pairs = len(names) * (len(names) - 1) // 2 - sum(len(p) * (len(p) - 1) // 2 for p in faces.photos)
    table = {
        "what": "distance of the 128-d dlib embedding (5-point alignment) at which different people match at "
                "a false-match rate, identity pairs weighted alike, read at fmr / margin so that the watchlist "
                "threshold derived from it holds on people held out from the fit",
        "data": f"LFW View 2 fold 1 deep-funnelled images: {len(names)} photos, {len(faces.photos)} people, "
                f"{n_pairs} different-person pairs",
        "recipe": "models/recipes/face_calibration.py",
        "weighting": "identity",  # a pair of photos weighs 1 / (photos of a x photos of b)
        "margin": round(margin, 3),
        "held_out": {
            "protocol": f"{DRAWS} draws splitting the people in half (fit / held out), {GALLERIES} watchlists of N "
                        "held-out people a draw (one enrolment photo), every photo of the other held-out people "
                        f"a probe; FPIR at the threshold derived for target {TARGET_FPIR}",
            "margin_from": f"seed {SEED}: {COVER:.0%} quantile of measured / target FPIR over draws and sizes",
            "fitting_draws": summary(fitting),
            f"check_draws (seed {SEED + 1})": checked,
        },
        "fmr_threshold": fmr_curve(faces, everyone, "identity", margin),
        "pair_fmr_threshold": fmr_curve(faces, everyone, "photo_pair"),
    }
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    print(json.dumps(table["held_out"], indent=1))
    print(f"margin={margin:.3f}")
    print(args.out, hashlib.sha256(args.out.read_bytes()).hexdigest())


if __name__ == "__main__":
    main()
