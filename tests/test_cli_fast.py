"""``evidence --help`` and every command's --help start quickly: the command line imports the database,
the models, the API and the queue only in the commands that use them, when they run. Checked by what
a fresh interpreter has loaded, never by a clock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from cli.main import main

pytestmark = pytest.mark.fast  # `make check`: no clip analysed, no server started

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("cv2", "numpy", "face_recognition", "dlib", "onnxruntime", "fastapi", "uvicorn", "rq", "redis", "sqlalchemy")


def _python(code: str) -> str:
    """``code`` run by a fresh interpreter in the repository; its stdout."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _loaded_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter has loaded once it has run ``code``."""
    return json.loads(_python(f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} "
                                   "if m in sys.modules)))"))


def _command_paths(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group under ``group``, as the words that name it."""
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((*path, name))
        if isinstance(command, click.Group):
            found += _command_paths(command, (*path, name))
    return found


def test_help_exits_0_and_lists_every_command():
    done = subprocess.run([sys.executable, "-m", "cli.main", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0] for line in done.stdout.split("Commands:", 1)[1].splitlines() if line.strip()}
    assert listed == set(main.commands)


@pytest.mark.parametrize("module", ["cli.main", "pipeline", "pipeline.errors", "pipeline.geo"])
def test_importing_loads_no_heavy_module(module):
    assert _loaded_after(f"import {module}") == []


def test_every_commands_help_loads_no_heavy_module():
    """All of them in one interpreter: what any one imports stays loaded for the check at the end."""
    paths = _command_paths(main)
    assert len(paths) > len(main.commands)  # the groups' commands are there too
    code = f"""
from click.testing import CliRunner
from cli.main import main
for path in {paths!r}:
    res = CliRunner().invoke(main, [*path, "--help"])
    assert res.exit_code == 0 and "Usage:" in res.output, (path, res.output)
"""
    assert _loaded_after(code) == []


def test_pipeline_still_re_exports_its_names():
    """``from pipeline import X`` imports X's stage when asked for it."""
    out = _python("import pipeline\nfrom pipeline import analyse_faces, EvidenceError, Frame\n"
                  "print(all(getattr(pipeline, n) is not None for n in pipeline.__all__))")
    assert out.strip() == "True"

