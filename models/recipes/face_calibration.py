"""Recipe for models/face_calibration.json: how often two photos of *different* people come out
within a distance t of each other (the false-match rate, FMR) with the project's own face path.

    python models/recipes/face_calibration.py --images ../shared/data/faces/lfw/images

Every cross-identity pair of the images is measured (689,383 pairs on LFW View 2 fold 1). The
watchlist threshold is derived from this curve at run time (pipeline.watchlist.watchlist_threshold):
a probe compared with R reference photos falsely alerts with probability about R x FMR(t)."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from lfw import embed_images  # noqa: E402

FMRS = [10 ** (-k / 4) for k in range(4, 25)]  # 1e-1 .. 1e-6, four points a decade


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "face_calibration.json")
    args = ap.parse_args()
    names = [f"{p.parent.name}/{p.name}" for p in sorted(args.images.glob("*/*.jpg"))]
    vec = embed_images(args.images, names).vectors
    x = np.stack([vec[n] for n in names])
    ids = np.array([n.split("/")[0] for n in names])
    iu = np.triu_indices(len(x), 1)
    different = ids[iu[0]] != ids[iu[1]]
    d = np.linalg.norm(x[iu[0][different]] - x[iu[1][different]], axis=1)
    table = {
        "what": "false-match rate of the 128-d dlib embedding (5-point alignment) vs Euclidean distance",
        "data": f"LFW View 2 fold 1 deep-funnelled images: {len(names)} photos, {len(set(ids))} people, "
                f"{len(d)} different-person pairs",
        "recipe": "models/recipes/face_calibration.py",
        "fmr_threshold": [[fmr, round(float(np.quantile(d, fmr)), 4)] for fmr in FMRS],
    }
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    print(args.out, hashlib.sha256(args.out.read_bytes()).hexdigest())


if __name__ == "__main__":
    main()
