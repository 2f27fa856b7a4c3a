"""Equity report: false alerts and misses per group of probe photos, with 95 % intervals.

    python benchmarks/equity.py                                   # samples/faces
    python benchmarks/equity.py --images samples/faces ../shared/data/faces/lfw/images --write-results
    python benchmarks/equity.py --images DIR --labels force_labels.csv

DIR holds DIR/<person>/*.jpg (paths from the repository root). A --labels CSV (one per --images, in
order, '-' for none) has a header; first column a photo path in DIR or a person's name, every other
column (sex, age_band, ...) a grouping.

Protocol (the single protocol of benchmarks/watchlist_identification.py): in each of --repeats
draws, --size people are enrolled with one photo picked at random (people with a second photo
first); every other photo of an enrolled person is a *mated* probe, every photo of anyone else a
*non-mated* one. Embeddings are the project's (benchmarks/lfw.py: HOG with one upsample, the
central face, 5-point alignment, dlib ResNet), the threshold the one the pipeline derives for a
watchlist of --size reference photos (AnalysisConfig.threshold_for). A *false alert*: a non-mated
probe within the threshold of any subject; a *miss*: a mated probe whose own subject is not among
the candidates the pipeline raises (within the threshold, max_candidates_per_track nearest).

Groupings (each probe photo falls in one band of each):
  face height  the detected box's height in the photo as it is: <48, 48-79, 80-119, >=120 px.
  synthetic    the same photos downscaled (INTER_AREA) until the face is --sizes px high, the box
               scaled with them; landmarks and embedding recomputed on the small photo, enrolment
               kept full size. The detector is not re-run: recognition of small faces once found.
  pose         yaw from the 5-point landmarks: r = offset of the nose point from the midpoint of the
               eye centres, along the eye line, over the eye distance. With eyes and nose base points
               a depth D apart, r = (D / eye distance) tan(yaw); for D = 0.4 eye distances (assumed,
               not measured) yaw = atan(|r| / 0.4): frontal < 15 deg, slight 15-30, turned >= 30.
  sharpness    variance of the Laplacian of the grey face box, in tertiles of the set.
  brightness   mean grey level of the face box: low below 70 (of 255).
  contrast     standard deviation of grey in the face box: low below 35.
  --labels     each column of the CSV; photos without a row are "unlabelled".

Intervals: 95 % Wilson. A photo is a probe in many draws; it counts once, with its share of misses
(or false alerts) over the draws it was a probe in: n counts photos, not trials. Photos of one
person are not independent either: a group of few people is less certain than its interval says.
"Too few to say": n < 30 or an interval wider than 20 points (misses) or twice the configured
false-alert target (false alerts). "vs all": whether the interval excludes the overall rate of the
photos as they are.

Last line, per set: ``<set>: miss=<overall> false_alert=<overall> groups=<n> too_few=<n> differ=<n>``."""

from __future__ import annotations

import argparse
import csv
import hashlib
import math
import os
import shlex
import sys
import textwrap
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, shared_data  # noqa: E402
from lfw import CACHE, _central, configured_faces, embed_images  # noqa: E402

from evidence.images import read_rgb  # noqa: E402
from evidence.runtime import AnalysisConfig, FaceModels  # noqa: E402
from evidence.settings import Settings  # noqa: E402

Vec = npt.NDArray[np.float32]
Counts = npt.NDArray[np.float64]
Band = tuple[str, str, str, list[bool]]  # grouping, band, variant ("as is", "24 px", ...), which photos
SECTION = "## Issue 19: equity report (false alerts and misses by group)"
Z, MIN_N, MISS_WIDTH = 1.96, 30, 0.20
D_OVER_EYES, DARK, FLAT = 0.4, 70.0, 35.0
YAW_BANDS = [(15.0, "frontal <15°"), (30.0, "slight 15–30°"), (math.inf, "turned ≥30°")]
HEIGHT_BANDS = [(48.0, "<48 px"), (80.0, "48–79 px"), (120.0, "80–119 px"), (math.inf, "≥120 px")]
NOT_MEASURED = """**What has not been measured.** No demographic labels are available to the
project: sex, age and ethnicity (or skin tone) have **not** been measured, and nothing here shows
that the rates are equal across them. A force with labels for its own test set runs this script with
`--labels`. LFW's people are public figures photographed for news (skewed towards men and lighter
skin; the project holds no count of it), mostly well lit and near frontal, so its bands are narrow
and its "turned" and "dark" groups small. Issue 17 found this embedder's closest different-person pairs nearly all among a dozen East and Southeast Asian faces, a
sign of uneven false matches that these groupings cannot show. False alerts at a 0.5 % target are
rare events: telling two groups apart needs thousands of non-mated photos in each, and LFW fold 1
has 1,181 photos in all. samples/faces is 16 people (42 photos): every interval there is too wide to
compare groups; it is run to show the script works on what ships with the repository. The synthetic
face-height bands are downscaled photos with the detector not re-run, not faces filmed small; pose
is a landmark estimate; intervals treat photos as independent, which photos of one person are not;
groups are of probe photos, while false alerts also depend on who is on the watchlist."""


@dataclass(frozen=True)
class Photo:
    """One photo's measures; ``small``: face height (px) -> embedding downscaled to it (if smaller)."""

    rel: str  # "Name/Name_0001.jpg"
    box_h: float
    yaw_deg: float
    sharpness: float
    brightness: float
    contrast: float
    small: dict[int, Vec]

    @property
    def person(self) -> str:
        return self.rel.split("/")[0]


@dataclass(frozen=True)
class Rate:
    """k errors among n photos (k may be fractional: shares over draws) from ``people`` people."""

    n: int
    k: float
    people: int

    @property
    def p(self) -> float:
        return self.k / self.n if self.n else float("nan")

    def wilson(self) -> tuple[float, float]:
        if not self.n:
            return 0.0, 1.0
        p, n = self.p, self.n
        mid = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
        half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
        return (0.0 if self.k <= 0 else max(0.0, mid - half)), (1.0 if self.k >= n else min(1.0, mid + half))


@dataclass(frozen=True)
class Tally:
    """Per photo (indexed like the set's photos): draws as a mated probe, misses, as a non-mated one, alerts."""

    mated: Counts
    missed: Counts
    non_mated: Counts
    alerted: Counts


_models: list[FaceModels] = []  # one per worker process, made on first use


def measure(job: tuple[Path, str, tuple[int, ...]]) -> Photo:
    """Box height, yaw, quality and downscaled embeddings of one photo (cached by content)."""
    images, rel, sizes = job
    data = (images / rel).read_bytes()
    embedder = Settings().face_embedder  # one embedder's measurements apart from another's (dlib's as before)
    tag = "" if embedder == "dlib-resnet-v1" else f"{embedder}-"
    key = CACHE / f"equity-{tag}{hashlib.sha256(data + repr(sizes).encode()).hexdigest()}.npz"
    if key.exists():
        z = np.load(key)
        box_h, yaw, sharp, bright, contrast = (float(x) for x in z["m"])
        return Photo(rel, box_h, yaw, sharp, bright, contrast, {s: z[f"v{s}"] for s in sizes if f"v{s}" in z})
    if not _models:
        _models.append(configured_faces())
    models = _models[0]
    img = read_rgb(images / rel)
    h, w = img.shape[:2]
    boxes = models.reference_detector.detect(img)  # the same box as lfw.embed_images takes
    box = _central(boxes, (w, h)) if boxes else (w * 0.3, h * 0.3, w * 0.7, h * 0.7)
    x0, y0, x1, y1 = (max(0, int(round(v))) for v in box)
    face = cv2.cvtColor(img[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
    m = (box[3] - box[1], yaw_deg(models.aligner.landmarks(img, box)),
         float(cv2.Laplacian(face, cv2.CV_64F).var()), float(face.mean()), float(face.std()))
    small: dict[int, Vec] = {}
    for s in sizes:
        scale = s / m[0]
        if scale < 1:
            img_s = np.asarray(cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))),
                                          interpolation=cv2.INTER_AREA), dtype=np.uint8)
            box_s = (box[0] * scale, box[1] * scale, box[2] * scale, box[3] * scale)
            small[s] = models.embedder.embed(img_s, models.aligner.landmarks(img_s, box_s))
    np.savez(key, m=np.array(m), **{f"v{s}": v for s, v in small.items()})  # type: ignore[arg-type]
    return Photo(rel, *m, small)


def yaw_deg(landmarks: Vec) -> float:
    """|yaw| estimate in degrees (module docstring); dlib's 5 points are two corners of one eye,
    two of the other, then the base of the nose."""
    a, b = landmarks[0:2].mean(axis=0), landmarks[2:4].mean(axis=0)
    eye = b - a
    r = float(np.dot(landmarks[4] - (a + b) / 2, eye)) / max(float(np.dot(eye, eye)), 1e-6)
    return math.degrees(math.atan(abs(r) / D_OVER_EYES))


def _embed_chunk(job: tuple[Path, list[str]]) -> tuple[dict[str, Vec], list[str]]:
    return (e := embed_images(*job)).vectors, e.undetected


def load_set(images: Path, sizes: tuple[int, ...]) -> tuple[list[Photo], Vec, list[str]]:
    """(photos, their full-size embeddings (photos, 128), photos with no face detected), on every core."""
    rels = sorted(f"{p.parent.name}/{p.name}" for p in images.glob("*/*.jpg"))
    CACHE.mkdir(exist_ok=True)
    procs = os.cpu_count() or 1
    with Pool(procs) as pool:
        parts = pool.map(_embed_chunk, [(images, rels[i::procs]) for i in range(procs)])
        photos = pool.map(measure, [(images, r, sizes) for r in rels], chunksize=8)
    vectors = {k: v for vs, _ in parts for k, v in vs.items()}
    return photos, np.stack([vectors[r] for r in rels]), sorted(u for _, us in parts for u in us)


def _distances(a: Vec, b: Vec) -> npt.NDArray[np.float64]:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    sq = (a64 * a64).sum(1)[:, None] + (b64 * b64).sum(1)[None, :] - 2 * a64 @ b64.T
    d: npt.NDArray[np.float64] = np.sqrt(np.maximum(sq, 0.0))
    return d


def run_draws(photos: list[Photo], native: Vec, variants: dict[str, tuple[Vec, npt.NDArray[np.bool_]]],
              size: int, repeats: int, threshold: float, max_candidates: int, seed: int) -> dict[str, Tally]:
    """Tallies per variant (probe embeddings and which photos have one) over ``repeats`` draws."""
    rng = np.random.default_rng(seed)
    persons = [p.person for p in photos]
    by_person: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(persons):
        by_person[name].append(i)
    multi = [n for n in sorted(by_person) if len(by_person[n]) > 1]
    rest = [n for n in sorted(by_person) if len(by_person[n]) == 1]
    tallies = {v: Tally(*(np.zeros(len(photos)) for _ in range(4))) for v in variants}
    for _ in range(repeats):
        pick = [str(n) for n in rng.permutation(multi)][:size]
        pick += [str(n) for n in rng.permutation(rest)][: size - len(pick)]
        refs = [int(rng.choice(by_person[n])) for n in pick]
        subject = {n: j for j, n in enumerate(pick)}
        own = np.array([subject.get(n, -1) for n in persons])
        is_ref = np.zeros(len(photos), dtype=bool)
        is_ref[refs] = True
        for v, (vecs, has) in variants.items():
            d = _distances(vecs, native[refs])
            d_own = d[np.arange(len(photos)), np.maximum(own, 0)]
            hit = (d_own <= threshold) & ((d < d_own[:, None]).sum(axis=1) < max_candidates)
            mated, non_mated = has & (own >= 0) & ~is_ref, has & (own < 0)
            t = tallies[v]
            t.mated[mated] += 1
            t.missed[mated & ~hit] += 1
            t.non_mated[non_mated] += 1
            t.alerted[non_mated & (d.min(axis=1) <= threshold)] += 1
    return tallies


def rate(tries: Counts, errors: Counts, persons: list[str], members: npt.NDArray[np.bool_]) -> Rate:
    used = members & (tries > 0)
    share = errors[used] / tries[used]
    return Rate(int(used.sum()), float(share.sum()), len({persons[i] for i in np.flatnonzero(used)}))


def band(value: float, bands: list[tuple[float, str]]) -> str:
    return next(label for edge, label in bands if value < edge)


def read_labels(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    """(group column names, photo path or person -> values) from a labels CSV."""
    rows = list(csv.reader(path.read_text().splitlines()))
    pad = [""] * (len(rows[0]) - 1)
    return rows[0][1:], {r[0].strip(): [c.strip() or "unlabelled" for c in (r[1:] + pad)[:len(pad)]]
                         for r in rows[1:] if r}


def groupings(photos: list[Photo], sizes: tuple[int, ...], labels: Path | None) -> list[Band]:
    """(grouping, band, variant, which photos) for every band, in table order."""
    out: list[Band] = []

    def add(grouping: str, key: Callable[[Photo], str], order: Sequence[str]) -> None:
        keys = [key(p) for p in photos]
        out.extend((grouping, b, "as is", [k == b for k in keys]) for b in order if b in keys)

    add("face height (detected)", lambda p: band(p.box_h, HEIGHT_BANDS), [b for _, b in HEIGHT_BANDS])
    out.extend(("face height (synthetic downscale)", f"{s} px", f"{s} px", [s in p.small for p in photos])
               for s in sizes)
    add("pose (yaw estimate)", lambda p: band(p.yaw_deg, YAW_BANDS), [b for _, b in YAW_BANDS])
    lo, hi = np.quantile([p.sharpness for p in photos], [1 / 3, 2 / 3])
    sharp = [(float(lo), f"low <{lo:.0f}"), (float(hi), f"mid {lo:.0f}–{hi:.0f}"), (math.inf, f"high ≥{hi:.0f}")]
    add("sharpness (Laplacian variance)", lambda p: band(p.sharpness, sharp), [b for _, b in sharp])
    add("brightness (mean grey)", lambda p: f"low <{DARK:.0f}" if p.brightness < DARK else "normal",
        [f"low <{DARK:.0f}", "normal"])
    add("contrast (grey s.d.)", lambda p: f"low <{FLAT:.0f}" if p.contrast < FLAT else "normal",
        [f"low <{FLAT:.0f}", "normal"])
    if labels is not None:
        columns, rows = read_labels(labels)
        for c, column in enumerate(columns):
            def value(p: Photo, c: int = c) -> str:
                return (rows.get(p.rel) or rows.get(p.person) or ["unlabelled"] * len(columns))[c]
            add(column, value, sorted({value(p) for p in photos}))
    return out


def cell(r: Rate, overall: float, width: float, digits: int) -> tuple[str, str, bool, bool]:
    """(rate with interval, comparison with the overall rate, too few to say, differs)."""
    if not r.n:
        return "—", "no photos", True, False
    lo, hi = r.wilson()
    few = r.n < MIN_N or hi - lo > width
    vs = "higher" if lo > overall else "lower" if hi < overall else "within"
    text = f"{100 * r.p:.{digits}f} % [{100 * lo:.{digits}f}–{100 * hi:.{digits}f}]"
    return text, vs + (" · too few to say" if few else ""), few, vs != "within"


def report(name: str, images: Path, labels: Path | None, args: argparse.Namespace,
           cfg: AnalysisConfig) -> tuple[str, str]:
    """(markdown for the set, its summary line)."""
    sizes = tuple(args.sizes)
    photos, native, undetected = load_set(images, sizes)
    persons = [p.person for p in photos]
    size = min(args.size, len(set(persons)) // 2)
    threshold = cfg.threshold_for(size)
    variants = {"as is": (native, np.ones(len(photos), dtype=bool))}
    for s in sizes:
        has = np.array([s in p.small for p in photos])
        variants[f"{s} px"] = (np.stack([p.small.get(s, native[i]) for i, p in enumerate(photos)]), has)
    tallies = run_draws(photos, native, variants, size, args.repeats, threshold, cfg.max_candidates, args.seed)
    everyone = np.ones(len(photos), dtype=bool)
    t = tallies["as is"]
    all_miss, all_fa = rate(t.mated, t.missed, persons, everyone), rate(t.non_mated, t.alerted, persons, everyone)
    fa_width = 2 * cfg.match_fpir
    heights = np.array([p.box_h for p in photos])
    lines = [f"### {name}", "",
             f"{len(set(persons))} people, {len(photos)} photos ({len(undetected)} with no face detected: central "
             f"box used); detected face height median {np.median(heights):.0f} px (range {heights.min():.0f}–"
             f"{heights.max():.0f}). Watchlists of {size} people (one photo each), {args.repeats} draws, seed "
             f"{args.seed}; derived threshold {threshold:.3f} (target false-alert rate {cfg.match_fpir:g}), up to "
             f"{cfg.max_candidates} candidates a probe. Overall, photos as they are: miss rate "
             f"{cell(all_miss, all_miss.p, 1, 1)[0]} over {all_miss.n} mated photos, false-alert rate "
             f"{cell(all_fa, all_fa.p, 1, 2)[0]} over {all_fa.n} non-mated photos. \"Too few to say\": n < {MIN_N} "
             f"or an interval wider than {100 * MISS_WIDTH:.0f} (misses) / {100 * fa_width:g} (false alerts) "
             "percentage points.", "",
             "| grouping | band | mated photos (people) | misses | miss rate [95 % CI] | vs all |"
             " non-mated photos (people) | false alerts | false-alert rate [95 % CI] | vs all |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    counted, few_n, differ = 0, 0, []
    for grouping, label, variant, members in groupings(photos, sizes, labels):
        t, mask = tallies[variant], np.array(members)
        miss, fa = rate(t.mated, t.missed, persons, mask), rate(t.non_mated, t.alerted, persons, mask)
        m_text, m_vs, m_few, m_diff = cell(miss, all_miss.p, MISS_WIDTH, 1)
        f_text, f_vs, f_few, f_diff = cell(fa, all_fa.p, fa_width, 2)
        lines.append(f"| {grouping} | {label} | {miss.n} ({miss.people}) | {miss.k:.1f} | {m_text} | {m_vs} |"
                     f" {fa.n} ({fa.people}) | {fa.k:.1f} | {f_text} | {f_vs} |")
        counted, few_n = counted + 2, few_n + m_few + f_few
        differ += [f"{grouping} {label}: misses {m_vs.split(' ')[0]}"] * (m_diff and not m_few)
        differ += [f"{grouping} {label}: false alerts {f_vs.split(' ')[0]}"] * (f_diff and not f_few)
    lines += ["", f"{counted} rates (misses and false alerts of {counted // 2} bands): {few_n} too few to say; "
              f"outside the overall rate with enough photos to say: {'; '.join(differ) or 'none'}.", ""]
    summary = (f"{name}: miss={all_miss.p:.4f} false_alert={all_fa.p:.4f} groups={counted} too_few={few_n} "
               f"differ={len(differ)}")
    return "\n".join(lines), summary


def write_results(body: str) -> None:
    """Replace the issue 19 section of benchmarks/RESULTS.md (up to the next "## "), or append it."""
    path = ROOT / "benchmarks" / "RESULTS.md"
    text = path.read_text()
    wrap = textwrap.TextWrapper(100, break_on_hyphens=False)  # prose only: table rows and commands stay whole
    body = "\n".join(ln if ln.startswith(("|", "python ")) else wrap.fill(ln) for ln in body.split("\n"))
    start = text.find(SECTION)
    if start < 0:
        path.write_text(text.rstrip("\n") + "\n\n" + body)
        return
    end = text.find("\n## ", start + len(SECTION))
    path.write_text(text[:start] + body + ("\n" + text[end + 1:] if end >= 0 else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, nargs="+", default=[Path("samples/faces")])
    ap.add_argument("--labels", nargs="*", default=[], help="one CSV per --images, in order; '-' for none")
    ap.add_argument("--size", type=int, default=100, help="people enrolled (at most half the set's people)")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[24, 32, 48, 80],
                    help="face heights (px) to downscale the probes to")
    ap.add_argument("--write-results", action="store_true")
    args = ap.parse_args()
    cfg = AnalysisConfig.from_settings(Settings(), configured_faces())
    started, cold = time.perf_counter(), not any(CACHE.glob("equity-*"))
    parts, summaries = [], []
    for i, images in enumerate(args.images):
        label = args.labels[i] if i < len(args.labels) and args.labels[i] != "-" else None
        text, summary = report(str(images), shared_data(ROOT / images), ROOT / label if label else None, args, cfg)
        print(text)
        parts.append(text)
        summaries.append(summary)
    seconds = time.perf_counter() - started
    if args.write_results:
        command = shlex.join(["python", "benchmarks/equity.py", *sys.argv[1:]])
        write_results("\n".join([
            SECTION, "", "```", command, "```", "",
            f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} cores in {seconds:.0f} s "
            f"({'every photo embedded: empty' if cold else 'embeddings read from a filled'} benchmarks/.cache). "
            "Protocol, bands and intervals: `benchmarks/equity.py`'s docstring. A miss: a mated probe whose own "
            "subject is not among the candidates raised; a false alert: a non-mated probe raising any.", "",
            *parts, " ".join(NOT_MEASURED.split()), ""]))
    print(f"seconds={seconds:.0f}")
    print(" | ".join(summaries))


if __name__ == "__main__":
    main()
