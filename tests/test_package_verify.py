"""`evidence verify` is strict: a ZIP that extracts to anything but what its manifest lists is not
intact. Crafted packages as a forger would make them: a second copy of a file placed before the
genuine one, entries that climb out of the folder or are symbolic links (listed in an edited
manifest), names too long to extract, repeated manifest lines."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from evidence.export import MANIFEST, verify_package

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
