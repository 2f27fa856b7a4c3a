"""The model catalogue: every model file the project may use, by name, with its role, SHA-256,
source and licence (``models/manifest.json``, and any further manifests a force adds for models it
licenses itself), and the adapter class that runs it.

Files are found inside installed registry packages or beside the manifest that lists them, and
verified against their SHA-256 before first use; nothing is downloaded. A *profile* is the model
chosen for a role by name in the settings (``EVIDENCE_FACE_EMBEDDER=dlib-resnet-v1``, ...): the
catalogue builds it through the adapter its entry names (``"adapter": "module:Class"``), so adding
a model is one adapter file and one manifest entry.

    catalogue(extra_manifests).build("plate_recogniser", "fast-plate-ocr-cct-xs-v2", threads=1)
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.errors import ModelUnavailable

__all__ = ["ROLES", "Catalogue", "ModelEntry", "catalogue", "face_calibration", "manifest", "model_path",
           "model_versions"]

_HERE = Path(__file__).resolve().parent
_verified: dict[tuple[Path, str], Path] = {}
_lock = threading.Lock()

# The roles a profile chooses a model for, in the order a frame meets them.
ROLES = ("face_detector", "face_aligner", "face_embedder", "plate_localiser", "plate_recogniser")


@dataclass(frozen=True)
class ModelEntry:
    """One model file (or a model built into a package: ``file`` None) and what runs it."""

    name: str
    role: str
    package: str
    file: str | None
    sha256: str | None
    version: str
    source: str
    licence: str
    install: str | None = None  # how to install its package, where plain `pip install <package>` is wrong
    adapter: str | None = None  # "module:Class" that runs it (a role's profile); None for data files
    caveats: str | None = None  # what a user of its results must know (training data, known weaknesses)
    # Companion entries by purpose: an embedder's "calibration", a recogniser's "config".
    uses: dict[str, str] = field(default_factory=dict)
    # Embedders: vector size, the distance their calibration and thresholds are measured in
    # ("euclidean", or "cosine": 1 - cosine similarity), and their operating thresholds.
    dimension: int | None = None
    metric: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    base: Path = field(default=_HERE, compare=False, repr=False)  # the folder of the manifest that lists it

    @property
    def install_hint(self) -> str:
        return self.install or f"pip install {self.package}"

    @property
    def provenance(self) -> str:
        """"version (sha256)": what a result records of the model that made it."""
        return f"{self.version} ({self.sha256 or 'built-in'})"

    def path(self) -> Path:
        """The file, verified against the entry's SHA-256 (once per process)."""
        if self.file is None or self.sha256 is None:
            raise ModelUnavailable(f"model {self.name}: built into {self.package}, no file")
        with _lock:
            key = (self.base / self.file, self.sha256)
            if key in _verified:
                return _verified[key]
            path = self._locate()
            if not path.exists():
                raise ModelUnavailable(f"model {self.name}: {path} missing ({self.install_hint})")
            digest = _sha256(path)
            if digest != self.sha256:
                raise ModelUnavailable(f"model {self.name}: SHA-256 {digest[:12]}… does not match its manifest")
            _verified[key] = path
            return path

    def _locate(self) -> Path:
        assert self.file is not None
        local = self.base / self.file
        if local.exists():
            return local
        top = self.file.split("/", 1)[0]
        spec = importlib.util.find_spec(top) if top.isidentifier() else None
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailable(f"model {self.name}: package {self.package} is not installed ({self.install_hint})")
        return Path(list(spec.submodule_search_locations)[0]).parent / self.file


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_manifest(path: Path) -> list[ModelEntry]:
    try:
        data = json.loads(path.read_text())
        return [ModelEntry(**m, base=path.resolve().parent) for m in data["models"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelUnavailable(f"model manifest {path}: {exc}") from exc


class Catalogue:
    """The entries of the project's manifest and of ``extra`` manifests (a force's own models; an
    extra entry may not reuse a name)."""

    def __init__(self, extra: Sequence[Path] = ()) -> None:
        self.entries: dict[str, ModelEntry] = {}
        for path in (_HERE / "manifest.json", *extra):
            for e in _read_manifest(path):
                if e.name in self.entries:
                    raise ModelUnavailable(f"model manifest {path}: {e.name!r} is already in another manifest")
                self.entries[e.name] = e

    def get(self, name: str) -> ModelEntry:
        if name not in self.entries:
            raise ModelUnavailable(f"model {name!r} is in no manifest")
        return self.entries[name]

    def for_role(self, role: str) -> list[ModelEntry]:
        return [e for e in self.entries.values() if e.role == role]

    def choose(self, role: str, name: str) -> ModelEntry:
        """The entry a profile names for ``role``; ModelUnavailable listing the choices."""
        entry = self.entries.get(name)
        if entry is None or entry.role != role or entry.adapter is None:
            choices = ", ".join(e.name for e in self.for_role(role) if e.adapter)
            raise ModelUnavailable(f"{role} {name!r} is not a model in the manifests: choose one of {choices}")
        return entry

    def companion(self, entry: ModelEntry, purpose: str) -> ModelEntry:
        if purpose not in entry.uses:
            raise ModelUnavailable(f"model {entry.name} names no {purpose} in its manifest entry")
        return self.get(entry.uses[purpose])

    def fmr_curve(self, embedder: ModelEntry) -> list[tuple[float, float]]:
        """(false-match rate, distance) pairs of an embedder's calibration file."""
        data = json.loads(self.companion(embedder, "calibration").path().read_text())
        return [(float(f), float(t)) for f, t in data["fmr_threshold"]]

    def build(self, role: str, name: str, threads: int = 1, **options: Any) -> Any:
        """An instance of the adapter for ``role``'s model ``name`` (its file loaded on first use)."""
        entry = self.choose(role, name)
        assert entry.adapter is not None
        module, _, cls = entry.adapter.partition(":")
        try:
            adapter = getattr(importlib.import_module(module), cls)
        except (ImportError, AttributeError) as exc:
            raise ModelUnavailable(f"model {name}: adapter {entry.adapter} cannot be loaded ({exc})") from exc
        # Options a role's adapters may take (a localiser's max_side, the embedder's runtime) reach an
        # adapter only if its from_entry names them: a force's own adapter need not know of them.
        accepts = inspect.signature(adapter.from_entry).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepts.values()):
            options = {k: v for k, v in options.items() if k in accepts}
        return adapter.from_entry(entry, self, threads, **options)


@cache
def catalogue(extra: tuple[Path, ...] = ()) -> Catalogue:
    """The catalogue of the project's manifest and ``extra`` ones (built once per process)."""
    return Catalogue(extra)


def manifest() -> dict[str, ModelEntry]:
    """The project's own manifest entries, by name."""
    return dict(catalogue().entries)


def model_path(name: str) -> Path:
    """Path of a model file of the project's manifest, verified against its SHA-256."""
    return catalogue().get(name).path()


def model_versions(names: list[str]) -> dict[str, str]:
    """name -> "version (sha256)" for provenance records."""
    return {n: catalogue().get(n).provenance for n in names}


def face_calibration() -> list[tuple[float, float]]:
    """(false-match rate, distance threshold) pairs measured for the project's face embedder."""
    cat = catalogue()
    return cat.fmr_curve(cat.get("dlib-resnet-v1"))
