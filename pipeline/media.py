"""Pure media logic: ffprobe/ffmpeg argument builders and parsers of their output. The subprocess
calls themselves live in ``evidence.mediaio``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from pipeline.errors import InvalidMedia
from pipeline.types import MediaInfo

__all__ = [
    "PacketIndex",
    "check_complete",
    "decode_args",
    "parse_packets",
    "parse_probe",
    "probe_args",
    "packets_args",
    "sniff_kind",
]

# Leading bytes of formats people send instead of video.
_NOT_VIDEO = {
    b"\xff\xd8\xff": "a JPEG image",
    b"\x89PNG": "a PNG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive",
}


def sniff_kind(head: bytes) -> str | None:
    """Name what the first bytes of a file are when they are plainly not video, else None."""
    for magic, kind in _NOT_VIDEO.items():
        if head.startswith(magic):
            return kind
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head[:512]):
        return "a text file"
    return None


def probe_args(path: str) -> list[str]:
    return ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path]


def packets_args(path: str) -> list[str]:
    """Demux-only listing of the first video stream's packets (no decoding)."""
    return ["ffprobe", "-v", "error", "-select_streams", "v:0", "-print_format", "compact=p=0:nk=1",
            "-show_entries", "packet=pts_time,pos,size,flags", path]


def _rotation(stream: dict[str, Any]) -> int:
    for side in stream.get("side_data_list", []) or []:
        if "rotation" in side:
            return int(round(float(side["rotation"]))) % 360
    tag = (stream.get("tags") or {}).get("rotate")
    return int(tag) % 360 if tag else 0


def _fps(stream: dict[str, Any]) -> float:
    num, _, den = str(stream.get("avg_frame_rate") or "0/1").partition("/")
    try:
        value = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return 0.0
    return value if math.isfinite(value) else 0.0


def parse_probe(text: str, name: str) -> MediaInfo:
    """Turn ffprobe's JSON into MediaInfo; raise InvalidMedia when there is no usable video."""
    try:
        data = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise InvalidMedia(f"{name}: ffprobe output unreadable") from exc
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    video = [s for s in streams if s.get("codec_type") == "video"
             and not (s.get("disposition") or {}).get("attached_pic")]
    if not video:
        raise InvalidMedia(f"{name}: no video stream ({fmt.get('format_long_name', 'unknown format')})")
    v = video[0]
    duration = float(v.get("duration") or fmt.get("duration") or 0.0)
    if fmt.get("format_name", "").startswith("image2") or v.get("codec_name") in {"mjpeg", "png"} and duration <= 0:
        raise InvalidMedia(f"{name}: a still image, not video")
    if duration <= 0:
        raise InvalidMedia(f"{name}: video has no duration")
    tags = {**(fmt.get("tags") or {}), **(v.get("tags") or {})}
    location = tags.get("location") or tags.get("com.apple.quicktime.location.ISO6709")
    n_frames = int(v["nb_frames"]) if str(v.get("nb_frames", "")).isdigit() else None
    return MediaInfo(
        container=str(fmt.get("format_name", "")),
        codec=str(v.get("codec_name", "")),
        duration_s=duration,
        size_wh=(int(v.get("width", 0)), int(v.get("height", 0))),
        rotation_deg=_rotation(v),
        fps=_fps(v),
        n_frames=n_frames,
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        creation_time=tags.get("creation_time"),
        location=location,
        bit_rate=int(fmt["bit_rate"]) if str(fmt.get("bit_rate", "")).isdigit() else None,
    )


@dataclass(frozen=True)
class PacketIndex:
    """The video stream's packet table: presentation times of keyframes and the byte extent the
    index claims (``end_byte`` = max(pos + size))."""

    keyframe_times_s: tuple[float, ...]
    n_packets: int
    end_byte: int


def parse_packets(text: str) -> PacketIndex:
    keys: list[float] = []
    end, n = 0, 0
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 4:
            continue
        pts, size, pos, flags = parts[:4]
        n += 1
        if pos.isdigit() and size.isdigit():
            end = max(end, int(pos) + int(size))
        if "K" in flags and pts not in ("", "N/A"):
            keys.append(float(pts))
    return PacketIndex(tuple(sorted(keys)), n, end)


def check_complete(index: PacketIndex, file_size: int, name: str) -> None:
    """Raise InvalidMedia when the index points past the end of the file (a truncated upload)."""
    if index.n_packets == 0:
        raise InvalidMedia(f"{name}: video stream has no packets")
    if index.end_byte > file_size:
        missing = index.end_byte - file_size
        raise InvalidMedia(f"{name}: truncated: the file ends {missing} bytes before its last video frame")


def decode_args(
    path: str,
    fps: float | None,
    out_wh: tuple[int, int],
    keyframes_only: bool = False,
) -> list[str]:
    """ffmpeg arguments that write upright RGB24 frames of size out_wh to stdout.

    The ffmpeg CLI applies the rotation itself. With ``fps`` frames are resampled to that rate
    (frame k is at k / fps seconds) and frames no other frame refers to are not decoded at all
    (``-skip_frame noref``: at a few samples a second the nearest decoded frame is as good, and it
    saves ~30 % of decoding on footage with B-frames). With ``keyframes_only`` only key frames are
    decoded and passed through at their own times (take them from ``parse_packets``)."""
    args: list[str] = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error"]
    if keyframes_only:
        args += ["-skip_frame", "nokey"]
    elif fps:
        args += ["-skip_frame", "noref"]
    args += ["-i", path, "-map", "0:v:0", "-an", "-sn", "-dn"]
    filters: list[str] = []
    if fps and not keyframes_only:
        filters.append(f"fps={fps:g}")
    filters.append(f"scale={out_wh[0]}:{out_wh[1]}:flags=area")
    args += ["-vf", ",".join(filters)]
    if keyframes_only:
        args += ["-fps_mode", "passthrough"]
    args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    return args
