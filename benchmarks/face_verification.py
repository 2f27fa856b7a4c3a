"""Face verification accuracy on an LFW-format pairs file, with the project's own detection and
embedding path.

    python benchmarks/face_verification.py --pairs ../shared/data/faces/lfw/pairs.txt \\
        --images ../shared/data/faces/lfw/images

Prints accuracy at the one-to-one threshold 0.6 (dlib's customary value, not tuned here), the best
threshold on these very pairs (optimistic: tuned on the test data, shown only for reference), time
per image, and last ``accuracy=<0..1>`` (at 0.6)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import shared_data  # noqa: E402
from lfw import embed_images  # noqa: E402

ONE_TO_ONE_THRESHOLD = 0.6


def read_pairs(path: Path) -> list[tuple[str, str, bool]]:
    pairs = []
    for line in path.read_text().splitlines()[1:]:
        f = line.split("\t")
        if len(f) == 3:
            pairs.append((f"{f[0]}/{f[0]}_{int(f[1]):04d}.jpg", f"{f[0]}/{f[0]}_{int(f[2]):04d}.jpg", True))
        elif len(f) == 4:
            pairs.append((f"{f[0]}/{f[0]}_{int(f[1]):04d}.jpg", f"{f[2]}/{f[2]}_{int(f[3]):04d}.jpg", False))
    return pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--images", type=Path, required=True)
    ap.add_argument("--no-cache", action="store_true", help="recompute every embedding (honest time per image)")
    args = ap.parse_args()
    pairs = read_pairs(shared_data(args.pairs))
    names = sorted({p for a, b, _ in pairs for p in (a, b)})
    t0 = time.perf_counter()
    emb = embed_images(shared_data(args.images), names, use_cache=not args.no_cache)
    d = np.array([np.linalg.norm(emb.vectors[a] - emb.vectors[b]) for a, b, _ in pairs])
    same = np.array([s for _, _, s in pairs])
    acc = float(np.mean((d <= ONE_TO_ONE_THRESHOLD) == same))
    grid = np.arange(0.30, 0.80, 0.005)
    accs = [float(np.mean((d <= t) == same)) for t in grid]
    best = int(np.argmax(accs))
    print(f"pairs={len(pairs)} (same={int(same.sum())}) images={len(names)} "
          f"no_face_detected={len(emb.undetected)} (central box used)")
    print(f"time_per_image_ms={emb.seconds_per_image * 1000:.1f} (uncached images; total {time.perf_counter() - t0:.1f} s)")
    print(f"same-person distance: median {np.median(d[same]):.3f}; different: median {np.median(d[~same]):.3f}")
    print(f"accuracy at best threshold {grid[best]:.3f} (tuned on these pairs, optimistic) = {accs[best]:.4f}")
    print(f"accuracy={acc:.4f}")


if __name__ == "__main__":
    main()
