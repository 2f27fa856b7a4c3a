"""Evidence packages for court: one ZIP per incident holding the originals (byte for byte), the
working copies, face and plate crops, candidate and sighting reports (JSON and an HTML page),
provenance (software version, model files' SHA-256, thresholds), the incident's audit extract and
``MANIFEST.sha256`` -- ``sha256sum`` format, one line per file -- which ``verify_package`` (and
``sha256sum -c`` after unzipping) checks. The package is written to a temporary name and renamed
when complete, so a failed export leaves no partial package; the export is audited with its reason
and the manifest's own hash (the number to quote for the package)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence import SOFTWARE
from evidence.audit import Actor, append_audit
from evidence.db.tables import AuditEntry, Derivative, Evidence, FaceTrackRow, Incident
from evidence.chronology import chronology, chronology_csv
from evidence.exportpage import report_html
from evidence.reports import candidate_view, evidence_candidates, evidence_plates, evidence_view, sender_view
from evidence.runtime import Runtime
from evidence.states import CLOSED
from evidence.work.intake import with_reference
from models.registry import manifest
from evidence.errors import Conflict, InvalidRequest, NotFound

__all__ = ["ExportSummary", "PackageCheck", "export_incident", "find_incident", "verify_package"]

MANIFEST = "MANIFEST.sha256"
MAX_NAME_BYTES = 255  # one path part: what Linux, macOS and Windows file systems take
MAX_PATH_CHARS = 1000
STORED_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".jpg", ".jpeg", ".png", ".webm", ".3gp"}  # compressed already
CHUNK = 1 << 20


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    manifest_sha256: str
    files: int
    bytes: int
    evidence: int


def _safe(name: str, max_chars: int = 100) -> str:
    """A file name for inside the package: ASCII letters, digits, ``._-``; at most ``max_chars``
    with the extension kept (the full name is in the report)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "file"
    if len(name) > max_chars:
        stem, dot, suffix = name.rpartition(".")
        suffix = f".{suffix}" if dot and len(suffix) <= 10 else ""
        name = (stem if suffix else name)[: max_chars - len(suffix)] + suffix
    return name


def find_incident(s: Session, incident: str, lock: bool = False) -> Incident:
    """By reference, or by number; ``lock``: the row locked for this transaction (a change that
    depends on what it reads)."""
    row = s.scalar(select(Incident).where(with_reference(incident)).with_for_update(read=False) if lock else
                   select(Incident).where(with_reference(incident)))
    if row is None and incident.isdigit():
        row = s.get(Incident, int(incident), with_for_update=lock)
    if row is None:
        raise NotFound(f"incident {incident} not found")
    return row


class _Package:
    """Files going into the ZIP, each hashed as it is written."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.hashes: dict[str, str] = {}
        self.bytes = 0

    def _method(self, name: str) -> int:
        return zipfile.ZIP_STORED if Path(name).suffix.lower() in STORED_SUFFIXES else zipfile.ZIP_DEFLATED

    def add_file(self, name: str, src: Path) -> str:
        if not src.is_file():  # e.g. a database restored without the store's copy of this file
            raise Conflict(f"{name}: its file is missing from the store ({src.name}); restore it, then export")
        h = hashlib.sha256()
        with src.open("rb") as f, self.zf.open(self._info(name), "w", force_zip64=True) as out:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
                self.bytes += len(chunk)
        self.hashes[name] = h.hexdigest()
        return self.hashes[name]

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=datetime.now(UTC).timetuple()[:6])
        info.compress_type = self._method(name)
        return info

    def add_bytes(self, name: str, data: bytes) -> None:
        self.zf.writestr(self._info(name), data)
        self.hashes[name] = hashlib.sha256(data).hexdigest()
        self.bytes += len(data)

    def add_json(self, name: str, value: Any) -> None:
        self.add_bytes(name, json.dumps(value, indent=1, default=str, sort_keys=True).encode())


def _audit_extract(s: Session, incident: Incident, evidence: list[Evidence], candidates: list[int],
                   sightings: list[int]) -> list[dict[str, Any]]:
    tracks = s.scalars(select(FaceTrackRow.id).where(FaceTrackRow.evidence_id.in_([e.id for e in evidence]))).all()
    targets = ([f"incident:{incident.id}"] + [f"evidence:{e.id}" for e in evidence]
               + [f"candidate:{c}" for c in candidates] + [f"plate_sighting:{p}" for p in sightings]
               + [f"face_track:{t}" for t in tracks])
    rows: list[AuditEntry] = []
    for i in range(0, len(targets), 500):
        rows += s.scalars(select(AuditEntry).where(AuditEntry.target.in_(targets[i:i + 500])))
    rows.sort(key=lambda e: e.id)
    return [{"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "role": e.role, "action": e.action,
             "target": e.target, "reason": e.reason, "detail": e.detail, "prev_hash": e.prev_hash, "hash": e.hash}
            for e in rows]


def _provenance(rt: Runtime, evidence: list[Evidence], derivatives: dict[int, list[Derivative]]) -> dict[str, Any]:
    return {
        "software": SOFTWARE,
        "models": [{"name": m.name, "role": m.role, "file": m.file, "sha256": m.sha256, "version": m.version,
                    "source": m.source, "licence": m.licence, "caveats": m.caveats} for m in manifest().values()],
        "settings": {**rt.analysis.as_record(), "search_max_distance": rt.analysis.search_max_distance,
                     "people_threshold": rt.analysis.people_threshold},
        "evidence": [{"id": ev.id, "sha256": ev.sha256, "provenance": ev.provenance,
                      "derivatives": [{"id": d.id, "kind": d.kind, "sha256": d.sha256, "parent_sha256": d.parent_sha256,
                                       "made_by": d.made_by, "created_at": d.created_at.isoformat()}
                                      for d in derivatives.get(ev.id, [])]} for ev in evidence],
    }


Redactor = Callable[[Evidence, Path], Iterator[tuple[str, Path, Derivative]]]
Progress = Callable[[int, int, str], None]  # (evidence items done, of how many, what is being done now)


def export_incident(rt: Runtime, incident_id: int, out: Path, actor: Actor, reason: str,
                    redactor: Redactor | None = None, progress: Progress | None = None) -> ExportSummary:
    """Write the incident's evidence package to ``out`` (a .zip). ``redactor`` (see
    ``evidence.redaction``) adds disclosure copies of the working copies. Raises NotFound,
    InvalidRequest (no reason), Conflict (evidence still being analysed)."""
    if not reason.strip():
        raise InvalidRequest("an export needs a reason (it is recorded in the audit log)")
    tmp = out.with_name(f".{out.name}.part")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with rt.sessions() as s, zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
            inc = s.get(Incident, incident_id)
            if inc is None:
                raise NotFound(f"incident {incident_id} not found")
            evidence = list(s.scalars(select(Evidence).where(Evidence.incident_id == inc.id).order_by(Evidence.id)))
            busy = [ev.id for ev in evidence if ev.state not in CLOSED]
            if busy:
                raise Conflict(f"evidence {', '.join(map(str, busy))} of incident {inc.reference} is still being "
                               "analysed; export when it is done")
            pkg = _Package(zf)
            files: list[dict[str, Any]] = []
            derivs: dict[int, list[Derivative]] = {}
            for d in s.scalars(select(Derivative).where(Derivative.evidence_id.in_([e.id for e in evidence]))
                               .order_by(Derivative.id)):
                derivs.setdefault(d.evidence_id, []).append(d)
            report: list[dict[str, Any]] = []
            candidates: list[int] = []
            sightings: list[int] = []
            for i, ev in enumerate(evidence):
                if progress:
                    progress(i, len(evidence), f"Copying {ev.original_name}")
                name = f"originals/{ev.id}_{_safe(ev.original_name)}"
                got = pkg.add_file(name, rt.store.absolute(ev.store_path))
                if got != ev.sha256:
                    raise Conflict(f"evidence {ev.id}: the stored original no longer matches its intake hash "
                                   f"({got} != {ev.sha256}); not exporting")
                files.append({"path": name, "role": "original", "evidence_id": ev.id, "sha256": got})
                for d in derivs.get(ev.id, []):
                    if d.kind in ("working_copy", "contact_sheet"):
                        dname = f"working/{ev.id}_{d.kind}{Path(d.store_path).suffix}"
                        files.append({"path": dname, "role": d.kind, "evidence_id": ev.id, "derivative_id": d.id,
                                      "parent_sha256": d.parent_sha256,
                                      "sha256": pkg.add_file(dname, rt.store.absolute(d.store_path))})
                if redactor is not None:
                    if progress:
                        progress(i, len(evidence), f"Blurring {ev.original_name}")
                    for role, path, d in redactor(ev, tmp.parent):
                        derivs.setdefault(ev.id, []).append(d)  # into provenance.json with what made it
                        rname = f"redacted/{ev.id}_{role}{path.suffix}"
                        files.append({"path": rname, "role": role, "evidence_id": ev.id, "derivative_id": d.id,
                                      "parent_sha256": d.parent_sha256, "sha256": pkg.add_file(rname, path)})
                cands = []
                for c in evidence_candidates(s, ev.id):
                    view = candidate_view(c)
                    view["crop_file"] = None
                    if c.track.crop is not None:
                        view["crop_file"] = f"crops/faces/{c.track_id}.jpg"
                        if view["crop_file"] not in pkg.hashes:
                            pkg.add_file(view["crop_file"], rt.store.absolute(c.track.crop.store_path))
                    view["reviewed_at"] = c.reviewed_at.isoformat() if c.reviewed_at else None
                    view["review_reason"] = c.review_reason
                    cands.append(view)
                    candidates.append(c.id)
                plates = evidence_plates(s, ev.id, rt.store)
                for p in plates:
                    sightings.append(p["id"])
                    for kind in ("crop", "overview"):
                        path = p.pop(f"{kind}_path")
                        p[f"{kind}_file"] = None
                        if path:
                            p[f"{kind}_file"] = f"crops/plates/{p['id']}_{kind}.jpg"
                            pkg.add_file(p[f"{kind}_file"], Path(path))
                report.append({**evidence_view(ev), "sender": sender_view(ev), "candidates": cands, "plates": plates})
            if progress:
                progress(len(evidence), len(evidence), "Writing the reports, the audit extract and the manifest")
            summary = {"incident": {"id": inc.id, "reference": inc.reference, "title": inc.title},
                       "exported_at": datetime.now(UTC).isoformat(), "exported_by": actor.name, "reason": reason,
                       "software": SOFTWARE, "evidence": report,
                       "note": "Candidates and plate reads are potential matches with scores; only the review "
                               "state records a named person's decision."}
            pkg.add_json("reports/report.json", summary)
            pkg.add_bytes("reports/report.html", report_html(summary).encode())
            pkg.add_bytes("reports/chronology.csv", chronology_csv(chronology(s, inc.id), rt.settings.zone).encode())
            pkg.add_json("provenance.json", _provenance(rt, evidence, derivs))
            with rt.sessions() as now:  # a fresh read: entries written during this export (redaction) too
                pkg.add_json("audit.json", _audit_extract(now, inc, evidence, candidates, sightings))
            pkg.add_json("files.json", files)
            lines = "".join(f"{h}  {n}\n" for n, h in sorted(pkg.hashes.items()))
            zf.writestr(MANIFEST, lines)
            manifest_sha = hashlib.sha256(lines.encode()).hexdigest()
            n_files, n_bytes, inc_id, n_ev = len(pkg.hashes), pkg.bytes, inc.id, len(evidence)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    with rt.sessions.begin() as s:
        append_audit(s, actor, "incident.export", f"incident:{inc_id}", reason=reason,
                     detail={"file": out.name, "manifest_sha256": manifest_sha, "files": n_files, "bytes": n_bytes,
                             "redacted": redactor is not None})
    return ExportSummary(out, manifest_sha, n_files, n_bytes, n_ev)


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
