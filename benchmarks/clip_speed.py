"""Speed of `evidence process` on a 60 s 1080p clip against the physical limit and the plain way,
in one run:

  decode-only   ffmpeg -i CLIP -f null -           (the physical limit: every frame decoded)
  evidence      evidence process CLIP --json        (the face chain, fresh data dir, watchlist;
                EVIDENCE_WORKING_COPY=false: the working copy is timed on its own line;
                EVIDENCE_PLATES=false: with --plates a second row adds the plate search)
  plain         face_recognition's defaults on every sampled frame: HOG with one upsample on the
                full frame, every detection encoded (dlib called directly with exactly the calls
                face_recognition.face_locations / face_encodings(model="small") make)

    python benchmarks/clip_speed.py                 # builds samples/out/long_1080p_60s.mp4 if missing
    python benchmarks/clip_speed.py --clip X.mp4 --plain-seconds 20
    python benchmarks/clip_speed.py --plates --skip-plain     # + the row with the plate search on
    python benchmarks/clip_speed.py --runtimes onnx,dlib      # the face embedder in onnxruntime and in dlib

Prints wall times (medians of --repeats interleaved runs), the ratio to decode-only, time to the
first candidate and peak memory."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import admin_env, describe_clip, ensure_samples

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """(wall seconds, peak RSS of the command's biggest process in MB, stdout)."""
    wrapper = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
               "sys.stderr.write(r.stderr); print(r.stdout); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
               "sys.exit(r.returncode)")
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {res.stderr[-2000:]}")
    *out, rss = res.stdout.rstrip("\n").rsplit("\n", 1)
    return wall, int(rss) // 1024, "\n".join(out)


def plain_approach(clip: Path, fps: float, seconds: float | None) -> tuple[float, int, int]:
    """(wall s, frames, faces encoded) for face_recognition's default recipe on sampled frames."""
    import dlib
    import face_recognition_models as frm
    import numpy as np

    from evidence.mediaio import iter_frames, probe_media

    detector = dlib.get_frontal_face_detector()
    pose = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    encoder = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    info = probe_media(clip)
    t = time.perf_counter()
    frames = faces = 0
    for frame in iter_frames(clip, info, fps):
        if seconds is not None and frame.t_s >= seconds:
            break
        frames += 1
        for rect in detector(frame.image, 1):  # face_locations(img): number_of_times_to_upsample=1
            shape = pose(frame.image, rect)
            np.array(encoder.compute_face_descriptor(frame.image, shape, 1))  # face_encodings: num_jitters=1
            faces += 1
    return time.perf_counter() - t, frames, faces


def working_copy_time(clip: Path) -> float:
    from evidence.filestore import FileStore
    from evidence.mediaio import probe_media
    from evidence.workingcopy import make_working_copy

    info = probe_media(clip)
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        make_working_copy(FileStore(Path(d)), clip, info)
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, default=ROOT / "samples" / "out" / "long_1080p_60s.mp4")
    ap.add_argument("--watchlist", type=Path, default=ROOT / "samples" / "out" / "watchlist")
    ap.add_argument("--fps", type=float, default=2.0)
    ap.add_argument("--plain-seconds", type=float, default=None, help="run the plain approach on the first N s only")
    ap.add_argument("--skip-plain", action="store_true")
    ap.add_argument("--repeats", type=int, default=3, help="decode-only and evidence runs, interleaved; medians reported")
    ap.add_argument("--plates", action="store_true", help="also time evidence process with the plate search on")
    ap.add_argument("--runtimes", default="onnx", help="face embedder runtimes to time side by side, interleaved "
                    "(EVIDENCE_FACE_EMBEDDER_RUNTIME; e.g. onnx,dlib); the plate row uses the first")
    args = ap.parse_args()
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    ensure_samples(args.clip, ["--seconds", "60"], args.watchlist)
    duration, clip_line = describe_clip(args.clip)
    print(f"{clip_line}; sampling {args.fps:g} fps")

    decodes, walls, rsss, firsts, ratios, plate_walls = [], [], [], [], [], []

    def process(plates: bool, runtime: str) -> tuple[float, int, dict]:
        with tempfile.TemporaryDirectory() as data:
            env = {**os.environ, "EVIDENCE_DATA_DIR": data, "EVIDENCE_SAMPLE_FPS": str(args.fps),
                   "EVIDENCE_WORKING_COPY": "false", "EVIDENCE_PLATES": str(plates).lower(),
                   "EVIDENCE_FACE_EMBEDDER_RUNTIME": runtime}
            env.pop("EVIDENCE_DATABASE_URL", None)
            env.pop("EVIDENCE_REDIS_URL", None)
            env = admin_env(env)
            subprocess.run([str(BIN / "evidence"), "watchlist", "import", str(args.watchlist)], env=env, check=True,
                           capture_output=True)
            wall, rss, out = timed([str(BIN / "evidence"), "process", str(args.clip), "--json"], env)
        return wall, rss, json.loads(out)

    others: dict[str, list[tuple[float, dict]]] = {r: [] for r in runtimes[1:]}
    for _ in range(args.repeats):  # interleaved, so a noisy neighbour hits both sides alike
        decodes.append(timed(["ffmpeg", "-nostdin", "-v", "error", "-i", str(args.clip), "-f", "null", "-"])[0])
        wall, rss, result = process(False, runtimes[0])
        for r in runtimes[1:]:
            w, _, res = process(False, r)
            others[r].append((w, res))
        if args.plates:
            plate_walls.append(process(True, runtimes[0])[0])
        walls.append(wall)
        rsss.append(rss)
        firsts.append(result["timing"]["first_candidate_s"])
        ratios.append(wall / decodes[-1])
    decode, wall, rss = statistics.median(decodes), statistics.median(walls), max(rsss)
    first = statistics.median(f for f in firsts if f is not None) if any(f is not None for f in firsts) else None
    ratio = statistics.median(ratios)
    print(f"decode-only (ffmpeg -f null):      {decode:7.2f} s  ({duration / decode:.1f}x real time); "
          f"runs {', '.join(f'{d:.2f}' for d in decodes)}")
    print(f"evidence process (whole command, embedder in {runtimes[0]}):")
    print(f"                                   {wall:7.2f} s  = {ratio:.2f}x decode-only "
          f"({duration / wall:.1f}x real time); peak memory {rss} MB; runs {', '.join(f'{w:.2f}' for w in walls)}")
    print(f"  tracks {result['tracks']}, candidates {len(result['candidates'])}: "
          f"{sorted({c['subject'] for c in result['candidates']})}")
    print(f"  first candidate {first:.2f} s after the command started processing" if first is not None
          else "  no candidate")
    for r, runs in others.items():
        w = statistics.median(x for x, _ in runs)
        res = runs[-1][1]
        print(f"evidence process, embedder in {r}: {w:7.2f} s  = {w / decode:.2f}x decode-only; "
              f"runs {', '.join(f'{x:.2f}' for x, _ in runs)}; tracks {res['tracks']}, candidates "
              f"{len(res['candidates'])}: {sorted({c['subject'] for c in res['candidates']})}")
    if plate_walls:
        pw = statistics.median(plate_walls)
        print(f"  + plate search (EVIDENCE_PLATES=true): {pw:7.2f} s  = {pw / decode:.2f}x decode-only; "
              f"runs {', '.join(f'{w:.2f}' for w in plate_walls)}")
    print(f"working copy + contact sheet (made once, on its own): {working_copy_time(args.clip):7.2f} s")
    if not args.skip_plain:
        p_wall, frames, faces = plain_approach(args.clip, args.fps, args.plain_seconds)
        span = min(duration, args.plain_seconds or duration)
        scaled = p_wall * duration / span
        print(f"plain approach ({frames} frames, {faces} faces encoded over {span:.0f} s): {p_wall:7.2f} s"
              f"{f' -> {scaled:.1f} s for the whole clip' if span < duration else ''}"
              f" = {scaled / decode:.2f}x decode-only")
    print(f"ratio_to_decode={ratio:.3f} first_candidate_s={first} peak_mb={rss}")


if __name__ == "__main__":
    main()
