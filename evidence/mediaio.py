"""Thin wrappers that run ffprobe/ffmpeg with arguments built in ``pipeline.media``.

``iter_frames`` streams: ffmpeg decodes in its own process while a reader thread keeps a few frames
ready, so a frame is analysed while later ones decode, and memory stays bounded by the queue."""

from __future__ import annotations

import queue
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from pipeline.errors import InvalidMedia
from pipeline.media import check_complete, decode_args, explain_ffmpeg_error, packets_args, parse_packets, parse_probe, probe_args, sniff_kind
from pipeline.types import Frame, MediaInfo

__all__ = ["KEYFRAMES", "KEYFRAMES_KEPT_MAX", "DecodeReport", "iter_frames", "keyframe_times", "kept_keyframes", "probe_media", "probe_with_keyframes"]


def _run(args: list[str], name: str) -> str:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise InvalidMedia(f"{args[0]} is not installed (apt-get install ffmpeg)") from exc
    if proc.returncode != 0:
        raise InvalidMedia(f"{name}: not readable as video: {explain_ffmpeg_error(proc.stderr)}")
    return proc.stdout


KEYFRAMES = "keyframes_s"  # the key frames' times the ingest found, kept in the evidence's media record
KEYFRAMES_KEPT_MAX = 5000  # ~40 KB of JSON in the evidence's row: 2.8 h with a key frame every 2 s


def kept_keyframes(times: Sequence[float]) -> dict[str, list[float]]:
    """What the evidence's media record keeps of its key frames: all of them, or none for footage
    with very many (intra-only video: every frame a key frame), whose plan lists them again."""
    return {KEYFRAMES: [round(t, 4) for t in times]} if len(times) <= KEYFRAMES_KEPT_MAX else {}


def probe_media(path: Path, name: str | None = None) -> MediaInfo:
    """Probe a clip and check it is complete; InvalidMedia with a one-line reason otherwise."""
    return probe_with_keyframes(path, name)[0]


def probe_with_keyframes(path: Path, name: str | None = None) -> tuple[MediaInfo, list[float]]:
    """``probe_media`` and the key frames' times (``keyframe_times``) from the same listing of the
    packets: the ingest keeps them, so the plan does not demux the whole clip a second time."""
    name = name or path.name
    if not path.is_file():
        raise InvalidMedia(f"{name}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise InvalidMedia(f"{name}: empty file (0 bytes)")
    with path.open("rb") as f:
        kind = sniff_kind(f.read(4096))
    if kind:
        raise InvalidMedia(f"{name}: not a video: the content is {kind}")
    info = parse_probe(_run(probe_args(str(path)), name), name)
    index = parse_packets(_run(packets_args(str(path)), name))
    check_complete(index, info, size, name)
    return info, _from_zero(index.keyframe_times_s)


def keyframe_times(path: Path, name: str | None = None) -> list[float]:
    """Presentation times of the video key frames, from the start of the clip (the first is 0)."""
    return _from_zero(parse_packets(_run(packets_args(str(path)), name or path.name)).keyframe_times_s)


def _from_zero(times: Sequence[float]) -> list[float]:
    origin = min(times, default=0.0)
    return [t - origin for t in times]


class DecodeReport:
    """What ffmpeg complained about while decoding (corrupt packets it skipped)."""

    def __init__(self) -> None:
        self.warnings: list[str] = []


def iter_frames(
    path: Path,
    info: MediaInfo,
    fps: float | None,
    report: DecodeReport | None = None,
    read_ahead: int = 4,
    start_s: float = 0.0,
    end_s: float | None = None,
    threads: int = 0,
    keyframe_times_s: list[float] | None = None,
) -> Iterator[Frame]:
    """Upright RGB frames sampled at ``fps`` from ``start_s`` (frame k at start_s + k / fps) up to
    ``end_s``; with ``keyframe_times_s`` instead, the key frames only, at those times. Raises
    InvalidMedia if ffmpeg fails mid-file."""
    w, h = info.display_wh
    frame_bytes = w * h * 3
    keyframes = keyframe_times_s is not None
    args = decode_args(str(path), None if keyframes else fps, (w, h), keyframes, start_s, end_s, threads)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stderr is not None
    frames: queue.Queue[bytes | None] = queue.Queue(maxsize=read_ahead)
    errors: list[str] = []

    def read_stdout() -> None:
        assert proc.stdout is not None
        while len(buf := proc.stdout.read(frame_bytes)) == frame_bytes:
            frames.put(buf)
        frames.put(None)

    def read_stderr() -> None:
        assert proc.stderr is not None
        errors.extend(line.decode(errors="replace").strip() for line in proc.stderr)

    readers = [threading.Thread(target=read_stdout, daemon=True), threading.Thread(target=read_stderr, daemon=True)]
    for t in readers:
        t.start()
    k = 0
    try:
        while (buf := frames.get()) is not None:
            image = np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3)
            if keyframe_times_s is not None:
                t_s = keyframe_times_s[k] if k < len(keyframe_times_s) else keyframe_times_s[-1]
            else:
                t_s = start_s + k / (fps or 1.0)
            yield Frame(k, t_s, image)
            k += 1
        code = proc.wait()
        readers[1].join(timeout=5)
        if report is not None:
            report.warnings.extend(e for e in errors if e)
        if code != 0:
            reason = next((e for e in reversed(errors) if e), f"ffmpeg exit {code}")
            at = start_s + k / fps if fps and not keyframes else start_s
            raise InvalidMedia(f"{path.name}: decoding failed at {at:.1f} s ({reason})")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        while not frames.empty():  # unblock the reader if we stopped early
            frames.get_nowait()
