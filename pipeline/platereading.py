"""Plates in images and footage: find where plates' text is, read each plate with the recogniser
(and the UK grammar where the plate is British), follow each vehicle's plate over frames and vote
its reads into one sighting.

    read_plates(image, t_s, localiser, recogniser, params)  -> [PlateDetection]   one frame
    read_crop(crop, recogniser)                             -> (PlateRead, confidence)
    track_plates(frames_of_detections, params)              -> [PlateSighting]    one clip (or segment)
    vote(index, reads, top_n)                               -> PlateSighting      reads of one vehicle

A read is a candidate with a confidence, never a fact: the sighting keeps the alternatives."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from pipeline.boxes import box_iou
from pipeline.ocr import TextBox, TextRead, merge_lines, upright_crop
from pipeline.plates import REGION_MIN, UK, UK_MARGIN, confusion_key, fit_read
from pipeline.types import Box, PlateDetection, PlateRead, PlateSighting, RGBImage

__all__ = ["PlateLocaliser", "PlateParams", "PlateRecogniser", "edit_distance", "plate_shaped", "read_crop",
           "read_image", "read_plates", "read_plates_in", "read_units", "stack_lines", "track_plates", "vote"]


class PlateLocaliser(Protocol):
    """Where plates' characters are: text lines (a registration, or one line of a two-line plate)."""

    max_side: int  # the longest side the network sees of a whole frame

    def detect(self, image: RGBImage, max_side: int | None = None) -> list[TextBox]:
        """Text lines in an RGB image, in its pixels; the network sees it shrunk to ``max_side``
        (default: its own) if larger."""
        ...


class PlateRecogniser(Protocol):
    """Reads plate crops cut around the localiser's lines.

    ``crop_pads``: the crops it reads of a line, (left/right, top/bottom) padding in line heights
    (negative: inside the line's box); the first always, the others too when that read is unsure
    and the reads voted. ``whole_plate``: it reads a two-line plate from one crop of both lines (a
    plate-trained reader); otherwise each line is read and the characters joined."""

    crop_pads: tuple[tuple[float, float], ...]
    whole_plate: bool

    def read(self, crops: Sequence[RGBImage]) -> list[TextRead]:
        """Per upright RGB crop, the characters read with their probabilities (and the plate's country
        where the recogniser names one)."""
        ...


@dataclass(frozen=True)
class PlateParams:
    """What counts as a plate read, and how reads are followed. Recorded with every result."""

    min_confidence: float = 0.6  # geometric mean of the chosen characters' probabilities
    min_chars: int = 2
    max_chars: int = 10  # Irish plates hold up to 10 (191-D-123456)
    min_aspect: float = 1.5  # width / height of the text line
    max_aspect: float = 10.0
    min_height_px: float = 8.0
    max_height_frac: float = 0.4  # of the image height: taller "lines" are merged scenery (a crop is read whole)
    vote_below: float = 0.9  # a plate-like read less sure than this is read from the recogniser's other crops too
    uk_margin: float = UK_MARGIN  # nats: how much likelier the free read must be to beat a UK reading
    region_min: float = REGION_MIN  # how sure the recogniser must be of a plate's country for it to count
    max_line_gap: float = 0.6  # two lines closer than this (in line heights), one above the other: one plate
    max_gap_s: float = 2.0  # a vehicle unseen for longer starts a new sighting
    max_key_distance: int = 2  # reads this close (edits on confusion keys) are the same plate
    top_n: int = 3

    def as_record(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _fit(read: TextRead, params: PlateParams | None) -> tuple[PlateRead, float]:
    p = params or PlateParams()
    return fit_read(read, p.uk_margin, p.region_min)


def read_crop(crop: RGBImage, recogniser: PlateRecogniser, params: PlateParams | None = None
              ) -> tuple[PlateRead, float]:
    """Read one plate crop (the plate roughly filling the image)."""
    return _fit(recogniser.read([crop])[0], params)


def read_image(image: RGBImage, detector: PlateLocaliser, recogniser: PlateRecogniser,
               params: PlateParams = PlateParams(), as_crop: bool = False) -> list[PlateDetection]:
    """Plates in a still image: the detector's reads, surest first. When it finds none and the image
    is itself plate-shaped (twice as wide as high), or ``as_crop`` says it is a plate crop, the
    whole image is read as one plate (kept if ``as_crop`` or at least ``min_confidence`` sure)."""
    h, w = image.shape[:2]
    found = [] if as_crop else read_plates(image, 0.0, detector, recogniser, params)
    if found or not (as_crop or w >= 2 * h):
        return found
    read, confidence = read_crop(image, recogniser, params)
    if read.plate and (as_crop or confidence >= params.min_confidence):
        return [PlateDetection(0.0, (0.0, 0.0, float(w), float(h)), read, confidence)]
    return []


def plate_shaped(box: TextBox, image_h: int, p: PlateParams) -> bool:
    return (p.min_height_px <= box.height <= p.max_height_frac * image_h
            and p.min_aspect <= box.width / max(box.height, 1.0) <= p.max_aspect)


def _plate_like(read: PlateRead, p: PlateParams) -> bool:
    """Within the length bounds, holds a digit, and is not strokes alone (rows of windows,
    railings and fences read as runs of I and 1); holds a letter too, unless a plate-trained reader
    placed it in a country that has all-digit plates (the US and others; not the UK) and it is at
    least five long."""
    text = read.plate
    return (p.min_chars <= len(text) <= p.max_chars and any(c.isdigit() for c in text)
            and (any(c.isalpha() for c in text) or (read.region not in (None, UK) and len(text) >= 5))
            and not set(text) <= set("I1"))


def stack_lines(lines: Sequence[TextBox], max_gap: float = 0.6, max_height_ratio: float = 1.5
                ) -> list[tuple[TextBox, TextBox]]:
    """Pairs of lines that are one two-line plate (motorcycles, square plates): one above the other,
    of similar height, their left and right edges overlapping, less than ``max_gap`` line heights
    apart. Each line is in at most one pair (the closest below it)."""
    pairs: list[tuple[TextBox, TextBox]] = []
    used: set[int] = set()
    order = sorted(range(len(lines)), key=lambda i: lines[i].xyxy[1])
    for a in order:
        if a in used:
            continue
        ax0, ay0, ax1, ay1 = lines[a].xyxy
        below = []
        for b in order:
            bx0, by0, bx1, by1 = lines[b].xyxy
            ha, hb = ay1 - ay0, by1 - by0
            if b == a or b in used or max(ha, hb) > max_height_ratio * max(1.0, min(ha, hb)):
                continue
            gap = by0 - ay1
            overlap_x = min(ax1, bx1) - max(ax0, bx0)
            if -0.3 * ha < gap < max_gap * max(ha, hb) and overlap_x > 0.6 * min(ax1 - ax0, bx1 - bx0):
                below.append((gap, b))
        if below:
            b = min(below)[1]
            used |= {a, b}
            pairs.append((lines[a], lines[b]))
    return pairs


def _union(a: TextBox, b: TextBox) -> TextBox:
    x0, y0 = min(a.xyxy[0], b.xyxy[0]), min(a.xyxy[1], b.xyxy[1])
    x1, y1 = max(a.xyxy[2], b.xyxy[2]), max(a.xyxy[3], b.xyxy[3])
    return TextBox(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), (a.score + b.score) / 2)


def _agree(reads: Sequence[tuple[PlateRead, float]]) -> tuple[PlateRead, float]:
    """One read from a line's crops: the registration with the most confidence in all, its
    confidence that of its surest crop, lowered by the share of crops that read otherwise."""
    score: dict[str, float] = {}
    for read, confidence in reads:
        score[read.plate] = score.get(read.plate, 0.0) + confidence
    winner = max(score, key=lambda k: (score[k], k))
    mine = [r for r in reads if r[0].plate == winner]
    read, confidence = max(mine, key=lambda r: r[1])
    return read, confidence * (0.5 + 0.5 * len(mine) / len(reads))


def _joined(reads: Sequence[TextRead]) -> TextRead:
    """The lines of a two-line plate read one by one, as one read (the top line's country)."""
    if len(reads) == 1:
        return reads[0]
    return TextRead(tuple(c for r in reads for c in r.columns), reads[0].region, reads[0].region_p)


def read_units(image: RGBImage, units: Sequence[Sequence[TextBox]], recogniser: PlateRecogniser,
               params: PlateParams = PlateParams()) -> list[tuple[PlateRead, float]]:
    """Read each unit (a line, or the lines of a two-line plate top to bottom: one crop of both
    for a ``whole_plate`` recogniser, else each line read and joined into one registration). Every
    unit is read from the first of the recogniser's ``crop_pads``; the units whose read looks like
    a plate but is less than ``vote_below`` sure are read again from the others and the reads voted
    (two recogniser calls; boxes shared by units are read once)."""
    pads = recogniser.crop_pads
    parts = [[_union(*unit)] if recogniser.whole_plate and len(unit) > 1 else list(unit) for unit in units]
    boxes = list({id(b): b for unit in parts for b in unit}.values())
    first = dict(zip([id(b) for b in boxes], recogniser.read([upright_crop(image, b, *pads[0]) for b in boxes]),
                     strict=True))
    reads = [[_fit(_joined([first[id(b)] for b in unit]), params)] for unit in parts]
    again = [i for i, r in enumerate(reads) if _plate_like(r[0][0], params) and r[0][1] < params.vote_below
             ] if len(pads) > 1 else []
    more = list({id(b): b for i in again for b in parts[i]}.values())
    if more:
        crops = [upright_crop(image, b, *pad) for b in more for pad in pads[1:]]
        texts = iter(recogniser.read(crops))
        extra = {id(b): [next(texts) for _ in pads[1:]] for b in more}
        for i in again:
            reads[i] += [_fit(_joined([extra[id(b)][j] for b in parts[i]]), params) for j in range(len(pads) - 1)]
    return [_agree(r) for r in reads]


def read_plates(image: RGBImage, t_s: float, detector: PlateLocaliser, recogniser: PlateRecogniser,
                params: PlateParams = PlateParams(), frame_h: int | None = None,
                detect_side: int | None = None) -> list[PlateDetection]:
    """Plate reads in one frame, surest first. Text that is not plate-shaped, does not read like a
    plate (``_plate_like``), or is read with less than ``min_confidence`` is dropped; reads fitting
    no UK format are kept with ``valid`` False (``format`` "foreign") and their country. Two lines one above the other are also read
    as one two-line plate; when that read stands, its lines are not reported alone. ``frame_h``:
    the height of the frame ``image`` was cut from (plate heights are bounded by it);
    ``detect_side``: the longest side the text detector sees of ``image``."""
    h = frame_h or image.shape[0]
    found = merge_lines(detector.detect(image, detect_side))
    pairs = [(a, b) for a, b in stack_lines(
        [x for x in found if params.min_height_px <= x.height <= params.max_height_frac * h
         and x.width >= x.height], params.max_line_gap)
        if params.min_aspect <= (_union(a, b).width / max(_union(a, b).height, 1.0)) * 2 <= params.max_aspect]
    lines = [b for b in found if plate_shaped(b, h, params)]
    units: list[Sequence[TextBox]] = [[b] for b in lines]
    units += [list(p) for p in pairs]
    if not units:
        return []
    reads = read_units(image, units, recogniser, params)
    good = {i for i, (read, confidence) in enumerate(reads)
            if confidence >= params.min_confidence and _plate_like(read, params)}
    index = {id(unit[0]): i for i, unit in enumerate(units) if len(unit) == 1}
    for i in [i for i in good if len(units[i]) == 2]:  # a two-line plate, or two plates one above the other?
        alone = [index[id(line)] for line in units[i] if index.get(id(line)) in good]
        if reads[i][0].valid or all(reads[i][1] >= reads[k][1] for k in alone):
            good -= set(alone)
        else:
            good.discard(i)
    out = []
    for i in sorted(good):
        read, confidence = reads[i]
        box = units[i][0] if len(units[i]) == 1 else _union(*units[i])
        out.append(PlateDetection(t_s, box.xyxy, read, round(confidence, 4)))
    return sorted(out, key=lambda d: -d.confidence)


def read_plates_in(image: RGBImage, regions: Sequence[Box] | None, t_s: float, detector: PlateLocaliser,
                   recogniser: PlateRecogniser, params: PlateParams = PlateParams()) -> list[PlateDetection]:
    """``read_plates`` on the given regions of the frame only (all of it when None), boxes in the
    frame's pixels, surest first. The text detector sees each region at the scale it sees the
    whole frame at (what it finds does not depend on where it looked); lines are read from the
    full-resolution region."""
    if regions is None:
        return read_plates(image, t_s, detector, recogniser, params)
    scale = min(1.0, detector.max_side / max(image.shape[:2]))
    out: list[PlateDetection] = []
    for x0, y0, x1, y1 in regions:
        ax, ay, bx, by = int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))
        if bx - ax < 16 or by - ay < 16:
            continue
        crop = np.ascontiguousarray(image[ay:by, ax:bx])
        out += [dataclasses.replace(d, xyxy=(d.xyxy[0] + ax, d.xyxy[1] + ay, d.xyxy[2] + ax, d.xyxy[3] + ay))
                for d in read_plates(crop, t_s, detector, recogniser, params, frame_h=image.shape[0],
                                     detect_side=max(32, round(max(crop.shape[:2]) * scale)))]
    return sorted(out, key=lambda d: -d.confidence)


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def vote(index: int, reads: Sequence[PlateDetection], top_n: int = 3) -> PlateSighting:
    """One registration from a vehicle's reads: each registration scores the sum of its reads'
    confidences (reads fitting no format count half). ``confidence`` is the winner's share of the
    total times its mean confidence; alternatives carry their shares."""
    if not reads:
        raise ValueError("vote needs at least one read")
    score: dict[str, float] = {}
    for r in reads:
        score[r.read.plate] = score.get(r.read.plate, 0.0) + r.confidence * (1.0 if r.read.valid else 0.5)
    total = sum(score.values()) or 1.0
    ranked = sorted(score, key=lambda k: (-score[k], k))
    winner = ranked[0]
    mine = [r for r in reads if r.read.plate == winner]
    best = max(mine, key=lambda r: (r.confidence, -r.t_s))
    mean = sum(r.confidence for r in mine) / len(mine)
    return PlateSighting(
        index=index, plate=winner, format=best.read.format, valid=best.read.valid,
        confidence=round(score[winner] / total * mean, 4),
        alternatives=tuple((k, round(score[k] / total, 4)) for k in ranked[1:1 + top_n]),
        first_t_s=min(r.t_s for r in reads), last_t_s=max(r.t_s for r in reads), n_reads=len(reads), best=best,
        reads=tuple(sorted(reads, key=lambda r: r.t_s)))


@dataclass
class _Open:
    reads: list[PlateDetection] = field(default_factory=list)

    @property
    def last(self) -> PlateDetection:
        return self.reads[-1]


def _affinity(track: _Open, d: PlateDetection, p: PlateParams) -> float | None:
    """How well a read continues a track (higher is better), None if it cannot."""
    if d.t_s - track.last.t_s > p.max_gap_s:
        return None
    distance = min(edit_distance(confusion_key(r.read.plate), confusion_key(d.read.plate)) for r in track.reads[-5:])
    iou = box_iou(track.last.xyxy, d.xyxy)
    if distance > p.max_key_distance and iou < 0.3:
        return None
    return iou - distance


def track_plates(frames: Iterable[Sequence[PlateDetection]], params: PlateParams = PlateParams()
                 ) -> list[PlateSighting]:
    """Follow plates over time-ordered frames (each frame's reads): a read joins the open track
    it continues best (a similar read — at most ``max_key_distance`` edits apart, confusables
    equal — or an overlapping box, within ``max_gap_s``), else starts a track. Sightings are
    numbered by first appearance."""
    open_: list[_Open] = []
    done: list[_Open] = []
    for reads in frames:
        if not reads:
            continue
        now = reads[0].t_s
        for t in [t for t in open_ if now - t.last.t_s > params.max_gap_s]:
            open_.remove(t)
            done.append(t)
        taken: set[int] = set()
        for d in sorted(reads, key=lambda r: -r.confidence):
            scored = [(a, i) for i, t in enumerate(open_) if i not in taken
                      for a in [_affinity(t, d, params)] if a is not None]
            if scored:
                _, i = max(scored)
                open_[i].reads.append(d)
                taken.add(i)
            else:
                open_.append(_Open([d]))
                taken.add(len(open_) - 1)
    done.extend(open_)
    done.sort(key=lambda t: (t.reads[0].t_s, t.reads[0].xyxy[0]))
    return [vote(i, t.reads, params.top_n) for i, t in enumerate(done)]
