"""Number plates in footage: storing the sightings of one stretch of the clip (found by the face
segment from the same decode, ``evidence.work.segment``), the ``plates`` work item of plans made
before the single decode (its own decode at ``EVIDENCE_PLATE_FPS``, every frame searched whole),
and, when the evidence is finalised, the joining of sightings a segment cut split in two.

Each sighting is stored with its plate crop and a wider overview crop (derivatives of the
original, with the models and parameters that made them), every read it was voted from, and a
review state: it is a candidate until a named person confirms it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from evidence import SOFTWARE
from evidence.anpr import sighting_hits
from evidence.derivatives import discard_unreferenced, ensure_stored, record_derivative
from evidence.db.tables import PlateSightingRow, WorkItem
from evidence.eventkinds import EventKind
from evidence.events import evidence_event
from evidence.filestore import StoredFile
from evidence.images import encode_jpeg
from evidence.mediaio import DecodeReport, iter_frames
from evidence.runtime import Runtime
from evidence.states import ReviewState, WorkKind
from evidence.work.contract import Hooks, ItemLease, Job, Outcome
from pipeline.platereading import edit_distance, read_plates, track_plates, vote
from pipeline.plates import confusion_key
from pipeline.types import Box, Frame, PlateDetection, PlateRead, PlateSighting, RGBImage

__all__ = ["SIGHTING_INDEX_STRIDE", "Crops", "clear_sightings", "find_sightings", "plate_crops", "run_plates",
           "save_sightings", "stitch_sightings"]

SIGHTING_INDEX_STRIDE = 100_000
_UNREVIEWED = (ReviewState.PENDING,)


@dataclass(frozen=True)
class Crops:
    plate_jpeg: bytes
    overview_jpeg: bytes
    overview_origin_xy: tuple[int, int]


def _crop(image: RGBImage, xyxy: Box, grow_w: float, grow_h: float) -> tuple[RGBImage, tuple[int, int]]:
    h, w = image.shape[:2]
    x0, y0, x1, y1 = xyxy
    bw, bh = x1 - x0, y1 - y0
    ax, ay = max(0, int(x0 - grow_w * bw)), max(0, int(y0 - grow_h * bh))
    bx, by = min(w, int(x1 + grow_w * bw) + 1), min(h, int(y1 + grow_h * bh) + 1)
    return image[ay:by, ax:bx].copy(), (ax, ay)


def plate_crops(image: RGBImage, xyxy: Box) -> Crops:
    """The plate with a little margin, and the vehicle around it (3 plate widths each side)."""
    plate, _ = _crop(image, xyxy, 0.1, 0.3)
    overview, origin = _crop(image, xyxy, 3.0, 6.0)
    return Crops(encode_jpeg(plate), encode_jpeg(overview, 85), origin)


def find_sightings(rt: Runtime, job: Job, tick: Callable[[Frame], None], report: DecodeReport
                   ) -> tuple[int, list[PlateSighting], dict[tuple[float, Box], Crops]]:
    """Search the job's span of the clip: (frames looked at, sightings, crops of every read kept);
    ffmpeg's warnings go to ``report``."""
    crops: dict[tuple[float, Box], Crops] = {}
    frames_seen = [0]
    m, params = rt.plates, rt.analysis.plate

    def reads() -> Iterator[list[PlateDetection]]:
        for frame in iter_frames(job.original, job.media, rt.analysis.plate_fps, report,
                                 start_s=job.start_s, end_s=job.end_s, threads=rt.settings.decode_threads):
            frames_seen[0] += 1
            tick(frame)
            found = read_plates(frame.image, frame.t_s, m.detector, m.recogniser, params)
            for d in found:
                crops[(d.t_s, d.xyxy)] = plate_crops(frame.image, d.xyxy)
            yield found

    sightings = track_plates(reads(), params)
    return frames_seen[0], sightings, crops


def clear_sightings(s: Session, evidence_id: int, segment: int | None = None) -> None:
    """Drop unreviewed sightings of an earlier or unfinished run (of one segment, or all)."""
    q = delete(PlateSightingRow).where(PlateSightingRow.evidence_id == evidence_id,
                                       PlateSightingRow.review_state.in_(_UNREVIEWED))
    if segment is not None:
        q = q.where(PlateSightingRow.segment == segment)
    s.execute(q)


def _read_json(d: PlateDetection) -> dict[str, Any]:
    return {"t_s": round(d.t_s, 3), "xyxy": [round(v, 1) for v in d.xyxy], "raw": d.read.raw, "plate": d.read.plate,
            "format": d.read.format, "valid": d.read.valid, "changed": d.read.changed, "region": d.read.region,
            "confidence": d.confidence}


def _read_from_json(r: dict[str, Any]) -> PlateDetection:
    x0, y0, x1, y1 = r["xyxy"]
    return PlateDetection(r["t_s"], (x0, y0, x1, y1), PlateRead(r["raw"], r["plate"], r["format"], r["valid"],
                                                                r["changed"], r.get("region")), r["confidence"])


def save_sightings(rt: Runtime, job: Job, sightings: Sequence[PlateSighting],
                   crops: dict[tuple[float, Box], Crops], fence: Callable[[Session], None],
                   search: dict[str, Any] | None = None) -> int:
    """Store the sightings of one segment, their crops as derivatives, in one transaction fenced by
    the work item's lease; an event per sighting on the incident's timeline, and a hit for each
    sighting of a hotlisted vehicle. A vehicle a person already reviewed (an earlier run) is not
    stored again. ``search``: where in the frames plates were looked for. Returns how many were
    stored."""
    made_by = {"software": SOFTWARE, "models": rt.plates.versions,
               "parameters": {"plate_fps": rt.analysis.plate_fps, "detector_max_side": rt.settings.plate_max_side,
                              **rt.analysis.plate.as_record(), **rt.plates.record(),
                              "search": search or {"regions": "whole frame, every searched frame"}}}
    stored: list[tuple[PlateSighting, StoredFile, StoredFile, Crops]] = []
    files: list[StoredFile] = []  # everything this run put in the store, to discard if unused
    with rt.sessions() as s:
        fresh, _ = _not_reviewed(s, rt, job.evidence_id, sightings)
    try:
        for sg in fresh:
            c = crops[(sg.best.t_s, sg.best.xyxy)]
            stored.append((sg, rt.store.put_bytes(c.plate_jpeg, "derivatives", ".jpg"),
                           rt.store.put_bytes(c.overview_jpeg, "derivatives", ".jpg"), c))
            files += stored[-1][1:3]
        with rt.sessions.begin() as s:
            fence(s)
            # Decided again inside the transaction: a sighting reviewed since is not raised twice.
            still, taken = _not_reviewed(s, rt, job.evidence_id, [sg for sg, *_ in stored])
            keep = {id(sg) for sg in still}
            clear_sightings(s, job.evidence_id, job.index)
            index = job.index * SIGHTING_INDEX_STRIDE
            saved = 0
            for sg, plate_file, overview_file, c in stored:
                if id(sg) not in keep:
                    continue
                while index in taken:
                    index += 1
                taken.add(index)
                plate_file = ensure_stored(plate_file, partial(rt.store.put_bytes, c.plate_jpeg, "derivatives", ".jpg"))
                overview_file = ensure_stored(overview_file,
                                              partial(rt.store.put_bytes, c.overview_jpeg, "derivatives", ".jpg"))
                files += [plate_file, overview_file]
                at = {"t_s": sg.best.t_s, "xyxy": list(sg.best.xyxy)}
                crop = record_derivative(s, job.evidence_id, job.sha256, "plate_crop", plate_file.sha256,
                                         rt.store.relative(plate_file.path), {**made_by, **at})
                overview = record_derivative(s, job.evidence_id, job.sha256, "plate_overview", overview_file.sha256,
                                             rt.store.relative(overview_file.path),
                                             {**made_by, **at, "crop_origin_xy": list(c.overview_origin_xy)})
                row = PlateSightingRow(evidence_id=job.evidence_id, segment=job.index, sighting_index=index,
                                       crop_id=crop.id, overview_id=overview.id, made_by=made_by)
                _fill(row, sg)
                s.add(row)
                s.flush()
                evidence_event(s, job.evidence_id, EventKind.PLATE_SIGHTING, sighting_id=row.id, plate=row.vrm,
                               confidence=row.confidence, t_s=row.best_t_s, valid=row.valid)
                sighting_hits(s, row, job.incident_id)
                saved += 1
    except BaseException:
        discard_unreferenced(rt.sessions, rt.store, files)
        raise
    if saved < len(stored):
        discard_unreferenced(rt.sessions, rt.store, files)
    return saved


def _not_reviewed(s: Session, rt: Runtime, evidence_id: int,
                  sightings: Sequence[PlateSighting]) -> tuple[list[PlateSighting], set[int]]:
    """The sightings no reviewed sighting of this evidence already covers (reviewed ones outlive a
    re-run: the same vehicle is not raised twice), and the sighting indexes the reviewed hold."""
    p = rt.analysis.plate
    reviewed = [(r.vrm_key, r.first_t_s, r.last_t_s, r.sighting_index) for r in s.scalars(
        select(PlateSightingRow).where(PlateSightingRow.evidence_id == evidence_id,
                                       PlateSightingRow.review_state.not_in(_UNREVIEWED)))]
    fresh = [sg for sg in sightings if not any(
        edit_distance(key, confusion_key(sg.plate)) <= p.max_key_distance
        and sg.first_t_s <= last + p.max_gap_s and sg.last_t_s >= first - p.max_gap_s
        for key, first, last, _ in reviewed)]
    return fresh, {index for *_, index in reviewed}


def _fill(row: PlateSightingRow, sg: PlateSighting) -> None:
    row.vrm, row.vrm_key, row.format, row.valid = sg.plate, confusion_key(sg.plate), sg.format, sg.valid
    row.region = sg.region
    row.vrm_key_rev = row.vrm_key[::-1]
    row.confidence, row.alternatives = sg.confidence, [list(a) for a in sg.alternatives]
    row.first_t_s, row.last_t_s, row.best_t_s = sg.first_t_s, sg.last_t_s, sg.best.t_s
    row.best_xyxy, row.n_reads = [round(v, 1) for v in sg.best.xyxy], sg.n_reads
    row.reads = [_read_json(d) for d in sg.reads]


def stitch_sightings(s: Session, evidence_id: int, items: Sequence[WorkItem], max_gap_s: float,
                     max_key_distance: int, top_n: int) -> int:
    """Join sightings of adjacent segments that are one vehicle across the cut (similar plate,
    within ``max_gap_s``): their reads are voted again as one, and the crops are those of the piece
    holding the best read. Reviewed sightings stay as they are. Returns how many were joined."""
    rows = sorted(s.scalars(select(PlateSightingRow).where(PlateSightingRow.evidence_id == evidence_id)),
                  key=lambda r: (r.first_t_s, r.sighting_index))
    planned = {i.index for i in items if i.kind == WorkKind.PLATES
               or (i.kind == WorkKind.SEGMENT and (i.plan or {}).get("plates"))}
    joined = 0
    alive = list(rows)
    for later in rows:
        if later.review_state != ReviewState.PENDING or later.segment == 0:
            continue
        if later.segment - 1 not in planned:
            continue
        for earlier in alive:
            if (earlier is later or earlier.segment != later.segment - 1 or earlier.review_state != ReviewState.PENDING
                    or later.first_t_s - earlier.last_t_s > max_gap_s
                    or edit_distance(earlier.vrm_key, later.vrm_key) > max_key_distance):
                continue
            sg = vote(0, [_read_from_json(r) for r in earlier.reads + later.reads], top_n)
            if sg.best.t_s > earlier.last_t_s:  # the best read is the later piece's: so are the crops
                earlier.crop_id, earlier.overview_id = later.crop_id, later.overview_id
            _fill(earlier, sg)
            earlier.segment = later.segment  # so a sighting crossing two cuts joins again
            s.delete(later)
            alive.remove(later)
            joined += 1
            break
    s.flush()
    return joined


def run_plates(rt: Runtime, job: Job, lease: ItemLease, hooks: Hooks) -> Outcome:
    report = DecodeReport()
    frames, sightings, crops = find_sightings(rt, job, lambda frame: lease.beat(job.done_at(frame.t_s), hooks),
                                              report)
    saved = save_sightings(rt, job, sightings, crops, lease.fence)
    return Outcome(frames, {"sightings": saved, "reads": sum(sg.n_reads for sg in sightings),
                            "decode_warnings": report.warnings[:20]})
