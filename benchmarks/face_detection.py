"""Face detection on small and turned faces in 1080p: recall and time per frame, CenterFace
(the footage detector), YuNet (selectable) and dlib's HOG (the detector before them), in one run.

    python benchmarks/face_detection.py [--sizes 40,48,64,80,100] [--yaws 0,45,60] [--frames 3]
    python benchmarks/face_detection.py --fit-alignment [--photos 400]   # YuNet's and CenterFace's HOG-shaped box
    python benchmarks/face_detection.py --dusk      # the dusk phone clip: each person found, frame by frame
    python benchmarks/face_detection.py --redaction # disclosure copies: which scales and score find every face

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
from models.dlib_faces import DlibAligner, DlibEmbedder, DlibHogDetector  # noqa: E402
from models.yunet import YuNetDetector  # noqa: E402
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


def fit_alignment(n_photos: int) -> None:
    """How HOG's box (what dlib's shape predictor was trained on) sits on each detector's box, over
    LFW photos both find one face in: median side ratio and centre offsets; and how far the
    embedding through the derived box lies from the embedding through HOG's own box."""
    hog, aligner, embedder = DlibHogDetector(max_in_use=1), DlibAligner(max_in_use=1), DlibEmbedder()
    photos = sorted(shared_data(SHARED_LFW).glob("*/*.jpg"))[:n_photos]
    for det in (CenterFaceDetector(threads=1), YuNetDetector(max_in_use=1)):
        side, dx, dy, kept = [], [], [], []
        for path in photos:
            img = np.ascontiguousarray(cv2.imread(str(path))[..., ::-1])
            a, b = hog.detect(img), det.detect(img)
            if len(a) != 1 or len(b) != 1:
                continue
            (h0, h1, h2, h3), (d0, d1, d2, d3) = a[0][0], b[0][0]
            w, h = d2 - d0, d3 - d1
            side.append((h2 - h0) / w)
            dx.append(((h0 + h2) - (d0 + d2)) / 2 / w)
            dy.append(((h1 + h3) - (d1 + d3)) / 2 / h)
            kept.append((img, a[0][0], b[0][0]))
        distances, raw = [], []
        for img, hog_box, box in kept[:150]:
            ref = embedder.embed(img, aligner.landmarks(img, hog_box))
            distances.append(float(np.linalg.norm(ref - embedder.embed(img, aligner.landmarks(img, det.alignment_box(box))))))
            raw.append(float(np.linalg.norm(ref - embedder.embed(img, aligner.landmarks(img, box)))))
        print(f"{type(det).__name__}: {len(kept)} photos found by both; HOG side {np.median(side):.3f} widths, "
              f"centre dx {np.median(dx):+.3f} widths, dy {np.median(dy):+.3f} heights; embedding distance to "
              f"HOG's own box: median {np.median(distances):.3f} through alignment_box, "
              f"{np.median(raw):.3f} through the detector's box as it is")


def dusk_recall(detectors: list[tuple[str, object, float]]) -> None:
    """The dusk phone clip of tests/test_face_detection.py (1080x1920 on its side, a third of the
    light, grain, motion smear; faces 48-80 px, two turned 45-50 degrees): the share of (sampled
    frame, person on screen) pairs with a detection within 40 px of the person, each person's
    share, and ms a frame, at 2 frames a second as the pipeline samples."""
    import tempfile

    from evidence.mediaio import iter_frames, probe_media
    from samples.make_samples import dusk_people, render_clip

    people = dusk_people()
    clip = render_clip(Path(tempfile.mkdtemp()) / "dusk.mp4", people, 15.0, size_wh=(1080, 1920), rotate_90=True,
                       seed=7, fps=30, dusk=True)
    frames = list(iter_frames(clip, probe_media(clip), 2.0))

    print(f"{'dusk clip, detector':34} {'scale':>5} | all   " + " ".join(f"{p.name[:8]:>8}" for p in people)
          + " | ms/frame")
    for label, det, min_px in detectors:
        scale = detection_scale(min_px, det.min_face_px)  # type: ignore[attr-defined]
        hits = {p.name: [0, 0] for p in people}
        times = []
        for f in frames:
            t = time.perf_counter()
            img = cv2.resize(f.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else f.image
            pts = [((b[0] + b[2]) / 2 / scale, (b[1] + b[3]) / 2 / scale)
                   for b, _ in det.detect(np.ascontiguousarray(img))]  # type: ignore[attr-defined]
            times.append(time.perf_counter() - t)
            for p in people:
                if p.t_in_s + 0.25 <= f.t_s < p.t_out_s - 0.25:
                    x, y = p.centre_at(f.t_s, (1080, 1920))
                    hits[p.name][0] += any(abs(px - x) < 40 and abs(py - y) < 40 for px, py in pts)
                    hits[p.name][1] += 1
        total = sum(h for h, _ in hits.values()) / sum(n for _, n in hits.values())
        print(f"{label:34} {scale:5.3f} | {total:.2f}  " + " ".join(f"{h / n:8.2f}" for h, n in hits.values())
              + f" | {np.median(times) * 1000:8.0f}")


REDACTION_SCHEDULES = [  # (label, scales of the copy, lowest score kept)
    ("1x + 1.5x, 0.35 (before)", (1.0, 1.5), 0.35), ("1x, 0.35", (1.0,), 0.35), ("1x, 0.25", (1.0,), 0.25),
    ("1x, 0.15 (now)", (1.0,), 0.15), ("1.25x, 0.35", (1.25,), 0.35)]


def _redaction_row(label: str, scales: tuple[float, ...], thr: float,
                   cases: list[tuple[np.ndarray, list[tuple[float, float, float]]]], cf: CenterFaceDetector) -> str:
    """Faces found (a box centre within one face width), boxes on no face, ms a frame."""
    found = false = total = 0
    times = []
    for image, truth in cases:
        t = time.perf_counter()
        boxes = []
        for k in scales:
            seen = image if k == 1.0 else np.ascontiguousarray(cv2.resize(image, None, fx=k, fy=k,
                                                                          interpolation=cv2.INTER_LINEAR))
            boxes += [(b[0] / k, b[1] / k, b[2] / k, b[3] / k) for b, s in cf.detect(seen) if s >= thr]
        times.append(time.perf_counter() - t)
        centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes]
        found += sum(any(abs(x - cx) < w and abs(y - cy) < w for x, y in centres) for cx, cy, w in truth)
        false += sum(not any(abs(x - cx) < w and abs(y - cy) < w for cx, cy, w in truth) for x, y in centres)
        total += len(truth)
    return f"{label:26} | {found:4d}/{total:<4d} {total - found:6d} {false:6d} | {np.median(times) * 1000:8.0f}"


def redaction_recall(sizes: list[int], yaws: list[float], yaw_size: int, n_frames: int) -> None:
    """Disclosure copies (``evidence.redaction``): faces are searched in the working copy (1080p
    shrunk to 720p, so a 40 px face is 27 px) at 5 frames a second; a face missed is disclosed. Each
    schedule (the copy's scales and the lowest CenterFace score kept) on the street frames (faces of
    ``sizes`` px in the 1080p original, and turned) and on every 6th frame of the dusk clip's
    720x1280 copy: faces missed, boxes on no face, ms a frame (one thread)."""
    import subprocess
    import tempfile

    from evidence.mediaio import iter_frames, probe_media
    from pipeline.media import working_copy_args
    from samples.make_samples import dusk_people, render_clip

    cases = []
    for px, yaw in [(px, 0.0) for px in sizes] + [(yaw_size, y) for y in yaws if y > 0]:
        for seed in range(n_frames):
            frame, centres = frame_with_faces(px, 5 + seed, yaw)
            small = np.ascontiguousarray(cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_AREA))
            cases.append((small, [(x * 2 / 3, y * 2 / 3, px * 2 / 3) for x, y in centres]))
    people = dusk_people()
    d = Path(tempfile.mkdtemp())
    clip = render_clip(d / "dusk.mp4", people, 15.0, size_wh=(1080, 1920), rotate_90=True, seed=7, fps=30, dusk=True)
    copy = d / "copy.mp4"
    subprocess.run(working_copy_args(str(clip), str(copy), probe_media(clip)), check=True)
    info = probe_media(copy)
    w, h = info.display_wh
    dusk = []
    for f in iter_frames(copy, info, None):
        if f.index % 6 == 0:
            t_s = f.index / info.fps
            dusk.append((f.image, [(*p.centre_at(t_s, (w, h)), 40.0) for p in people if p.t_in_s <= t_s < p.t_out_s]))
    cf = CenterFaceDetector(threads=1, threshold=0.05)
    for name, data in (("street frames, 720p copy", cases), ("dusk clip, 720x1280 copy", dusk)):
        print(f"{name:26} | found       missed  false | ms/frame")
        for label, scales, thr in REDACTION_SCHEDULES:
            print(_redaction_row(label, scales, thr, data, cf))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="40,48,64,80,100")
    ap.add_argument("--yaws", default="0,45,60", help="turned faces: yaw angles (degrees), at --yaw-size px")
    ap.add_argument("--yaw-size", type=int, default=80)
    ap.add_argument("--frames", type=int, default=3, help="frames (backgrounds) per face size")
    ap.add_argument("--fit-alignment", action="store_true", help="fit each detector's HOG-shaped box on LFW")
    ap.add_argument("--photos", type=int, default=400, help="--fit-alignment: LFW photos to look at")
    ap.add_argument("--dusk", action="store_true", help="recall on the dusk phone clip instead")
    ap.add_argument("--redaction", action="store_true", help="disclosure copies: faces missed by each schedule")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    if args.fit_alignment:
        fit_alignment(args.photos)
        return
    if args.redaction:
        redaction_recall([int(s) for s in args.sizes.split(",")], [float(y) for y in args.yaws.split(",")],
                         args.yaw_size, args.frames)
        return
    cf, hog, yn = CenterFaceDetector(threads=1), DlibHogDetector(max_in_use=1), YuNetDetector(max_in_use=1)
    if args.dusk:
        dusk_recall([("HOG, min 54 px", hog, 54.0), ("CenterFace, min 40 px", cf, 40.0), ("YuNet, min 40 px", yn, 40.0)])
        return
    detectors = [  # (label, detector, smallest face the pipeline asks of it)
        ("HOG, min 80 px (before)", hog, 80.0), ("HOG, min 54 px (full size)", hog, 54.0),
        ("CenterFace, min 48 px", cf, 48.0), ("CenterFace, min 40 px (default)", cf, 40.0),
        ("YuNet, min 48 px", yn, 48.0), ("YuNet, min 40 px", yn, 40.0)]
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
