"""Face detection on small and turned faces in 1080p: recall and time per frame, CenterFace
(the footage detector) against dlib's HOG (the detector before it), in one run.

    python benchmarks/face_detection.py [--sizes 40,48,64,80,100] [--yaws 0,45,60] [--frames 3]

Twelve LFW faces (people of ../shared fold 1) are composited at a given face width into 1920x1080
street frames. *Turned* faces are the same photos turned by the yaw angle about the vertical axis
as a flat picture (perspective: narrower, the far side shorter) — rendered, not real profiles,
which hide one eye. Each detector runs on the frame scaled as the pipeline scales it for its
smallest face (``pipeline.faces.detection_scale``); a face counts as found when a box centre lies
within one face width of it. Time is the median per frame, on one thread, scaling included."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from samples.make_samples import _background, _face_sprite, _paste, lfw_photo, turned  # noqa: E402

from models.centerface import CenterFaceDetector  # noqa: E402
from models.dlib_faces import DlibHogDetector  # noqa: E402
from pipeline.faces import detection_scale  # noqa: E402
from harness import SHARED_LFW, shared_data  # noqa: E402

PEOPLE = [("Gordon_Brown", 6), ("Kim_Clijsters", 8), ("Vaclav_Havel", 2), ("Jimmy_Carter", 4), ("Tom_Ridge", 10),
          ("Jose_Serra", 4), ("John_McCain", 3), ("Jennifer_Garner", 7), ("Hugo_Chavez", 5),
          ("Lleyton_Hewitt", 3), ("Paul_Bremer", 2), ("John_Snow", 2)]


def frame_with_faces(face_px: int, seed: int, yaw: float = 0.0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    frame = _background(1920, 1080, seed)[40:1120, 100:2020].copy()
    centres = []
    for k, (name, i) in enumerate(PEOPLE):
        rgb, alpha = turned(*_face_sprite(lfw_photo(name, i, shared_data(SHARED_LFW)), face_px), yaw)
        cx, cy = 180 + (k % 6) * 310, 250 + (k // 6) * 500
        _paste(frame, rgb, alpha, cx, cy)
        centres.append((cx, cy))
    return frame, centres


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="40,48,64,80,100")
    ap.add_argument("--yaws", default="0,45,60", help="turned faces: yaw angles (degrees), at --yaw-size px")
    ap.add_argument("--yaw-size", type=int, default=80)
    ap.add_argument("--frames", type=int, default=3, help="frames (backgrounds) per face size")
    args = ap.parse_args()
    cf, hog = CenterFaceDetector(threads=1), DlibHogDetector(max_in_use=1)
    detectors = [  # (label, detector, smallest face the pipeline asks of it)
        ("HOG, min 80 px (before)", hog, 80.0), ("HOG, min 54 px (full size)", hog, 54.0),
        ("CenterFace, min 48 px", cf, 48.0), ("CenterFace, min 40 px (default)", cf, 40.0)]
    sizes = [int(s) for s in args.sizes.split(",")]
    yaws = [float(y) for y in args.yaws.split(",")]
    cases = [(px, 0.0) for px in sizes] + [(args.yaw_size, y) for y in yaws if y > 0]
    frames = {(px, yaw, seed): frame_with_faces(px, 5 + seed, yaw) for px, yaw in cases for seed in range(args.frames)}
    head = " ".join(f"{px:>4}px" if yaw == 0 else f"{int(yaw):>3}deg" for px, yaw in cases)
    print(f"{'detector':34} {'scale':>5} | {head} | ms/frame")
    for label, det, min_px in detectors:
        scale = detection_scale(min_px, det.min_face_px)
        recalls, times = [], []
        for px, yaw in cases:
            found = total = 0
            for seed in range(args.frames):
                frame, centres = frames[(px, yaw, seed)]
                t = time.perf_counter()
                img = frame if scale >= 1 else cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                boxes = [b for b, _ in det.detect(np.ascontiguousarray(img))]
                times.append(time.perf_counter() - t)
                pts = [((b[0] + b[2]) / 2 / scale, (b[1] + b[3]) / 2 / scale) for b in boxes]
                found += sum(any(abs(x - cx) < px and abs(y - cy) < px for x, y in pts) for cx, cy in centres)
                total += len(centres)
            recalls.append(found / total)
        print(f"{label:34} {scale:5.3f} | " + " ".join(f"{r:>6.2f}" for r in recalls)
              + f" | {np.median(times) * 1000:8.0f}")
    print(f"(turned faces at {args.yaw_size} px; {args.frames} frames of 12 faces per column)")


if __name__ == "__main__":
    main()
