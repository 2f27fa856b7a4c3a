"""Face detection on small faces in 1080p: recall and time per frame for each detector setting.

    python benchmarks/face_detection.py [--sizes 56,64,72,80,100,120] [--frames 3]

Twelve LFW faces (people of ../shared fold 1) are composited at a given face width into 1920x1080
street frames; dlib's HOG detector runs on the frame scaled by s (no upsampling) or at full size
with one upsample, on RGB or on luminance. A face counts as found when a box centre lies within
one face width of it. This is how the defaults (min_face_px 80 -> scale 0.675, grayscale) were
chosen: the smallest face found reliably vs time per frame."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from samples.make_samples import _background, _face_sprite, _paste, lfw_photo  # noqa: E402

from pipeline.faces import detection_scale  # noqa: E402
from harness import SHARED_LFW, shared_data  # noqa: E402

PEOPLE = [("Gordon_Brown", 6), ("Kim_Clijsters", 8), ("Vaclav_Havel", 2), ("Jimmy_Carter", 4), ("Tom_Ridge", 10),
          ("Jose_Serra", 4), ("John_McCain", 3), ("Jennifer_Garner", 7), ("Hugo_Chavez", 5),
          ("Lleyton_Hewitt", 3), ("Paul_Bremer", 2), ("John_Snow", 2)]
SETTINGS = [(1.0, 1, "rgb"), (1.0, 0, "rgb"), (0.8, 0, "rgb"), (detection_scale(80), 0, "rgb"),
            (detection_scale(80), 0, "gray"), (0.5, 0, "rgb"), (0.5, 0, "gray")]


def frame_with_faces(face_px: int, seed: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    frame = _background(1920, 1080, seed)[40:1120, 100:2020].copy()
    centres = []
    for k, (name, i) in enumerate(PEOPLE):
        rgb, alpha = _face_sprite(lfw_photo(name, i, shared_data(SHARED_LFW)), face_px)
        cx, cy = 180 + (k % 6) * 310, 250 + (k // 6) * 500
        _paste(frame, rgb, alpha, cx, cy)
        centres.append((cx, cy))
    return frame, centres


def main() -> None:
    import dlib

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="56,64,72,80,100,120")
    ap.add_argument("--frames", type=int, default=3, help="frames (backgrounds) per face size")
    args = ap.parse_args()
    detector = dlib.get_frontal_face_detector()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'scale':>6} {'up':>3} {'input':>5} | " + " ".join(f"{s:>5}px" for s in sizes) + " | ms/frame")
    for scale, up, mode in SETTINGS:
        recalls, times = [], []
        for px in sizes:
            found = total = 0
            for seed in range(args.frames):
                frame, centres = frame_with_faces(px, 5 + seed)
                t = time.perf_counter()
                img = frame if scale >= 1 else cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                if mode == "gray":
                    img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
                rects = detector(img, up)
                times.append(time.perf_counter() - t)
                pts = [((r.left() + r.right()) / 2 / scale, (r.top() + r.bottom()) / 2 / scale) for r in rects]
                found += sum(any(abs(x - cx) < px and abs(y - cy) < px for x, y in pts) for cx, cy in centres)
                total += len(centres)
            recalls.append(found / total)
        print(f"{scale:>6.3f} {up:>3} {mode:>5} | " + " ".join(f"{r:>7.2f}" for r in recalls)
              + f" | {np.median(times) * 1000:8.0f}")


if __name__ == "__main__":
    main()
