"""`evidence verify` is strict: a ZIP that extracts to anything but what its manifest lists is not
intact. Crafted packages as a forger would make them: a second copy of a file placed before the
genuine one, entries that climb out of the folder or are symbolic links (listed in an edited
manifest), names too long to extract, repeated manifest lines."""

from __future__ import annotations

import hashlib
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from evidence.export import MANIFEST, verify_package

pytestmark = pytest.mark.fast  # `make check`: no clip analysed, no server started

GENUINE = {"reports/report.json": b'{"candidates": [{"subject": "A", "review_state": "rejected"}]}',
           "originals/1_clip.mp4": b"\x00\x00\x00\x18ftypmp42 original bytes"}


def _package(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]], manifest: dict[str, bytes] | None = None,
             extra_lines: str = "") -> Path:
    listed = manifest if manifest is not None else {(e.filename if isinstance(e, zipfile.ZipInfo) else e): data
                                                    for e, data in entries}
    lines = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in sorted(listed.items())) + extra_lines
    with zipfile.ZipFile(path, "w") as zf:
        for entry, data in entries:
            zf.writestr(entry, data)
        zf.writestr(MANIFEST, lines)
    return path


def test_the_genuine_package_is_intact(tmp_path):
    check = verify_package(_package(tmp_path / "p.zip", list(GENUINE.items())))
    assert check.ok and check.files == 2, check.problems


def test_a_second_copy_placed_before_the_genuine_one_is_caught(tmp_path):
    forged = b'{"candidates": [{"subject": "A", "review_state": "confirmed"}]}'
    path = tmp_path / "p.zip"
    with pytest.warns(UserWarning, match="Duplicate name"):
        _package(path, [("reports/report.json", forged), *GENUINE.items()], manifest=GENUINE)
    check = verify_package(path)
    assert not check.ok and "reports/report.json: in the package 2 times" in check.problems


@pytest.mark.parametrize("name", ["../x", "/tmp/x", "reports\\..\\..\\x", "a/./b", "a//b", "C:/x", "x" * 300])
def test_entries_that_do_not_extract_where_they_say_are_caught(tmp_path, name):
    check = verify_package(_package(tmp_path / "p.zip", [*GENUINE.items(), (name, b"payload")]))
    assert not check.ok and any(repr(name) in p for p in check.problems), check.problems


def test_names_that_differ_only_in_case_or_unicode_form_are_caught(tmp_path):
    for other in ("Reports/report.json", "reports/REPORT.json"):
        check = verify_package(_package(tmp_path / "p.zip", [*GENUINE.items(), (other, b"forged")]))
        assert not check.ok and any("only in letter case" in p for p in check.problems), check.problems


def test_a_symbolic_link_listed_in_the_manifest_is_caught(tmp_path):
    link = zipfile.ZipInfo("reports/latest")
    link.external_attr = (0o120777 << 16)
    check = verify_package(_package(tmp_path / "p.zip", [*GENUINE.items(), (link, b"/etc/passwd")]))
    assert not check.ok and "reports/latest: a symbolic link" in check.problems


def test_manifest_lines_listed_twice_or_malformed_are_caught(tmp_path):
    again = f"{hashlib.sha256(b'x').hexdigest()}  reports/report.json\nnot a line\n"
    check = verify_package(_package(tmp_path / "p.zip", list(GENUINE.items()), extra_lines=again))
    assert not check.ok
    assert f"{MANIFEST}: reports/report.json listed twice" in check.problems
    assert any("malformed line" in p for p in check.problems)


def _hidden_local_entry(path: Path) -> Path:
    """A genuine package with a forged reports/report.json whose local header is placed before the
    first entry and left out of the central directory: zipfile and `unzip` read the directory, a
    streaming extractor (reading local headers in order) takes the forgery."""
    genuine = _package(tmp := path.with_suffix(".genuine.zip"), list(GENUINE.items())).read_bytes()
    forged = b'{"candidates": [{"subject": "A", "review_state": "confirmed"}]}'
    name = b"reports/report.json"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, zlib.crc32(forged), len(forged), len(forged),
                        len(name), 0) + name + forged
    tmp.unlink()
    body = bytearray(local + genuine)
    # The directory's offsets (and its own start) move by what was put before them.
    end = body.rfind(b"PK\x05\x06")
    count, size, start = struct.unpack_from("<HLL", body, end + 10)
    struct.pack_into("<L", body, end + 16, start + len(local))
    at = start + len(local)
    for _ in range(count):
        n, m, k = struct.unpack_from("<3H", body, at + 28)
        offset = struct.unpack_from("<L", body, at + 42)[0]
        struct.pack_into("<L", body, at + 42, offset + len(local))
        at += 46 + n + m + k
    path.write_bytes(bytes(body))
    return path


def test_an_entry_hidden_from_the_central_directory_is_caught(tmp_path):
    """Issue 29 (5): the package verified although a streaming extractor would take a forged report."""
    path = _hidden_local_entry(tmp_path / "p.zip")
    with zipfile.ZipFile(path) as zf:  # what the directory says is still the genuine package
        assert zf.read("reports/report.json") == GENUINE["reports/report.json"]
    check = verify_package(path)
    assert not check.ok and any("not in the central directory" in p for p in check.problems), check.problems


def test_a_directory_entry_where_a_file_is_listed_is_caught(tmp_path):
    """Issue 29 (5): `reports/report.json/` as a directory made `unzip` create a directory instead of
    the report, and the package still verified."""
    path = _package(tmp_path / "p.zip", [(zipfile.ZipInfo("reports/report.json/"), b""), *GENUINE.items()],
                    manifest=GENUINE)
    check = verify_package(path)
    assert not check.ok and any("a directory where a file is listed" in p for p in check.problems), check.problems


def test_an_entry_hidden_inside_a_widened_one_is_caught(tmp_path):
    """Issue 29 (5), the review's way round it: a forged report placed after a deflated entry's
    stream, that entry's sizes widened (local header and directory) to cover it. zipfile stops at
    the end of the deflate stream and reads the genuine bytes; a streaming extractor meets a second
    report. The entry's bytes must end where its stream ends."""
    genuine = b"candidate A rejected " * 50
    manifest = f"{hashlib.sha256(genuine).hexdigest()}  reports/report.txt\n".encode()
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("reports/report.txt"), genuine, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(MANIFEST, manifest)
    body = bytearray(path.read_bytes())
    n, m = struct.unpack_from("<2H", body, 26)
    csize = struct.unpack_from("<L", body, 18)[0]
    forged, name = b"candidate A confirmed", b"reports/report.txt"
    hidden = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, zlib.crc32(forged), len(forged), len(forged),
                         len(name), 0) + name + forged
    end = 30 + n + m + csize
    body[end:end] = hidden
    struct.pack_into("<L", body, 18, csize + len(hidden))  # the local header widened
    eocd = body.rfind(b"PK\x05\x06")
    count, _, start = struct.unpack_from("<HLL", body, eocd + 10)
    struct.pack_into("<L", body, eocd + 16, start + len(hidden))
    at = start + len(hidden)
    for i in range(count):
        n2, m2, k2 = struct.unpack_from("<3H", body, at + 28)
        if i == 0:
            struct.pack_into("<L", body, at + 20, csize + len(hidden))  # and the directory's
        else:
            struct.pack_into("<L", body, at + 42, struct.unpack_from("<L", body, at + 42)[0] + len(hidden))
        at += 46 + n2 + m2 + k2
    path.write_bytes(bytes(body))
    with zipfile.ZipFile(path) as zf:
        assert zf.read("reports/report.txt") == genuine  # what zipfile reads is still the genuine report
    check = verify_package(path)
    assert not check.ok and any("after its compressed data ends" in p for p in check.problems), check.problems
