"""The settings page (docs/settings.md) generated from the ``Settings`` class, so it cannot drift
from it: one row per field (its ``EVIDENCE_`` variable, its default, its description with the
values it accepts).

    python -m evidence.settingsdoc --write    # rewrite the table between the page's markers
    python -m evidence.settingsdoc --check    # exit 1 if the page is not what the class says

A secret's default is never shown ("—"), whatever it is. Nothing here reads the environment:
the table is built from the class, not from a Settings object."""

from __future__ import annotations

import argparse
import json
import sys
import typing
from collections.abc import Sequence
from pathlib import Path

from pydantic.fields import FieldInfo

from evidence.settings import Settings

__all__ = ["END", "PAGE", "START", "is_secret", "render_page", "settings_table", "main"]

START = "<!-- settings:start -->"
END = "<!-- settings:end -->"
PAGE = Path("docs/settings.md")
# A field whose name holds one of these is a credential: its default is not printed.
SECRET_PARTS = ("password", "secret", "api_key", "access_key", "token")
UNSET = "unset"
HIDDEN = "—"


def is_secret(name: str) -> bool:
    """Whether the field ``name`` holds a credential (key, password, token)."""
    return any(part in name for part in SECRET_PARTS)


def env_name(name: str, info: FieldInfo) -> str:
    """The environment variable that sets the field (``EVIDENCE_`` and its name in capitals)."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return (prefix + (info.alias or name)).upper()


def _bytes(n: int) -> str:
    """``n`` bytes in binary units when it is a whole number of them (``8 GiB``), else ''."""
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return ""


def _value(value: object, name: str) -> str:
    """A value as it would be written in the environment variable, in code quotes."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, Path):
        text = str(value) if value.is_absolute() or str(value).startswith(".") else f"./{value}"
    elif isinstance(value, (list, dict)):
        text = json.dumps(value, default=str)
    else:
        text = str(value)
    shown = f"`{text}`"
    if isinstance(value, int) and not isinstance(value, bool) and name.endswith("_bytes") and _bytes(value):
        shown += f" ({_bytes(value)})"
    return shown


def default_text(name: str, info: FieldInfo) -> str:
    """The field's default as the table shows it: ``unset`` for None, ``—`` for a secret, and
    ``computed per machine`` for a default made when the process starts (a factory)."""
    if is_secret(name):
        return HIDDEN
    if info.default_factory is not None:
        return "computed per machine"
    if info.default is None:
        return UNSET
    if info.default == "":
        return "empty"
    return _value(info.default, name)


def _bound(value: int | float, name: str) -> str:
    """A bound in plain figures: a byte count in binary units where it is whole ones."""
    if isinstance(value, int) and name.endswith("_bytes") and _bytes(value):
        return _bytes(value)
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _bounds(name: str, info: FieldInfo) -> list[str]:
    """The numeric bounds the field's constraints set, e.g. ``≥ 1``, ``≤ 64``."""
    found = []
    for meta in info.metadata:
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            bound = getattr(meta, attr, None)  # annotated_types' Gt, Ge, Lt, Le (or pydantic's Interval)
            if isinstance(bound, (int, float)) and not isinstance(bound, bool):
                found.append(f"{sign} {_bound(bound, name)}")
    return found


def accepts_text(name: str, info: FieldInfo) -> str:
    """What values the field accepts, when its type or constraints narrow them ('' otherwise)."""
    if typing.get_origin(info.annotation) is typing.Literal:
        choices = typing.get_args(info.annotation)
        return "one of " + ", ".join(f"`{c}`" for c in choices)
    return ", ".join(_bounds(name, info))


def _cell(text: str) -> str:
    """Text made safe for one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def meaning_text(name: str, info: FieldInfo) -> str:
    """The field's description (nothing when it has none) and what it accepts."""
    meaning = (info.description or "").strip()
    accepts = accepts_text(name, info)
    if accepts:
        meaning = f"{meaning} (accepts {accepts})" if meaning else f"accepts {accepts}"
    return meaning


def settings_table() -> str:
    """The Markdown table of every ``Settings`` field, in the class's order: environment
    variable, default, meaning. Ends with a newline."""
    rows = ["| environment variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        rows.append(f"| `{env_name(name, info)}` | {_cell(default_text(name, info))} | "
                    f"{_cell(meaning_text(name, info))} |")
    return "\n".join(rows) + "\n"


def render_page(page: str, table: str) -> str:
    """``page`` with everything between its markers replaced by ``table``.

    Raises ValueError when the markers are missing or out of order."""
    start, end = page.find(START), page.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the page needs the markers {START} and {END}, in that order")
    return page[: start + len(START)] + "\n" + table + page[end:]


def main(argv: Sequence[str] | None = None) -> int:
    """``--write`` rewrites the page's table; ``--check`` answers 1 if it is out of date. Returns
    the exit status: 0 up to date or written, 1 out of date, 2 a page without its markers."""
    parser = argparse.ArgumentParser(prog="python -m evidence.settingsdoc", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the table between the page's markers")
    mode.add_argument("--check", action="store_true", help="exit 1 if the page is out of date")
    parser.add_argument("--page", type=Path, default=PAGE, help=f"the settings page (default {PAGE})")
    args = parser.parse_args(argv)
    page_path: Path = args.page
    try:
        page = page_path.read_text(encoding="utf-8")
        wanted = render_page(page, settings_table())
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.check:
        if wanted != page:
            print(f"{page_path} is out of date: run python -m evidence.settingsdoc --write", file=sys.stderr)
            return 1
        return 0
    if wanted != page:
        page_path.write_text(wanted, encoding="utf-8")
        print(f"{page_path}: settings table rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
