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
    "redacted_copy_args",
    "explain_ffmpeg_error",
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


_HINTS = {
    "moov atom not found": "the MP4 index is missing, so the file is incomplete (an upload or copy cut short)",
    "Invalid data found when processing input": "the bytes are not in any known media format",
}


def explain_ffmpeg_error(stderr: str) -> str:
    """One line from ffmpeg's stderr: its most specific message, with a plain-words hint."""
    messages = []
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith("[") and "] " in line:  # "[mov,mp4,... @ 0x55...] moov atom not found"
            line = line.split("] ", 1)[1]
        msg = line.rsplit(": ", 1)[-1] if ": " in line else line
        if msg and msg not in messages:
            messages.append(msg)
    if not messages:
        return "no output from ffmpeg"
    msg = next((m for m in messages if m in _HINTS), messages[-1])
    return f"{msg} ({_HINTS[msg]})" if msg in _HINTS else msg


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
    """The video packets the demuxer could actually read: keyframe times, how many, the last
    presentation time, and the byte extent (``end_byte`` = max(pos + size))."""

    keyframe_times_s: tuple[float, ...]
    n_packets: int
    end_byte: int
    last_t_s: float


def parse_packets(text: str) -> PacketIndex:
    keys: list[float] = []
    end, n, last = 0, 0, 0.0
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 4:
            continue
        pts, size, pos, flags = parts[:4]
        n += 1
        if pos.isdigit() and size.isdigit():
            end = max(end, int(pos) + int(size))
        if pts in ("", "N/A"):
            continue
        last = max(last, float(pts))
        if "K" in flags:
            keys.append(float(pts))
    return PacketIndex(tuple(sorted(keys)), n, end, last)


def check_complete(index: PacketIndex, info: MediaInfo, file_size: int, name: str) -> None:
    """Raise InvalidMedia when the file holds fewer video frames than its header promises: an
    upload cut short whose index (MP4 ``moov`` at the front) survived. Probing alone passes such
    files with the full duration."""
    if index.n_packets == 0:
        raise InvalidMedia(f"{name}: video stream has no packets")
    ends_early = info.fps > 0 and index.last_t_s < info.duration_s - max(1.0, 2.0 / info.fps)
    # A couple of frames' slack (edit lists, encoder quirks): refusing a sound phone clip is worse
    # than accepting one that lost its last frames.
    frames_missing = bool(info.n_frames) and index.n_packets < 0.99 * (info.n_frames or 0) - 2
    truncated = index.end_byte > file_size or (ends_early and (frames_missing or not info.n_frames))
    if truncated:
        raise InvalidMedia(f"{name}: truncated: the file ends at {index.last_t_s:.1f} s of a "
                           f"{info.duration_s:.1f} s video ({index.n_packets} of {info.n_frames or '?'} frames)")


def decode_args(
    path: str,
    fps: float | None,
    out_wh: tuple[int, int],
    keyframes_only: bool = False,
    start_s: float = 0.0,
    end_s: float | None = None,
    threads: int = 0,
) -> list[str]:
    """ffmpeg arguments that write upright RGB24 frames of size out_wh to stdout.

    The ffmpeg CLI applies the rotation itself. With ``fps`` frames are resampled to that rate
    (frame k is at start_s + k / fps seconds) and frames no other frame refers to are not decoded
    at all (``-skip_frame noref``: at a few samples a second the nearest decoded frame is as good,
    and it saves ~30 % of decoding on footage with B-frames). With ``keyframes_only`` only key
    frames are decoded and passed through at their own times (take them from ``parse_packets``).
    ``start_s``/``end_s`` decode one stretch (a segment cut at a keyframe: the seek is exact);
    ``threads`` > 0 caps ffmpeg's threads (a worker per core runs it single-threaded)."""
    args: list[str] = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error"]
    if threads > 0:
        args += ["-threads", str(threads), "-filter_threads", str(threads)]
    if keyframes_only:
        args += ["-skip_frame", "nokey"]
    elif fps:
        args += ["-skip_frame", "noref"]
    if start_s > 0:
        args += ["-ss", f"{start_s:.6f}"]
    if end_s is not None:
        args += ["-to", f"{end_s:.6f}"]
    args += ["-i", path, "-map", "0:v:0", "-an", "-sn", "-dn"]
    filters: list[str] = []
    if fps and not keyframes_only:
        filters.append(f"fps={fps:g}")
    filters.append(f"scale={out_wh[0]}:{out_wh[1]}:flags=area")
    args += ["-vf", ",".join(filters)]
    if threads > 0:
        args += ["-threads", str(threads)]
    if keyframes_only:
        args += ["-fps_mode", "passthrough"]
    args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    return args


WORKING_MAX_WH = (1280, 720)


def working_copy_size(display_wh: tuple[int, int], max_wh: tuple[int, int] = WORKING_MAX_WH) -> tuple[int, int]:
    """The working copy's upright size: the picture fitted inside 1280x720 (720x1280 for portrait),
    never enlarged, even dimensions."""
    w, h = display_wh
    long_side, short_side = max(max_wh), min(max_wh)
    scale = min(1.0, long_side / max(w, h), short_side / max(1, min(w, h)))
    return max(2, int(round(w * scale / 2)) * 2), max(2, int(round(h * scale / 2)) * 2)


def working_copy_is_remux(info: MediaInfo) -> bool:
    """An H.264 original within 720p becomes the working copy by remuxing (same pictures, no
    generation loss); anything else is re-encoded."""
    return info.codec == "h264" and working_copy_size(info.display_wh) == tuple(info.display_wh)


def working_copy_args(src: str, dst: str, info: MediaInfo, threads: int = 0) -> list[str]:
    """ffmpeg arguments writing the evidential working copy: MP4, H.264 (yuv420p), AAC, the
    ``moov`` index at the front (``+faststart``: plays while it downloads), at most 720p, upright,
    container metadata kept. The original is only read."""
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y"]
    if threads > 0:
        args += ["-threads", str(threads)]
    args += ["-i", src, "-map", "0:v:0", "-map", "0:a:0?", "-map_metadata", "0", "-sn", "-dn"]
    if working_copy_is_remux(info):
        args += ["-c", "copy"]
    else:
        w, h = working_copy_size(info.display_wh)
        args += ["-vf", f"scale={w}:{h}:flags=bicubic", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
                 "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k"]
        if threads > 0:
            args += ["-threads", str(threads), "-x264-params", f"threads={threads}"]
    return args + ["-movflags", "+faststart", "-f", "mp4", dst]


def redacted_copy_args(audio_src: str, dst: str, size_wh: tuple[int, int], fps: float) -> list[str]:
    """ffmpeg arguments encoding RGB24 frames of ``size_wh`` read from stdin at ``fps`` into an H.264
    MP4 (+faststart), with the audio of ``audio_src`` (the copy being redacted) if it has any."""
    w, h = size_wh
    return ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "pipe:0", "-i", audio_src, "-map", "0:v:0", "-map", "1:a:0?",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-c:a", "copy",
            "-movflags", "+faststart", "-f", "mp4", dst]


def thumbnail_times(duration_s: float, n: int = 16) -> list[float]:
    """Evenly spread times for a contact sheet: the middle of each of n equal stretches."""
    return [duration_s * (i + 0.5) / n for i in range(n)]


def thumbnail_args(src: str, t_s: float, out_wh: tuple[int, int]) -> list[str]:
    """ffmpeg arguments writing one RGB24 frame of size out_wh at about t_s to stdout (a fast seek:
    only the stretch from the key frame before t_s is decoded)."""
    return ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-ss", f"{t_s:.3f}", "-i", src, "-map", "0:v:0",
            "-frames:v", "1", "-vf", f"scale={out_wh[0]}:{out_wh[1]}:flags=area", "-f", "rawvideo",
            "-pix_fmt", "rgb24", "pipe:1"]
