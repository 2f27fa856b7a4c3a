"""Synthetic UK number plates and street scenes, rendered with openly licensed fonts; and plates of
other countries (``render_national``: German, French, Dutch, Irish, US) for the tests.

No UK plate font (Charles Wright 2001) has an open licence, so glyphs come from the closest open
fonts, stretched to the DVLA glyph box (50 x 79 mm, 14 mm stroke, 11 mm between characters, 33 mm
between the two groups, 520 x 111 mm plate): Debian ``fonts-roadgeek`` Series D and E (MIT),
DejaVu Sans Condensed Bold (Bitstream Vera licence) and Liberation Sans Narrow Bold (SIL OFL 1.1).
Front plates are black on white, rear plates black on yellow; a quarter carry the blue UK band.

    python samples/plates.py --out samples/out/plates --count 500          # crops + scenes, labels.csv
    python samples/plates.py --out /tmp/p --count 200 --kind scene --seed 7 --plate-px 60 100   # small plates

Degradations (per image, seeded): perspective, scale, motion/defocus blur, low light, sensor noise,
JPEG, dirt, partial shadow. ``--clean`` renders frontal, sharp plates only.
"""

from __future__ import annotations

import argparse
import csv
import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONTS = {
    "roadgeek_d": "/usr/share/fonts/truetype/roadgeek/RG2014D.ttf",
    "roadgeek_e": "/usr/share/fonts/truetype/roadgeek/RG2014E.ttf",
    "dejavu_condensed_bold": "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "liberation_narrow_bold": "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Bold.ttf",
}
LETTERS = "ABCDEFGHJKLMNOPRSTUVWXYZ"  # DVLA: no I or Q in the random letters of current plates
MEMORY_TAG = "ABCDEFGHJKLMNOPRSTUVWXY"  # ... and no I, Q or Z in the first two (the memory tag)
YEAR_LETTERS = "ABCDEFGHJKLMNPRSTVWXY"  # prefix / suffix year letters: never I, O, Q, U, Z
DIGITS = "0123456789"
WHITE, YELLOW, BLACK, BLUE = (248, 248, 245), (250, 210, 20), (12, 12, 12), (0, 51, 153)
MM = 2  # pixels per millimetre of the clean plate (1040 x 222)


def available_fonts() -> dict[str, str]:
    return {k: v for k, v in FONTS.items() if Path(v).is_file()}


def random_plate(rng: random.Random) -> tuple[str, str]:
    """(registration, format): mostly current plates, some older formats."""
    r = rng.random()
    L = lambda n: "".join(rng.choice(LETTERS) for _ in range(n))  # noqa: E731
    if r < 0.7:
        age = rng.choice([f"{y:02d}" for y in range(2, 26)] + [f"{y:02d}" for y in range(51, 76)])
        return rng.choice(MEMORY_TAG) + rng.choice(MEMORY_TAG) + age + L(3), "current"
    if r < 0.85:
        return rng.choice(YEAR_LETTERS) + str(rng.randint(1, 999)) + L(3), "prefix"
    if r < 0.95:
        return L(3) + str(rng.randint(1, 999)) + rng.choice(YEAR_LETTERS), "suffix"
    return rng.choice("ABCDEFGHJKLMNOPRSTUVWXY") + rng.choice("IZ") + rng.choice(LETTERS) + str(rng.randint(1, 9999)), \
        "northern_ireland"


def groups(plate: str, fmt: str) -> list[str]:
    """How the registration is spaced on the plate."""
    if fmt == "current":
        return [plate[:4], plate[4:]]
    if fmt == "prefix":
        return [plate[:-3], plate[-3:]]
    if fmt == "suffix":
        return [plate[:3], plate[3:]]
    if fmt == "northern_ireland":
        return [plate[:3], plate[3:]]
    return [plate]


@cache
def _glyph(font_path: str, ch: str) -> np.ndarray:
    """The character's ink (0..255, white on black) stretched to the 50 x 79 mm box; 1 and I (narrow
    on UK plates) keep the font's own proportions at 79 mm high."""
    font = ImageFont.truetype(font_path, 200)
    canvas = Image.new("L", (400, 400), 0)
    ImageDraw.Draw(canvas).text((100, 50), ch, font=font, fill=255)
    ink = np.asarray(canvas)
    ys, xs = np.nonzero(ink > 40)
    ink = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h = 79 * MM
    w = max(14 * MM, round(ink.shape[1] * h / ink.shape[0])) if ch in "1I" else 50 * MM
    return cv2.resize(ink, (w, h), interpolation=cv2.INTER_AREA)


def render_plate(plate: str, fmt: str, font: str, rear: bool, band: bool, parts: list[str] | None = None
                 ) -> np.ndarray:
    """A clean plate, RGB uint8, 520 x 111 mm at MM px/mm; ``parts`` spaces the characters
    otherwise than the UK format does (a foreign plate: ``["AB", "123", "CD"]``)."""
    bg = YELLOW if rear else WHITE
    img = np.zeros((111 * MM, 520 * MM, 3), np.uint8)
    img[:] = bg
    left = 11 * MM
    if band:
        img[:, :50 * MM] = BLUE
        cv2.putText(img, "UK", (9 * MM, 95 * MM), cv2.FONT_HERSHEY_SIMPLEX, 1.1 * MM / 2, (255, 255, 255), 2 * MM)
        left = 50 * MM + 6 * MM
    parts = parts or groups(plate, fmt)
    glyphs = [[_glyph(FONTS[font], c) for c in g] for g in parts]
    widths = [sum(g.shape[1] for g in grp) + 11 * MM * (len(grp) - 1) for grp in glyphs]
    total = sum(widths) + 33 * MM * (len(parts) - 1)
    room = 520 * MM - left - 22 * MM
    if total > room:  # more characters than a UK plate holds (some foreign plates): narrower glyphs
        k = room / total
        glyphs = [[cv2.resize(g, (max(1, int(g.shape[1] * k)), g.shape[0])) for g in grp] for grp in glyphs]
        widths = [sum(g.shape[1] for g in grp) + 11 * MM * (len(grp) - 1) for grp in glyphs]
        total = sum(widths) + 33 * MM * (len(parts) - 1)
    x = left + max(0, ((520 * MM - left - 11 * MM) - total) // 2)
    y = 16 * MM
    for grp in glyphs:
        for g in grp:
            h, w = g.shape
            region = img[y:y + h, x:x + w].astype(np.float32)
            a = (g.astype(np.float32) / 255.0)[..., None]
            img[y:y + h, x:x + w] = (region * (1 - a) + np.array(BLACK, np.float32) * a).astype(np.uint8)
            x += w + 11 * MM
        x += 33 * MM - 11 * MM
    cv2.rectangle(img, (0, 0), (img.shape[1] - 1, img.shape[0] - 1), (60, 60, 60), MM)
    return img


def render_two_line(top: str, bottom: str, font: str, rear: bool = True) -> np.ndarray:
    """A square (motorcycle) plate: two rows of characters, 229 x 180 mm, 64 mm glyphs (DVLA)."""
    img = np.zeros((180 * MM, 229 * MM, 3), np.uint8)
    img[:] = YELLOW if rear else WHITE
    for row, text in enumerate((top, bottom)):
        glyphs = [cv2.resize(_glyph(FONTS[font], c), None, fx=64 / 79, fy=64 / 79, interpolation=cv2.INTER_AREA)
                  for c in text]
        total = sum(g.shape[1] for g in glyphs) + 10 * MM * (len(glyphs) - 1)
        x, y = (img.shape[1] - total) // 2, (16 + row * (64 + 20)) * MM
        for g in glyphs:
            h, w = g.shape
            a = (g.astype(np.float32) / 255.0)[..., None]
            img[y:y + h, x:x + w] = (img[y:y + h, x:x + w] * (1 - a) + np.array(BLACK, np.float32) * a).astype(np.uint8)
            x += w + 10 * MM
    cv2.rectangle(img, (0, 0), (img.shape[1] - 1, img.shape[0] - 1), (60, 60, 60), MM)
    return img


# Plates of other countries, near enough for a plate-trained reader to name the country: the EU
# band (12 stars, the country code), the national background and separators, a narrow font (DIN
# 1451 and the French and Irish fonts have no open copy; Liberation Sans Narrow is the closest).
# A US plate is 12 x 6 inches, the state's name above dark blue characters.
NATIONAL = {  # country code -> (background, separator, right-hand band, EU band code)
    "DE": (WHITE, None, False, "D"), "FR": (WHITE, "-", True, "F"), "NL": ((250, 200, 20), "-", False, "NL"),
    "IE": (WHITE, "-", False, "IRL"), "GB": (WHITE, None, False, "UK"),
}


def _ink(img: np.ndarray, glyph: np.ndarray, x: int, y: int, colour: tuple[int, int, int]) -> None:
    h, w = glyph.shape
    a = (glyph.astype(np.float32) / 255.0)[..., None]
    img[y:y + h, x:x + w] = (img[y:y + h, x:x + w] * (1 - a) + np.array(colour, np.float32) * a).astype(np.uint8)


def _eu_band(img: np.ndarray, x0: int, code: str | None) -> None:
    img[:, x0:x0 + 45 * MM] = BLUE
    if code is None:
        return
    for k in range(12):
        a = 2 * np.pi * k / 12
        cv2.circle(img, (int(x0 + 22.5 * MM + 12 * MM * np.cos(a)), int(30 * MM + 12 * MM * np.sin(a))),
                   int(1.6 * MM), (255, 204, 0), -1)
    (tw, _), _ = cv2.getTextSize(code, cv2.FONT_HERSHEY_SIMPLEX, 1.0, 2)
    scale = min(1.4, 35 * MM / tw)
    cv2.putText(img, code, (int(x0 + 22.5 * MM - tw * scale / 2), 95 * MM), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 2 * MM)


def render_national(parts: list[str], country: str, font: str = "liberation_narrow_bold") -> np.ndarray:
    """A clean plate of ``country`` (``NATIONAL``'s codes, or "US"), RGB uint8, its characters in
    ``parts`` (groups as the plate spaces them: ``["M", "AB", "1234"]``). German plates carry the
    two round seals between the district and the letters."""
    if country == "US":
        return _render_us("".join(parts))
    bg, sep, right_band, code = NATIONAL[country]
    w, h, glyph_h = 520 * MM, 110 * MM, 75 * MM
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = bg
    _eu_band(img, 0, code)
    right = w - 11 * MM
    if right_band:
        _eu_band(img, w - 45 * MM, None)
        right = w - 45 * MM
    items: list[np.ndarray | str] = []
    for i, group in enumerate(parts):
        if i:
            items.append("seals" if country == "DE" and i == 1 else sep or " ")
        items += [_glyph(FONTS[font], c) for c in group]
    sized = [cv2.resize(g, (max(1, round(g.shape[1] * 0.9 * glyph_h / g.shape[0])), glyph_h))
             if isinstance(g, np.ndarray) else g for g in items]
    gap, space = 4 * MM, {" ": 18 * MM, "-": 20 * MM, "seals": 26 * MM}
    total = sum(g.shape[1] if isinstance(g, np.ndarray) else space[g] for g in sized) + gap * (len(sized) - 1)
    k = min(1.0, (right - 50 * MM) / total)
    x, y = 50 * MM + int(((right - 50 * MM) - total * k) / 2), (h - glyph_h) // 2
    for g in sized:
        if isinstance(g, str):
            width = int(space[g] * k)
            if g == "-":
                cv2.rectangle(img, (x + width // 5, h // 2 - 3 * MM), (x + 4 * width // 5, h // 2 + 3 * MM), BLACK, -1)
            elif g == "seals":
                cv2.circle(img, (x + width // 2, 38 * MM), 11 * MM, (60, 160, 60), -1)
                cv2.circle(img, (x + width // 2, 72 * MM), 11 * MM, (120, 120, 130), -1)
            x += width + int(gap * k)
            continue
        g = cv2.resize(g, (max(1, int(g.shape[1] * k)), g.shape[0]))
        _ink(img, g, x, y, BLACK)
        x += g.shape[1] + int(gap * k)
    cv2.rectangle(img, (0, 0), (w - 1, h - 1), (40, 40, 40), MM)
    return img


def _render_us(text: str, state: str = "CALIFORNIA") -> np.ndarray:
    w, h = 305 * MM, 152 * MM
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (245, 245, 245)
    (tw, _), _ = cv2.getTextSize(state, cv2.FONT_HERSHEY_TRIPLEX, 1.0, 2)
    scale = 150 * MM / tw
    cv2.putText(img, state, (int(w / 2 - tw * scale / 2), 30 * MM), cv2.FONT_HERSHEY_TRIPLEX, scale, (200, 30, 30),
                int(1.5 * MM))
    glyphs = [_glyph(FONTS["dejavu_condensed_bold"], c) for c in text]
    glyphs = [cv2.resize(g, (int(g.shape[1] * 0.55), 70 * MM)) for g in glyphs]
    total = sum(g.shape[1] for g in glyphs) + 3 * MM * (len(glyphs) - 1)
    x = (w - total) // 2
    for g in glyphs:
        _ink(img, g, x, 45 * MM, (20, 30, 110))
        x += g.shape[1] + 3 * MM
    cv2.rectangle(img, (0, 0), (w - 1, h - 1), (40, 40, 40), MM)
    return img


@dataclass(frozen=True)
class Degrade:
    width_px: int  # plate width in the output
    yaw: float  # perspective, fraction of width
    tilt_deg: float
    blur: float  # gaussian sigma (px)
    motion: int  # motion-blur kernel length (px)
    light: float  # brightness gain
    noise: float  # sensor noise sigma
    jpeg: int
    dirt: int  # number of dirt blotches

    @staticmethod
    def random(rng: random.Random, clean: bool, width_px: int | None = None) -> Degrade:
        if clean:
            return Degrade(width_px or rng.randint(180, 260), 0.0, 0.0, 0.0, 0, 1.0, 0.0, 95, 0)
        return Degrade(width_px or rng.randint(90, 260), rng.uniform(-0.12, 0.12), rng.uniform(-5, 5),
                       rng.choice([0.0, 0.0, 0.6, 1.0]), rng.choice([0, 0, 0, 3, 5]),
                       rng.choice([1.0, 1.0, 0.7, 0.45, 0.3]), rng.choice([0.0, 3.0, 6.0]), rng.randint(35, 90),
                       rng.choice([0, 0, 2, 5]))


def _perspective(img: np.ndarray, d: Degrade, pad: float, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """Warp the plate into a canvas with `pad` of its width around it; returns (image, corners)."""
    h, w = img.shape[:2]
    scale = d.width_px / w
    pw, ph = d.width_px, h * scale
    margin = pad * pw
    cw, ch = int(pw + 2 * margin), int(ph + 2 * margin)
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dy = d.yaw * ph
    dst = np.float32([[0, -dy], [pw, dy], [pw, ph - dy], [0, ph + dy]])
    c = np.float32([pw / 2, ph / 2])
    t = np.deg2rad(d.tilt_deg)
    rot = np.float32([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    dst = (dst - c) @ rot.T + c + margin
    m = cv2.getPerspectiveTransform(src, dst)
    body = np.array([rng.randint(20, 230) for _ in range(3)], np.uint8)
    canvas = np.empty((ch, cw, 3), np.uint8)
    canvas[:] = body
    out = cv2.warpPerspective(img, m, (cw, ch), dst=canvas, borderMode=cv2.BORDER_TRANSPARENT,
                              flags=cv2.INTER_AREA)
    return out, dst


def degrade(img: np.ndarray, d: Degrade, rng: random.Random) -> np.ndarray:
    out = img.astype(np.float32)
    for _ in range(d.dirt):
        x, y = rng.randint(0, img.shape[1] - 1), rng.randint(0, img.shape[0] - 1)
        r = rng.randint(2, max(3, img.shape[1] // 25))
        mask = np.zeros(img.shape[:2], np.float32)
        cv2.circle(mask, (x, y), r, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), r / 2 + 0.1)[..., None]
        out = out * (1 - 0.6 * mask) + np.array([70, 60, 50], np.float32) * 0.6 * mask
    if d.motion:
        k = np.zeros((d.motion, d.motion), np.float32)
        k[d.motion // 2, :] = 1.0 / d.motion
        out = cv2.filter2D(out, -1, k)
    if d.blur:
        out = cv2.GaussianBlur(out, (0, 0), d.blur)
    out = out * d.light
    if d.noise:
        out = out + np.random.default_rng(rng.randint(0, 1 << 30)).normal(0, d.noise, out.shape)
    out8 = np.clip(out, 0, 255).astype(np.uint8)
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(out8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, d.jpeg])
    assert ok
    return cv2.cvtColor(cv2.imdecode(enc, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def plate_crop(plate: str, fmt: str, rng: random.Random, clean: bool = False, font: str | None = None) -> np.ndarray:
    """A plate as a reader gets it from a detector: the plate with ~8 % margin of car body."""
    fonts = available_fonts()
    font = font or rng.choice(sorted(fonts))
    img = render_plate(plate, fmt, font, rear=rng.random() < 0.5, band=rng.random() < 0.25)
    d = Degrade.random(rng, clean)
    warped, _ = _perspective(img, d, 0.08, rng)
    return degrade(warped, d, rng)


def car_sprite(plate: str, fmt: str, font: str, rear: bool, plate_px: int, seed: int = 0,
               country: str | None = None, parts: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """(RGB, alpha) of a car seen from behind (or the front) whose plate is ``plate_px`` wide:
    sharp and frontal; the clip's encoding does the rest. ``country``: a plate of that country
    (``render_national``, characters spaced as ``parts``) instead of a UK one."""
    rng = random.Random(f"{seed}-{plate}")
    img = render_national(list(parts) or [plate], country) if country else \
        render_plate(plate, fmt, font, rear=rear, band=False)
    scale = plate_px / img.shape[1]
    small = cv2.resize(img, (plate_px, max(2, round(img.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    car = car_with_plate(small, rng)
    return car, np.ones(car.shape[:2] + (1,), np.float32)


def street_background(w: int, h: int, rng: random.Random) -> np.ndarray:
    """Road, kerb, building blocks with windows: enough edges and texture to tempt a text detector."""
    img = np.zeros((h, w, 3), np.uint8)
    sky = np.array([rng.randint(120, 200), rng.randint(130, 210), rng.randint(150, 230)], np.uint8)
    img[: h // 2] = sky
    img[h // 2:] = (rng.randint(50, 90),) * 3
    x = 0
    while x < w:
        bw = rng.randint(w // 8, w // 3)
        top = rng.randint(h // 10, h // 3)
        colour = tuple(int(v) for v in np.array([rng.randint(60, 200) for _ in range(3)]))
        cv2.rectangle(img, (x, top), (x + bw, h // 2 + h // 10), colour, -1)
        for wy in range(top + 15, h // 2, 45):
            for wx in range(x + 10, x + bw - 20, 40):
                cv2.rectangle(img, (wx, wy), (wx + 18, wy + 25), (40, 50, 70), -1)
        x += bw
    cv2.line(img, (0, int(h * 0.62)), (w, int(h * 0.62)), (200, 200, 200), 3)
    return img


def car_with_plate(plate_img: np.ndarray, rng: random.Random) -> np.ndarray:
    """A boxy car rear/front with the plate mounted low and centred."""
    ph, pw = plate_img.shape[:2]
    cw, ch = int(pw * 3.4), int(pw * 1.6)
    colour = tuple(rng.randint(20, 230) for _ in range(3))
    car = np.zeros((ch, cw, 3), np.uint8)
    car[:] = colour
    cv2.rectangle(car, (int(cw * 0.12), int(ch * 0.08)), (int(cw * 0.88), int(ch * 0.42)), (30, 40, 55), -1)
    for lx in (int(cw * 0.04), int(cw * 0.80)):
        cv2.rectangle(car, (lx, int(ch * 0.5)), (lx + int(cw * 0.16), int(ch * 0.62)), (200, 40, 30), -1)
    px, py = (cw - pw) // 2, int(ch * 0.68)
    car[py:py + ph, px:px + pw] = plate_img
    return car


def scene(plate: str, fmt: str, rng: random.Random, size: tuple[int, int] = (1280, 720), clean: bool = False,
          font: str | None = None, plate_px: tuple[int, int] = (100, 240)) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A street frame with one car and its plate; returns (RGB frame, plate box x1, y1, x2, y2)."""
    w, h = size
    fonts = available_fonts()
    font = font or rng.choice(sorted(fonts))
    img = render_plate(plate, fmt, font, rear=rng.random() < 0.5, band=rng.random() < 0.25)
    d = Degrade.random(rng, clean, width_px=rng.randint(*plate_px))
    warped, corners = _perspective(img, d, 0.0, rng)
    car = car_with_plate(warped, rng)
    frame = street_background(w, h, rng)
    x0 = rng.randint(0, max(0, w - car.shape[1]))
    y0 = rng.randint(h // 3, max(h // 3, h - car.shape[0]))
    ch, cw = min(car.shape[0], h - y0), min(car.shape[1], w - x0)
    frame[y0:y0 + ch, x0:x0 + cw] = car[:ch, :cw]
    ph, pw = warped.shape[:2]
    px, py = x0 + (car.shape[1] - pw) // 2, y0 + int(car.shape[0] * 0.68)
    return degrade(frame, d, rng), (px, py, px + pw, py + ph)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--kind", choices=["crop", "scene", "both"], default="both")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--clean", action="store_true", help="frontal, sharp, well-lit plates only")
    ap.add_argument("--plate-px", type=int, nargs=2, default=(100, 240), metavar=("MIN", "MAX"),
                    help="scenes: plate width range in the 1280x720 frame (pixels)")
    args = ap.parse_args()
    if not available_fonts():
        raise SystemExit("no plate fonts: apt-get install fonts-roadgeek fonts-dejavu-core fonts-liberation")
    kinds = ["crop", "scene"] if args.kind == "both" else [args.kind]
    for kind in kinds:
        out = args.out / kind
        out.mkdir(parents=True, exist_ok=True)
        rng = random.Random(f"{args.seed}-{kind}")
        rows = []
        for i in range(args.count):
            plate, fmt = random_plate(rng)
            if kind == "crop":
                img = plate_crop(plate, fmt, rng, args.clean)
            else:
                img, _ = scene(plate, fmt, rng, clean=args.clean, plate_px=tuple(args.plate_px))
            name = f"{i:05d}.jpg"
            cv2.imwrite(str(out / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
            rows.append((name, plate))
        with (out / "labels.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image", "plate"])
            w.writerows(rows)
        print(f"{args.count} {kind} images -> {out}/labels.csv")


if __name__ == "__main__":
    main()
