"""The documentation holds together: the settings page is what the Settings class says, every
relative link (and its #anchor) in the README and docs/ leads somewhere, every page is reachable
from the README and leads back to it, and the README stays short enough to read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evidence import settingsdoc
from evidence.settings import Settings

pytestmark = pytest.mark.fast  # `make check`: no clip analysed, no server started

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SETTINGS_PAGE = ROOT / "docs" / "settings.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [README, *PAGES]

FENCE = re.compile(r"^\s*(```|~~~)")

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_REF = re.compile(r"""<(?:img|a)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""")
CODE_SPAN = re.compile(r"`[^`]*`")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _prose(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    """Every anchor a Markdown file's headings give (a repeated heading gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    for line in _prose(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if match:
            slug = _slug(match.group(2))
            seen[slug] = seen.get(slug, -1) + 1
            if seen[slug]:
                seen[f"{slug}-{seen[slug]}"] = 0
    return set(seen)


def _links(path: Path) -> list[str]:
    """The link targets of a Markdown file, outside code blocks and code spans."""
    found = []
    for line in _prose(path.read_text(encoding="utf-8")):
        line = CODE_SPAN.sub("", line)
        found += LINK.findall(line) + HTML_REF.findall(line)
    return found


def _relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I)


# -- settings -----------------------------------------------------------------------------------------

def test_settings_page_names_every_setting():
    page = SETTINGS_PAGE.read_text(encoding="utf-8")
    missing = [f"EVIDENCE_{name.upper()}" for name in Settings.model_fields
               if f"`EVIDENCE_{name.upper()}`" not in page]
    assert not missing, f"not on docs/settings.md: {missing}"


def test_settings_page_is_what_the_class_generates():
    page = SETTINGS_PAGE.read_text(encoding="utf-8")
    assert settingsdoc.render_page(page, settingsdoc.settings_table()) == page, \
        "docs/settings.md is out of date: run python -m evidence.settingsdoc --write"


def test_a_secret_default_is_never_shown():
    rows = {line.split("|")[1].strip(" `"): line.split("|")[2].strip()
            for line in settingsdoc.settings_table().splitlines()[2:]}
    secrets = [name for name in Settings.model_fields if settingsdoc.is_secret(name)]
    assert {"smtp_password", "s3_secret_access_key", "notify_api_key", "metrics_token"} <= set(secrets)
    assert all(rows[f"EVIDENCE_{name.upper()}"] == settingsdoc.HIDDEN for name in secrets)


def test_check_and_write(tmp_path, capsys):
    page = tmp_path / "settings.md"
    page.write_text(f"# Settings\n\n{settingsdoc.START}\nSTALE-TABLE\n{settingsdoc.END}\n\nafter\n", encoding="utf-8")
    assert settingsdoc.main(["--check", "--page", str(page)]) == 1
    assert settingsdoc.main(["--write", "--page", str(page)]) == 0
    assert settingsdoc.main(["--check", "--page", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "EVIDENCE_DATA_DIR" in text and "STALE-TABLE" not in text and text.endswith("\n\nafter\n")
    page.write_text("no markers\n", encoding="utf-8")
    assert settingsdoc.main(["--check", "--page", str(page)]) == 2
    assert "markers" in capsys.readouterr().err


# -- links ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc):
    broken = []
    for target in _links(doc):
        if not _relative(target):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


def test_every_page_is_linked_from_the_readme_and_back():
    readme_targets = {(ROOT / t.partition("#")[0]).resolve() for t in _links(README) if _relative(t)}
    assert PAGES, "no pages under docs/"
    unlinked = [p.name for p in PAGES if p.resolve() not in readme_targets]
    assert not unlinked, f"not linked from the README: {unlinked}"
    no_way_back = [p.name for p in PAGES if "../README.md" not in {t.partition("#")[0] for t in _links(p)}]
    assert not no_way_back, f"no link back to the README: {no_way_back}"


def test_the_readme_is_short():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= 260, f"README.md has {n} lines: move detail to a page under docs/"


def test_slugs_follow_github():
    assert _slug("What `evidence audit verify` proves, and what it does not") == \
        "what-evidence-audit-verify-proves-and-what-it-does-not"
    assert _slug("Schema upgrades (PostgreSQL)") == "schema-upgrades-postgresql"
    assert _slug("Workers: the job graph") == "workers-the-job-graph"
