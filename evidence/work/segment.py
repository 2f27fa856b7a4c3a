"""The ``segment`` work item: faces and number plates in one stretch of the clip, from one
decode. Frames are decoded at the sample rate; faces are detected (threads) and tracked, each
track stored as it opens and as it closes, with its candidates, so the control room sees a match
while the clip is still being analysed. Every ``sample_fps / plate_fps``-th frame is also
searched for plates where it changed since the last one searched (``pipeline.motion``), and
the stretch's sightings are stored when it ends."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

from evidence.mediaio import DecodeReport, iter_frames
from evidence.ordered import ordered_map
from evidence.runtime import Runtime
from evidence.work.contract import Hooks, ItemLease, Job, Outcome
from evidence.work.plates import Crops, plate_crops, save_sightings
from evidence.work.results import Recorder, Watchlist, clear_unreviewed
from pipeline.analysis import analyse_faces
from pipeline.faces import detect_faces, detect_faces_near
from pipeline.motion import MotionParams, PlateRegions
from pipeline.platereading import read_plates_in, track_plates
from pipeline.types import Box, FaceDetection, Frame, PlateDetection

__all__ = ["run_segment"]

_Detected = tuple[Frame, list[FaceDetection] | None, list[PlateDetection] | None]


def run_segment(rt: Runtime, job: Job, lease: ItemLease, hooks: Hooks) -> Outcome:
    with rt.sessions.begin() as s:
        lease.fence(s)
        clear_unreviewed(s, job.evidence_id, job.index)
        watchlist = Watchlist.load(s, rt, job.evidence_id)
    report = DecodeReport()
    seen = [0]
    plates = bool(job.plan.get("plates")) and rt.analysis.plates
    # Plates on every Nth decoded frame: plate_fps as near as the sample rate allows (never above it).
    plate_every = max(1, round(rt.analysis.fps / rt.analysis.plate_fps))
    motion = MotionParams()
    regions = PlateRegions(motion)
    to_search: dict[int, list[Box] | None] = {}  # frame index -> plate regions (None: the whole frame)
    searched = {"frames": 0, "whole": 0}

    def counted(frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            seen[0] += 1
            lease.beat(job.done_at(frame.t_s), hooks)
            if plates and frame.index % plate_every == 0:  # in time order: motion is measured here
                to_search[frame.index] = found = regions.regions(frame.image, frame.t_s)
                searched["frames"] += 1
                searched["whole"] += found is None
            yield frame

    m, face, pm = rt.faces, rt.analysis.face, rt.plates
    frames = counted(iter_frames(job.original, job.media, rt.analysis.fps, report, start_s=job.start_s,
                                 end_s=job.end_s, threads=rt.settings.decode_threads))
    crops: dict[tuple[float, Box], Crops] = {}

    def detect(frame: Frame) -> _Detected:
        faces = detect_faces(frame, m.detector, m.aligner, face.detect_scale, face.min_face_px) \
            if face.needs_full_pass(frame) else None
        found = None
        if frame.index in to_search:
            found = read_plates_in(frame.image, to_search.pop(frame.index), frame.t_s, pm.detector, pm.recogniser,
                                   rt.analysis.plate)
            for d in found:
                crops[(d.t_s, d.xyxy)] = plate_crops(frame.image, d.xyxy)
        return frame, faces, found

    def detect_near(frame: Frame, boxes: list[Box]) -> list[FaceDetection]:
        return detect_faces_near(frame, boxes, m.detector, m.aligner, face.min_face_px)

    reads: list[list[PlateDetection]] = []

    def faces_of(detected: Iterable[_Detected]) -> Iterator[tuple[Frame, list[FaceDetection] | None]]:
        for frame, faces, found in detected:
            if found is not None:
                reads.append(found)
            yield frame, faces

    recorder = Recorder(rt, job.evidence_id, job.sha256, lease, job.index, watchlist, hooks.on_candidate)
    detected = ordered_map(detect, frames, rt.analysis.workers, inflight=4 * rt.analysis.workers)
    for event in analyse_faces(faces_of(detected), detect_near, m.embedder, face):
        recorder.record(event)
    result = {"tracks": recorder.tracks, "decode_warnings": report.warnings[:20], "watchlist": watchlist.record()}
    if plates:
        sightings = track_plates(reads, rt.analysis.plate)
        search = {"regions": "where the picture changed since the last frame searched, the whole frame "
                  f"at the start and at least every {motion.full_every_s:g} s; regions read at their own "
                  "resolution up to detector_max_side", "frames_per_s": round(rt.analysis.fps / plate_every, 4),
                  **dataclasses.asdict(motion)}
        saved = save_sightings(rt, job, sightings, crops, lease.fence, search)
        result["plates"] = {"frames": searched["frames"], "whole_frames": searched["whole"], "sightings": saved,
                            "reads": sum(sg.n_reads for sg in sightings)}
    return Outcome(seen[0], result)
