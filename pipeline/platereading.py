"""Plates in images and footage: find text lines, read the plate-shaped ones with the UK grammar,
follow each vehicle's plate over frames and vote its reads into one sighting.

    read_plates(image, t_s, detector, recogniser, params)  -> [PlateDetection]   one frame
    read_crop(crop, recogniser)                            -> (PlateRead, confidence)
    track_plates(frames_of_detections, params)             -> [PlateSighting]    one clip (or segment)
    vote(index, reads, top_n)                              -> PlateSighting      reads of one vehicle

A read is a candidate with a confidence, never a fact: the sighting keeps the alternatives."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pipeline.boxes import box_iou
from pipeline.ocr import CharColumn, TextBox, merge_lines, upright_crop
from pipeline.plates import confusion_key, fit_columns
from pipeline.types import PlateDetection, PlateRead, PlateSighting, RGBImage

__all__ = ["PlateParams", "TextDetector", "TextRecogniser", "edit_distance", "plate_shaped", "read_crop", "read_image", "read_plates",
           "track_plates", "vote"]


class TextDetector(Protocol):
    def detect(self, image: RGBImage) -> list[TextBox]:
        """Text lines in an RGB image, in its pixels."""
        ...


class TextRecogniser(Protocol):
    def read(self, crops: Sequence[RGBImage]) -> list[list[CharColumn]]:
        """Per upright RGB line crop, the characters read with their probabilities."""
        ...


@dataclass(frozen=True)
class PlateParams:
    """What counts as a plate read, and how reads are followed. Recorded with every result."""

    min_confidence: float = 0.6  # geometric mean of the chosen characters' probabilities
    min_chars: int = 2
    max_chars: int = 8
    min_aspect: float = 1.5  # width / height of the text line
    max_aspect: float = 10.0
    min_height_px: float = 8.0
    max_height_frac: float = 0.2  # of the image height: taller "lines" are merged scenery (a crop is read whole)
    crop_pad: float = 0.12  # of the line height, around the text, before reading
    max_gap_s: float = 2.0  # a vehicle unseen for longer starts a new sighting
    max_key_distance: int = 2  # reads this close (edits on confusion keys) are the same plate
    top_n: int = 3

    def as_record(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def read_crop(crop: RGBImage, recogniser: TextRecogniser) -> tuple[PlateRead, float]:
    """Read one plate crop (the plate roughly filling the image)."""
    return fit_columns(recogniser.read([crop])[0])


def read_image(image: RGBImage, detector: TextDetector, recogniser: TextRecogniser,
               params: PlateParams = PlateParams(), as_crop: bool = False) -> list[PlateDetection]:
    """Plates in a still image: the detector's reads, surest first. When it finds none and the image
    is itself plate-shaped (twice as wide as high), or ``as_crop`` says it is a plate crop, the
    whole image is read as one plate (kept if ``as_crop`` or at least ``min_confidence`` sure)."""
    h, w = image.shape[:2]
    found = [] if as_crop else read_plates(image, 0.0, detector, recogniser, params)
    if found or not (as_crop or w >= 2 * h):
        return found
    read, confidence = read_crop(image, recogniser)
    if read.plate and (as_crop or confidence >= params.min_confidence):
        return [PlateDetection(0.0, (0.0, 0.0, float(w), float(h)), read, confidence)]
    return []


def plate_shaped(box: TextBox, image_h: int, p: PlateParams) -> bool:
    return (p.min_height_px <= box.height <= p.max_height_frac * image_h
            and p.min_aspect <= box.width / max(box.height, 1.0) <= p.max_aspect)


def _plate_like(read: PlateRead, p: PlateParams) -> bool:
    text = read.plate
    return (p.min_chars <= len(text) <= p.max_chars and any(c.isdigit() for c in text)
            and any(c.isalpha() for c in text))


def read_plates(image: RGBImage, t_s: float, detector: TextDetector, recogniser: TextRecogniser,
                params: PlateParams = PlateParams()) -> list[PlateDetection]:
    """Plate reads in one frame, surest first. Text that is not plate-shaped, holds no letter and
    digit, or is read with less than ``min_confidence`` is dropped; reads fitting no UK format are
    kept with ``valid`` False."""
    lines = [b for b in merge_lines(detector.detect(image)) if plate_shaped(b, image.shape[0], params)]
    if not lines:
        return []
    reads = recogniser.read([upright_crop(image, b, params.crop_pad) for b in lines])
    out = []
    for box, columns in zip(lines, reads, strict=True):
        read, confidence = fit_columns(columns)
        if confidence >= params.min_confidence and _plate_like(read, params):
            out.append(PlateDetection(t_s, box.xyxy, read, round(confidence, 4)))
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
