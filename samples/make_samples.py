"""Build synthetic H.264 test clips from real LFW face photos (the few in samples/faces/, see its
README for their source and terms; benchmarks pass the full set in ../shared).

Faces are cut from the deep-funnelled LFW photos with a feathered ellipse, scaled and moved over a
procedural street-like background, and encoded with the ffmpeg CLI (frames are piped, never held
whole). Every clip gets a ground-truth JSON file: who appears, from when to when, which photo.

    python samples/make_samples.py                 # the demo set into samples/out/
    python samples/make_samples.py --scenario long --seconds 60 --out /tmp/clips

Scenarios
    demo    public_1080p.mp4 (1920x1080, no audio, 20 s) and phone_vertical.mp4 (stored 1920x1080
            with a 90-degree display rotation, shown 1080x1920), plus watchlist/<Name>/*.jpg made of
            *other* photos of the people on the watchlist.
    unseen  a clip of identities the demo never uses (for the open-set test).
    long    a 1080p clip of --seconds seconds for benchmarks/clip_speed.py.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: make `samples.plates` importable
    sys.path.insert(0, str(ROOT))
from samples.plates import car_sprite  # noqa: E402
FACES = ROOT / "samples" / "faces"  # <Name>/<Name>_NNNN.jpg
FPS = 25


@dataclass(frozen=True)
class Appearance:
    """One person crossing the frame. Positions are centre fractions of the frame; face_px is the
    approximate face width (pixels) at entry and exit; yaw_deg turns the face (rendered: the photo
    turned as a flat picture about its vertical axis)."""

    name: str
    photo: str
    t_in_s: float
    t_out_s: float
    start_xy: tuple[float, float]
    end_xy: tuple[float, float]
    face_px: tuple[int, int]
    on_watchlist: bool
    yaw_deg: float = 0.0

    def centre_at(self, t_s: float, size_wh: tuple[int, int]) -> tuple[float, float]:
        """Where the face's centre is at ``t_s``, in pixels of a frame of ``size_wh``: where it is
        drawn, and the ground truth the tests and benchmarks check against."""
        u = (t_s - self.t_in_s) / max(1e-6, self.t_out_s - self.t_in_s)
        return ((self.start_xy[0] + (self.end_xy[0] - self.start_xy[0]) * u) * size_wh[0],
                (self.start_xy[1] + (self.end_xy[1] - self.start_xy[1]) * u) * size_wh[1])


@dataclass(frozen=True)
class Vehicle:
    """A car crossing the frame with its plate showing. ``plate_px`` is the plate's width at entry
    and exit; positions are fractions of the frame (the car's centre)."""

    plate: str
    format: str
    t_in_s: float
    t_out_s: float
    start_xy: tuple[float, float]
    end_xy: tuple[float, float]
    plate_px: tuple[int, int]
    font: str = "roadgeek_d"
    rear: bool = True
    seed: int = 0
    country: str | None = None  # a plate of another country (samples.plates.NATIONAL, "US"): format "foreign"
    parts: tuple[str, ...] = ()  # how a foreign plate spaces its characters


def lfw_photo(name: str, index: int, root: Path = FACES) -> Path:
    return root / name / f"{name}_{index:04d}.jpg"


def _face_sprite(photo: Path, face_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (rgb, alpha) of the head cut from an LFW photo, scaled so the face is ~face_px wide."""
    bgr = cv2.imread(str(photo))
    if bgr is None:
        raise FileNotFoundError(photo)
    h, w = bgr.shape[:2]
    alpha = np.zeros((h, w), np.float32)
    cv2.ellipse(alpha, (w // 2, int(h * 0.47)), (int(w * 0.30), int(h * 0.40)), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), sigmaX=w * 0.03)
    scale = face_px / (w * 0.40)  # the LFW deep-funnelled face is ~40 % of the photo width
    size = (max(8, int(w * scale)), max(8, int(h * scale)))
    rgb = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size, interpolation=cv2.INTER_AREA)
    return rgb, cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)[..., None]


def turned(rgb: np.ndarray, alpha: np.ndarray, yaw_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """A face sprite as a flat picture turned by ``yaw_deg`` about its vertical axis (narrower, the
    far side shorter): a stand-in for a turned head, which would also hide one eye."""
    if yaw_deg == 0:
        return rgb, alpha
    h, w = rgb.shape[:2]
    c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    nw, shrink = max(4, int(w * c)), 0.5 * s * 0.35  # the far edge ~17 % shorter at 90 degrees
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[0, 0], [nw, h * shrink], [nw, h * (1 - shrink)], [0, h]])
    m = cv2.getPerspectiveTransform(src, dst)
    out = cv2.warpPerspective(rgb, m, (nw, h), flags=cv2.INTER_AREA)
    a = cv2.warpPerspective(alpha[..., 0] if alpha.ndim == 3 else alpha, m, (nw, h), flags=cv2.INTER_AREA)
    return out, a[..., None]


def _background(width: int, height: int, seed: int) -> np.ndarray:
    """A street-like backdrop: sky gradient, blocks of buildings with windows, noise."""
    rng = np.random.default_rng(seed)
    bw, bh = width + 200, height + 100
    img = np.zeros((bh, bw, 3), np.float32)
    img[:] = np.linspace(190, 120, bh)[:, None, None] * np.array([0.8, 0.9, 1.0])
    x = 0
    while x < bw:
        bwid = int(rng.integers(bw // 12, bw // 5))
        top = int(rng.integers(bh // 6, bh // 2))
        colour = rng.uniform(60, 170, 3)
        img[top:, x : x + bwid] = colour
        for wy in range(top + 20, bh - 40, 60):
            for wx in range(x + 15, x + bwid - 30, 45):
                img[wy : wy + 28, wx : wx + 22] = colour * rng.uniform(0.4, 0.8)
        x += bwid
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _bitrate_mbps(width: int, height: int) -> int:
    """A phone camera's video bit rate for the size (about 12 Mbit/s at 1080p, 6 at 720p)."""
    return max(2, round(12 * width * height / (1920 * 1080)))


def _grain_bank(width: int, height: int, seed: int, n: int = 7, sigma: float = 3.0) -> list[np.ndarray]:
    """Per-frame sensor grain, so clips carry a phone camera's bit rate (~10 Mbit/s at 1080p) and
    cost what real footage costs to decode; a flat synthetic picture would decode unrealistically
    fast. Zero-mean noise is added as an offset around 0 (values wrap back by subtraction)."""
    rng = np.random.default_rng(seed + 100)
    return [np.clip(rng.normal(sigma, sigma, (height, width, 3)), 0, 255).astype(np.uint8) for _ in range(n)]


def _paste(frame: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, cx: int, cy: int) -> None:
    h, w = rgb.shape[:2]
    x0, y0 = cx - w // 2, cy - h // 2
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(frame.shape[1], x0 + w), min(frame.shape[0], y0 + h)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    sub = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    a = alpha[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    s = rgb[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0].astype(np.float32)
    frame[fy0:fy1, fx0:fx1] = (s * a + sub * (1 - a)).astype(np.uint8)


def render_clip(
    out: Path,
    people: list[Appearance],
    seconds: float,
    size_wh: tuple[int, int] = (1920, 1080),
    rotate_90: bool = False,
    seed: int = 1,
    metadata: dict[str, str] | None = None,
    vehicles: list[Vehicle] | None = None,
    fps: int = FPS,
    dusk: bool = False,
) -> Path:
    """Render and encode a clip; write OUT.truth.json beside it. With rotate_90 the picture is
    composed upright at size_wh, stored rotated to landscape and tagged with a 90-degree display
    rotation, as a phone held upright records it. ``dusk``: filmed at dusk on a phone — the picture
    at a third of its brightness with lifted shadows, people smeared along their way by the long
    exposure (motion blur over the distance covered in two frame times, at least 7 px), heavy
    sensor grain."""
    width, height = size_wh
    out.parent.mkdir(parents=True, exist_ok=True)
    bg = _background(width, height, seed)
    grain = _grain_bank(width, height, seed, sigma=9.0 if dusk else 3.0)
    sprites = {p.photo: {} for p in people}
    vehicles = vehicles or []
    cars: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    enc_w, enc_h = (height, width) if rotate_90 else (width, height)
    # One encoder thread: x264's threaded bitrate control encodes the same frames differently run to
    # run, and a sample (and a test's faces) must come out the same every time.
    cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{enc_w}x{enc_h}", "-r", str(fps), "-i", "-", "-an", "-c:v", "libx264", "-threads", "1",
           "-preset", "veryfast", "-b:v", f"{_bitrate_mbps(enc_w, enc_h)}M", "-maxrate", f"{_bitrate_mbps(enc_w, enc_h) * 4 // 3}M",
           "-bufsize", f"{_bitrate_mbps(enc_w, enc_h) * 2}M", "-pix_fmt", "yuv420p", "-g", str(2 * fps)]
    for key, value in (metadata or {}).items():
        cmd += ["-metadata", f"{key}={value}"]
    encoded = out.with_suffix(".tmp.mp4") if rotate_90 else out
    cmd.append(str(encoded))
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    n_frames = int(round(seconds * fps))
    for i in range(n_frames):
        t = i / fps
        ox = int(100 + 90 * np.sin(t * 0.3))
        frame = bg[40 : 40 + height, ox : ox + width].copy()
        for k, v in enumerate(vehicles):
            if not (v.t_in_s <= t < v.t_out_s):
                continue
            u = (t - v.t_in_s) / max(1e-6, v.t_out_s - v.t_in_s)
            px = int(round((v.plate_px[0] + (v.plate_px[1] - v.plate_px[0]) * u) / 4)) * 4
            if (k, px) not in cars:
                cars[(k, px)] = car_sprite(v.plate, v.format, v.font, v.rear, px, v.seed, v.country, v.parts)
            cx = (v.start_xy[0] + (v.end_xy[0] - v.start_xy[0]) * u) * width
            cy = (v.start_xy[1] + (v.end_xy[1] - v.start_xy[1]) * u) * height
            _paste(frame, *cars[(k, px)], int(cx), int(cy))
        for p in people:
            if not (p.t_in_s <= t < p.t_out_s):
                continue
            u = (t - p.t_in_s) / max(1e-6, p.t_out_s - p.t_in_s)
            px = int(round((p.face_px[0] + (p.face_px[1] - p.face_px[0]) * u) / 8)) * 8
            cache = sprites[p.photo]
            if px not in cache:
                cache[px] = turned(*_face_sprite(lfw_photo(*_split_photo(p.photo)), px), p.yaw_deg)
            cx, cy = p.centre_at(t, (width, height))
            sprite = cache[px]
            if dusk:
                dx = (p.end_xy[0] - p.start_xy[0]) * width / max(1e-6, p.t_out_s - p.t_in_s) / fps
                sprite = _smeared(*sprite, max(7, int(abs(dx) * 0.5 * 4)))
            _paste(frame, *sprite, int(cx), int(cy))
        if dusk:
            frame = cv2.LUT(frame, _DUSK_LUT)
        frame = cv2.add(frame, grain[i % len(grain)], dtype=cv2.CV_8U) if grain else frame
        if rotate_90:
            frame = np.ascontiguousarray(np.rot90(frame, k=-1))  # stored turned right; the tag turns it back
        proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed encoding {out}")
    if rotate_90:  # ffmpeg 5 honours the rotate tag only when remuxing
        subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(encoded), "-c", "copy",
                        "-map_metadata", "0", "-metadata:s:v:0", "rotate=90", str(out)], check=True)
        encoded.unlink()
    truth = {
        "clip": out.name,
        "display_wh": [width, height],
        "seconds": seconds,
        "fps": fps,
        "appearances": [asdict(p) for p in people],
        "vehicles": [asdict(v) for v in vehicles],
    }
    out.with_suffix(".truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return out


# Dusk: a third of the brightness, shadows lifted a little (a phone's night processing).
_DUSK_LUT = np.clip(12 + 255 * 0.33 * (np.arange(256) / 255.0) ** 0.9, 0, 255).astype(np.uint8)


def _smeared(rgb: np.ndarray, alpha: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """A sprite blurred along x over ``length`` pixels (motion blur of a long exposure)."""
    kernel = np.full((1, length), 1.0 / length, np.float32)
    a = cv2.filter2D(alpha, -1, kernel, borderType=cv2.BORDER_CONSTANT)[..., None]
    premult = cv2.filter2D(rgb.astype(np.float32) * alpha, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    return np.clip(premult / np.maximum(a, 1e-3), 0, 255).astype(np.uint8), a


def _split_photo(photo: str) -> tuple[str, int]:
    name, _, idx = photo.rpartition("_")
    return name, int(idx)


def build_watchlist(out_dir: Path, refs: dict[str, list[int]]) -> Path:
    """Copy reference photos into OUT_DIR/<Name>/ (the layout `evidence watchlist import` reads)."""
    for name, indices in refs.items():
        d = out_dir / name
        d.mkdir(parents=True, exist_ok=True)
        for i in indices:
            shutil.copyfile(lfw_photo(name, i), d / f"{name}_{i:04d}.jpg")
    return out_dir


# Watchlist subjects of the demo: photos 1-3 are enrolled; the clips use later photos.
DEMO_WATCHLIST = {
    "Gordon_Brown": [1, 2, 3],
    "Kim_Clijsters": [1, 2, 3],
    "Jennifer_Garner": [1, 2, 3],
    "Tom_Ridge": [1, 2, 3],
    "Lance_Armstrong": [1, 2, 3],
}


def demo_people() -> list[Appearance]:
    return [
        Appearance("Gordon_Brown", "Gordon_Brown_0006", 1.0, 9.0, (0.15, 0.55), (0.45, 0.50), (150, 110), True),
        Appearance("Vaclav_Havel", "Vaclav_Havel_0002", 3.0, 13.0, (0.85, 0.45), (0.60, 0.55), (90, 140), False),
        Appearance("Kim_Clijsters", "Kim_Clijsters_0008", 8.0, 18.0, (0.30, 0.40), (0.75, 0.45), (100, 170), True),
    ]


def phone_people() -> list[Appearance]:
    return [
        Appearance("Jennifer_Garner", "Jennifer_Garner_0007", 0.5, 6.0, (0.5, 0.35), (0.45, 0.45), (260, 300), True),
        Appearance("Jimmy_Carter", "Jimmy_Carter_0004", 3.0, 8.0, (0.35, 0.7), (0.55, 0.65), (200, 220), False),
    ]


def dusk_people() -> list[Appearance]:
    """A portrait phone clip at dusk: three watchlist people (photos not enrolled) and two
    bystanders turned 45-50 degrees away (faces 64-80 px wide before turning), walking across."""
    return [
        Appearance("Gordon_Brown", "Gordon_Brown_0006", 0.5, 8.0, (0.15, 0.30), (0.75, 0.32), (56, 64), True),
        Appearance("Jimmy_Carter", "Jimmy_Carter_0004", 1.0, 9.0, (0.85, 0.50), (0.25, 0.48), (72, 64), False, 45.0),
        Appearance("Kim_Clijsters", "Kim_Clijsters_0008", 4.0, 12.0, (0.80, 0.66), (0.20, 0.64), (48, 56), True),
        Appearance("Vaclav_Havel", "Vaclav_Havel_0002", 6.0, 14.0, (0.20, 0.80), (0.70, 0.78), (80, 72), False, 50.0),
        Appearance("Tom_Ridge", "Tom_Ridge_0010", 8.0, 14.5, (0.30, 0.42), (0.80, 0.44), (64, 72), True),
    ]


UNSEEN_WATCHLIST = {"Jacques_Rogge": [1, 2], "Romano_Prodi": [2, 3], "Bill_Frist": [1, 2]}


def unseen_people() -> list[Appearance]:
    return [
        Appearance("Jacques_Rogge", "Jacques_Rogge_0005", 0.5, 5.0, (0.2, 0.5), (0.4, 0.5), (130, 150), True),
        Appearance("John_McCain", "John_McCain_0003", 1.0, 6.0, (0.8, 0.45), (0.6, 0.5), (140, 120), False),
        Appearance("Jose_Serra", "Jose_Serra_0004", 3.5, 7.5, (0.5, 0.3), (0.5, 0.6), (120, 120), False),
        Appearance("Romano_Prodi", "Romano_Prodi_0004", 5.0, 8.0, (0.3, 0.6), (0.45, 0.5), (150, 130), True),
    ]


def long_people(seconds: float, every_s: float = 5.0) -> list[Appearance]:
    """People crossing a long clip one after another, a new one every ``every_s`` seconds (two at a
    time at the default 5 s), in the demo cast."""
    cast = [
        ("Gordon_Brown", "Gordon_Brown_0006", True), ("Vaclav_Havel", "Vaclav_Havel_0002", False),
        ("Kim_Clijsters", "Kim_Clijsters_0008", True), ("Jimmy_Carter", "Jimmy_Carter_0004", False),
        ("Tom_Ridge", "Tom_Ridge_0010", True), ("Jose_Serra", "Jose_Serra_0004", False),
    ]
    people, t, k = [], 0.5, 0
    while t < seconds - 4:
        name, photo, wl = cast[k % len(cast)]
        lane = 0.35 if k % 2 == 0 else 0.65
        people.append(Appearance(name, photo, t, min(seconds, t + 9), (0.1, lane), (0.9, lane),
                                 (100 + 20 * (k % 3), 150), wl))
        t, k = t + every_s, k + 1
    return people


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", choices=["demo", "unseen", "long"], default="demo")
    ap.add_argument("--out", type=Path, default=ROOT / "samples" / "out")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the long clip")
    ap.add_argument("--height", type=int, default=1080, help="height of the long clip (720 or 1080)")
    ap.add_argument("--every", type=float, default=5.0, help="long clip: a new person every N seconds")
    args = ap.parse_args()
    out: Path = args.out
    if args.scenario == "demo":
        meta = {"creation_time": "2026-11-05T21:14:03Z", "location": "+51.5072-000.1276/"}
        render_clip(out / "public_1080p.mp4", demo_people(), 20.0, metadata=meta)
        render_clip(out / "phone_vertical.mp4", phone_people(), 9.0, size_wh=(1080, 1920), rotate_90=True,
                    seed=2, metadata=meta)
        build_watchlist(out / "watchlist", DEMO_WATCHLIST)
    elif args.scenario == "unseen":
        render_clip(out / "unseen.mp4", unseen_people(), 8.0, size_wh=(1280, 720), seed=3)
        build_watchlist(out / "unseen_watchlist", UNSEEN_WATCHLIST)
    else:
        width = args.height * 16 // 9
        sparse = "" if args.every == 5.0 else f"_every{int(args.every)}s"
        render_clip(out / f"long_{args.height}p_{int(args.seconds)}s{sparse}.mp4", long_people(args.seconds, args.every),
                    args.seconds, size_wh=(width, args.height), seed=4)
    print(out)


if __name__ == "__main__":
    main()
