"""The model manifest: where each model file lives, its SHA-256, source and licence.

Files are found inside installed registry packages (or in this folder) and verified against the
manifest before first use; nothing is downloaded."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pipeline.errors import ModelUnavailable

__all__ = ["ModelEntry", "face_calibration", "manifest", "model_path", "model_versions"]

_HERE = Path(__file__).resolve().parent
_verified: dict[str, Path] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ModelEntry:
    name: str
    role: str
    package: str
    file: str | None
    sha256: str | None
    version: str
    source: str
    licence: str
    install: str | None = None  # how to install its package, where plain `pip install <package>` is wrong

    @property
    def install_hint(self) -> str:
        return self.install or f"pip install {self.package}"


@cache
def manifest() -> dict[str, ModelEntry]:
    data = json.loads((_HERE / "manifest.json").read_text())
    return {m["name"]: ModelEntry(**m) for m in data["models"]}


def _locate(entry: ModelEntry) -> Path:
    assert entry.file is not None
    local = _HERE / entry.file
    if local.exists():
        return local
    top = entry.file.split("/", 1)[0]
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"model {entry.name}: package {entry.package} is not installed ({entry.install_hint})")
    return Path(list(spec.submodule_search_locations)[0]).parent / entry.file


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_path(name: str) -> Path:
    """Path of a model file, verified against the manifest's SHA-256 (once per process)."""
    with _lock:
        if name in _verified:
            return _verified[name]
        entry = manifest().get(name)
        if entry is None or entry.file is None:
            raise ModelUnavailable(f"model {name}: not in models/manifest.json as a file")
        path = _locate(entry)
        if not path.exists():
            raise ModelUnavailable(f"model {name}: {path} missing ({entry.install_hint})")
        digest = _sha256(path)
        if digest != entry.sha256:
            raise ModelUnavailable(f"model {name}: SHA-256 {digest[:12]}… does not match the manifest")
        _verified[name] = path
        return path


def model_versions(names: list[str]) -> dict[str, str]:
    """name -> "version (sha256)" for provenance records."""
    entries = manifest()
    return {n: f"{entries[n].version} ({entries[n].sha256 or 'built-in'})" for n in names}


def face_calibration() -> list[tuple[float, float]]:
    """(false-match rate, distance threshold) pairs measured for the face embedder."""
    data = json.loads(model_path("face_calibration").read_text())
    return [(float(f), float(t)) for f, t in data["fmr_threshold"]]
