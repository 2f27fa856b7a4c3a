"""Licences in the open: the repository carries its own licence (Apache-2.0, as pyproject.toml says)
and a third-party notices file that is exactly what `evidence notices` makes now from the model
manifest, the installed packages' metadata and the npm lock; no model the project ships or
installs is under a non-commercial, GPL/AGPL or unclear licence."""

from __future__ import annotations

import re
import tomllib

from conftest import ROOT
from evidence.notices import NOTICES_FILE, third_party_notices
from models.registry import manifest
import pytest

pytestmark = pytest.mark.fast  # `make check`: no clip analysed, no server started


def test_the_repository_is_apache_2_licensed_as_pyproject_says():
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_the_notices_file_is_current(cli):
    assert NOTICES_FILE.read_text() == third_party_notices(), "run `evidence notices --write` and commit it"
    assert cli("notices").stdout == third_party_notices()


def test_every_model_is_in_the_notices_under_a_licence_a_force_may_use():
    text = NOTICES_FILE.read_text()
    for entry in manifest().values():
        assert f"| {entry.name} | {entry.role} |" in text
        assert entry.licence and not re.search(r"\b(A?GPL|non-commercial|noncommercial|unclear|unknown)\b",
                                               entry.licence, re.IGNORECASE), entry.name
        if entry.file and "/" in entry.file and (ROOT / "models" / entry.file).exists():  # a third party's, copied in
            assert (ROOT / "models" / entry.file).parent.joinpath("LICENSE").is_file(), entry.name
    assert "not stated" not in text and "see the package" not in text
