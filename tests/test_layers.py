"""The layering holds, every import counted (those inside functions too):

    pipeline  <-  models  <-  evidence  <-  api, workers  <-  cli

``pipeline`` is pure stages; ``models`` loads model files; ``evidence`` is the application (it
imports neither the API nor the workers); ``api`` and ``workers`` do not import each other; only
the command line sits on top of everything."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast  # `make check`: no clip analysed, no server started

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {"pipeline", "models", "evidence", "api", "workers", "cli", "samples", "benchmarks", "tests"}
ALLOWED = {
    "pipeline": {"pipeline"},
    "models": {"pipeline", "models"},
    "evidence": {"pipeline", "models", "evidence"},
    "api": {"pipeline", "models", "evidence", "api"},
    "workers": {"pipeline", "models", "evidence", "workers"},
    "cli": {"pipeline", "models", "evidence", "api", "workers", "cli"},
}


def _imports(path: Path) -> set[str]:
    """The project packages a module imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & PROJECT


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_the_layers_below_it(package):
    wrong = {f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}"
             for path in (ROOT / package).rglob("*.py") if "recipes" not in path.parts
             for bad in [_imports(path) - ALLOWED[package]] if bad}
    assert not wrong, "\n".join(sorted(wrong))


def test_routers_are_independent():
    """Each resource's router stands on the shared modules, never on another router."""
    from api.main import ROUTERS

    names = {m.__name__ for m in ROUTERS}
    wrong = []
    for module in ROUTERS:
        tree = ast.parse(Path(module.__file__).read_text())
        wrong += [f"{module.__name__} imports {node.module}" for node in ast.walk(tree)
                  if isinstance(node, ast.ImportFrom) and node.module in names]
    assert not wrong, wrong


def test_no_module_is_a_god_module():
    """Small files by concept: none over 400 lines in the layers above the pure stages."""
    long = [f"{p.relative_to(ROOT)}: {n} lines" for package in ("evidence", "api", "workers", "cli")
            for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts
            for n in [len(p.read_text().splitlines())] if n > 400]
    assert not long, long
