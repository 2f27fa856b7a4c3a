"""The evidential working copy of a clip: what investigators play and what exports carry, made by
ffmpeg from the original (which is only read), stored content-addressed beside it, and recorded as
derivatives naming the original's hash and exactly how they were made."""

from __future__ import annotations

import subprocess

import numpy as np
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evidence.filestore import FileStore, StoredFile
from pipeline.errors import InvalidMedia
from evidence.images import encode_jpeg
from pipeline.media import thumbnail_args, thumbnail_times, working_copy_args, working_copy_is_remux, working_copy_size
from pipeline.types import MediaInfo

__all__ = ["MadeFile", "make_working_copy"]


@dataclass(frozen=True)
class MadeFile:
    kind: str  # working_copy | contact_sheet
    stored: StoredFile
    made_by: dict[str, object]


def _ffmpeg_version() -> str:
    out = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out else "ffmpeg"


def _run(args: list[str], what: str, heartbeat: Callable[[], None] | None, every_s: float) -> None:
    """Run ffmpeg; call ``heartbeat`` every ``every_s`` while it works (the caller's lease)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
        try:
            while True:
                try:
                    code = proc.wait(timeout=every_s)
                    break
                except subprocess.TimeoutExpired:
                    if heartbeat:
                        heartbeat()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if code != 0:
            err.seek(0)
            lines = err.read().decode(errors="replace").strip().splitlines()
            raise InvalidMedia(f"{what} failed: {lines[-1] if lines else f'ffmpeg exit {code}'}")


SHEET_TILES = (4, 4)
THUMB_W = 320


def contact_sheet(video: Path, info: MediaInfo) -> np.ndarray:
    """4 x 4 thumbnails spread over the clip, in time order, as one RGB image (a frame that cannot
    be had, past the end of a short clip, stays black)."""
    w, h = working_copy_size(info.display_wh)
    tw, th = THUMB_W, max(2, int(round(THUMB_W * h / w / 2)) * 2)
    cols, rows = SHEET_TILES
    sheet = np.zeros((rows * th, cols * tw, 3), np.uint8)
    for k, t in enumerate(thumbnail_times(info.duration_s, cols * rows)):
        out = subprocess.run(thumbnail_args(str(video), t, (tw, th)), capture_output=True, check=False).stdout
        if len(out) == tw * th * 3:
            r, c = divmod(k, cols)
            sheet[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = np.frombuffer(out, np.uint8).reshape(th, tw, 3)
    return sheet


def make_working_copy(store: FileStore, original: Path, info: MediaInfo, threads: int = 0,
                      heartbeat: Callable[[], None] | None = None, every_s: float = 10.0) -> list[MadeFile]:
    """Write the working copy (H.264 MP4, +faststart, <= 720p) and a 4x4 contact sheet into the
    store; ``heartbeat`` is called every ``every_s`` seconds while ffmpeg works."""
    (store.root / "tmp").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=store.root / "tmp") as tmp:
        copy, sheet = Path(tmp) / "working.mp4", Path(tmp) / "sheet.jpg"
        copy_args = working_copy_args(str(original), str(copy), info, threads)
        _run(copy_args, "working copy", heartbeat, every_s)
        sheet.write_bytes(encode_jpeg(contact_sheet(copy, info)))
        version = _ffmpeg_version()
        made = []
        stored_copy = store.put_file(copy, "derivatives", ".mp4")
        try:
            made.append(MadeFile("working_copy", stored_copy, {
                "tool": version, "method": "remux" if working_copy_is_remux(info) else "h264 re-encode",
                "size_wh": list(working_copy_size(info.display_wh)),
                "args": [a if a not in (str(original), str(copy)) else Path(a).name for a in copy_args]}))
            stored_sheet = store.put_file(sheet, "derivatives", ".jpg")
        except BaseException:
            if not stored_copy.existed:
                store.discard_new(stored_copy.path)
            raise
        made.append(MadeFile("contact_sheet", stored_sheet, {
            "tool": version, "from": "working_copy", "tiles": f"{SHEET_TILES[0]}x{SHEET_TILES[1]}",
            "times_s": [round(t, 2) for t in thumbnail_times(info.duration_s, SHEET_TILES[0] * SHEET_TILES[1])]}))
        return made
