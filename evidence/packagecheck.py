"""Checking an evidence package as its recipient would (`evidence verify PACKAGE`): every file's
SHA-256 against MANIFEST.sha256, and the ZIP itself read both ways — by its central directory, as
zipfile and `unzip` read it, and by its local headers one after another, as a streaming extractor
reads it — so a package that extracts differently depending on the tool is not intact."""

from __future__ import annotations

import hashlib
import stat
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MANIFEST", "PackageCheck", "verify_package"]

MANIFEST = "MANIFEST.sha256"
MAX_NAME_BYTES = 255  # one path part: what Linux, macOS and Windows file systems take
MAX_PATH_CHARS = 1000
CHUNK = 1 << 20


@dataclass(frozen=True)
class PackageCheck:
    ok: bool
    files: int
    manifest_sha256: str | None
    problems: list[str]


def _name_problem(name: str) -> str | None:
    """Why an entry name could write outside the folder it is extracted to, or not at all."""
    parts = name.split("/")
    if not name or name.startswith("/") or "\\" in name or ":" in parts[0] or any(p in ("", ".", "..") for p in parts):
        return "not a plain relative path (absolute, '..', '.', empty part, backslash or drive)"
    if any(len(p.encode()) > MAX_NAME_BYTES for p in parts) or len(name) > MAX_PATH_CHARS:
        return "a name too long to extract"
    if not name.isprintable():
        return "a name with control characters"
    return None


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


_LOCAL = struct.Struct("<4s5H3L2H")  # a ZIP local file header: signature … name length, extra length


def _local_headers(path: Path, zf: zipfile.ZipFile) -> list[str]:
    """The entries as a streaming extractor meets them — local headers one after another from the
    first byte — must be exactly the central directory's, in order, with nothing between them or
    before the directory: an entry hidden from the directory (a forged report a streaming tool
    would take, or bytes before the first entry) is a problem."""
    problems: list[str] = []
    entries = sorted(zf.infolist(), key=lambda i: i.header_offset)
    at = 0
    with path.open("rb") as f:
        for info in entries:
            if info.header_offset != at:
                problems.append(f"{at - info.header_offset if at > info.header_offset else info.header_offset - at} "
                                f"bytes {'overlap' if at > info.header_offset else 'before'} {info.filename}: an "
                                "entry not in the central directory, or one hidden in another")
            f.seek(info.header_offset)
            head = f.read(_LOCAL.size)
            if len(head) < _LOCAL.size or head[:4] != b"PK\x03\x04":
                problems.append(f"{info.filename}: no local header where the central directory puts it")
                return problems
            _, _, flags, method, _, _, crc, csize, usize, n, m = _LOCAL.unpack(head)
            name, extra = f.read(n), f.read(m)
            if 0xFFFFFFFF in (csize, usize):  # the sizes are in its zip64 extra field (written for large files)
                usize, csize = _zip64_sizes(extra, usize, csize)
            if name.decode("utf-8" if flags & 0x800 else "cp437", "replace") != info.orig_filename:
                problems.append(f"{info.filename}: its local header names {name[:100]!r}")
            if flags & 0x08:  # sizes after the data: where an entry ends is then the directory's word only
                problems.append(f"{info.filename}: a data descriptor (this software never writes one)")
            elif (method, crc, csize, usize) != (info.compress_type, info.CRC, info.compress_size, info.file_size):
                problems.append(f"{info.filename}: its local header's method, CRC or sizes differ from the "
                                "central directory's")
            at = info.header_offset + _LOCAL.size + n + m + info.compress_size
        if at != zf.start_dir:
            problems.append(f"{abs(zf.start_dir - at)} bytes between the last entry and the central directory: "
                            "an entry not in the central directory")
    return problems


def _entry_digest(path: Path, info: zipfile.ZipInfo) -> Any:
    """The SHA-256 of an entry's content, read from exactly its ``compress_size`` bytes: stored, or
    a deflate stream that must end where the entry ends (bytes after its end — a second entry
    hidden inside a widened one, which zipfile would never read — are a problem) and whose CRC
    must match."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"compression method {info.compress_type} (this software writes stored or deflated)")
    h, crc, left = hashlib.sha256(), 0, info.compress_size
    inflate = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    with path.open("rb") as f:
        f.seek(info.header_offset)
        _, _, _, _, _, _, _, _, _, n, m = _LOCAL.unpack(f.read(_LOCAL.size))
        f.seek(info.header_offset + _LOCAL.size + n + m)
        while left:
            raw = f.read(min(CHUNK, left))
            if not raw:
                raise ValueError("the file ends inside this entry")
            left -= len(raw)
            data = inflate.decompress(raw) if inflate else raw
            if inflate and inflate.unused_data:
                raise ValueError(f"{len(inflate.unused_data) + left} bytes after its compressed data ends")
            h.update(data)
            crc = zlib.crc32(data, crc)
        if inflate:
            tail = inflate.flush()
            h.update(tail)
            crc = zlib.crc32(tail, crc)
            if not inflate.eof:
                raise ValueError("its compressed data stops before its end")
    if crc != info.CRC:
        raise ValueError("its CRC does not match: the bytes were changed")
    return h


def _zip64_sizes(extra: bytes, usize: int, csize: int) -> tuple[int, int]:
    """The sizes a local header's zip64 extra field (id 1) holds, for those it left at 0xFFFFFFFF."""
    at = 0
    while at + 4 <= len(extra):
        tag, size = struct.unpack_from("<2H", extra, at)
        if tag == 1:
            values = list(struct.unpack_from(f"<{min(size, 16) // 8}Q", extra, at + 4))
            if usize == 0xFFFFFFFF and values:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            break
        at += 4 + size
    return usize, csize


def verify_package(path: Path) -> PackageCheck:
    """Recompute every file's SHA-256 against MANIFEST.sha256. Strict: any changed, missing or
    unlisted file, any entry present twice (extraction tools keep the one they meet last or first),
    any entry that is a symlink or whose name is absolute, climbs out with '..', holds a backslash,
    or is too long to extract, and any malformed or repeated manifest line is a problem."""
    problems: list[str] = []
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        return PackageCheck(False, 0, None, [f"{path}: not a readable ZIP ({exc})"])
    with zf:
        infos = zf.infolist()
        counts: dict[str, int] = {}
        for info in infos:
            counts[info.filename] = counts.get(info.filename, 0) + 1
        problems += [f"{n}: in the package {c} times" for n, c in sorted(counts.items()) if c > 1]
        folded: dict[str, str] = {}
        for name in sorted(counts):  # one file over another when extracted on Windows or macOS
            key = unicodedata.normalize("NFC", name).casefold()
            if key in folded:
                problems.append(f"{name}: differs from {folded[key]} only in letter case or Unicode form")
            folded.setdefault(key, name)
        files = {i.filename for i in infos if not i.is_dir()}
        for info in infos:
            if (why := _name_problem(info.filename.rstrip("/") if info.is_dir() else info.filename)) is not None:
                problems.append(f"{info.filename!r}: {why}")
            if _is_link(info):
                problems.append(f"{info.filename}: a symbolic link")
            if info.is_dir() and info.filename.rstrip("/") in files:  # `unzip` makes a folder, not the file
                problems.append(f"{info.filename}: a directory where a file is listed")
        problems += _local_headers(path, zf)
        if counts.get(MANIFEST) != 1:
            return PackageCheck(False, 0, None, problems + ([f"{MANIFEST} is missing"] if MANIFEST not in counts else []))
        try:
            text = zf.read(MANIFEST).decode()
        except (UnicodeDecodeError, zipfile.BadZipFile, OSError) as exc:
            return PackageCheck(False, 0, None, problems + [f"{MANIFEST}: unreadable ({exc})"])
        listed: dict[str, str] = {}
        for line in text.splitlines():
            digest, _, name = line.partition("  ")
            if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest) or not name:
                problems.append(f"{MANIFEST}: malformed line {line[:200]!r}")
            elif name in listed:
                problems.append(f"{MANIFEST}: {name} listed twice")
            elif (why := _name_problem(name)) is not None:
                problems.append(f"{MANIFEST}: {name!r}: {why}")
            listed[name] = digest
        present = {i.filename for i in infos if not i.is_dir()} - {MANIFEST}
        problems += [f"{n}: not in the package" for n in sorted(set(listed) - present)]
        problems += [f"{n}: not in the manifest" for n in sorted(present - set(listed))]
        for name in sorted(present & set(listed)):
            if counts[name] > 1:
                continue  # already a problem; which copy would be read is the point
            try:
                h = _entry_digest(path, zf.getinfo(name))
            except (zipfile.BadZipFile, OSError, zlib.error, ValueError) as exc:  # the bytes were changed
                problems.append(f"{name}: unreadable ({exc})")
                continue
            if h.hexdigest() != listed[name]:
                problems.append(f"{name}: SHA-256 {h.hexdigest()} does not match the manifest")
    return PackageCheck(not problems, len(listed), hashlib.sha256(text.encode()).hexdigest(), problems)
