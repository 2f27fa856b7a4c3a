"""UK number plates: normalising reads, the plate grammar, position-aware repair of confusable
characters, and the confusion-blind key hotlist matching uses.

Formats (DVLA; spaces are not part of the registration):

    current     AB12CDE     2 letters, 2 digits (age identifier), 3 letters      (2001-)
    prefix      A123BCD     1 letter, 1-3 digits, 3 letters                      (1983-2001)
    suffix      ABC123D     3 letters, 1-3 digits, 1 letter                      (1963-1983)
    dateless    1234AB, AB1234, 1ABC, ABC1 ...  1-4 digits and 1-3 letters, either order
    NI          ABZ1234     3 letters containing I or Z, then 1-4 digits (Northern Ireland)

``parse_plate`` only changes a character where the format's position decides it (a 0 in a letter
slot becomes O, an O in a digit slot 0, and so on); a read that fits no format is kept as read and
``valid`` is False. Hotlist matching compares ``confusion_key``s, so a read that the grammar could
not settle (A812CDE is a valid prefix plate and a misread of AB12CDE) still hits."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CONFUSABLE_KEY", "PlateRead", "confusion_key", "normalise", "parse_plate", "wildcard_regex"]

# Digit-looking letters and letter-looking digits, both ways.
_TO_DIGIT = {"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "B": "8", "G": "6", "T": "7"}
_TO_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "8": "B", "6": "G", "7": "T", "4": "A"}
# One representative per confusable group: a read and a hotlist entry that differ only by these match.
CONFUSABLE_KEY = str.maketrans({"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "Z": "2", "S": "5",
                                "B": "8", "G": "6"})

_FORMATS: list[tuple[str, str]] = [  # (name, pattern of L = letter slot, D = digit slot)
    ("current", "LLDDLLL"),
    ("prefix", "LDLLL"), ("prefix", "LDDLLL"), ("prefix", "LDDDLLL"),
    ("suffix", "LLLDL"), ("suffix", "LLLDDL"), ("suffix", "LLLDDDL"),
    *[("dateless", "D" * d + "L" * l) for d in range(1, 5) for l in range(1, 4)],
    *[("dateless", "L" * l + "D" * d) for d in range(1, 5) for l in range(1, 4)],
]
_NI = re.compile(r"^[A-Z]*[IZ][A-Z]*$")


@dataclass(frozen=True)
class PlateRead:
    """A registration as read, and as the grammar repairs it."""

    raw: str
    plate: str  # repaired (or the normalised read when no format fits)
    format: str | None
    valid: bool
    changed: int  # characters the repair changed


def normalise(text: str) -> str:
    """Upper case, letters and digits only ("ab12 cde" -> "AB12CDE")."""
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def _fit(read: str, pattern: str) -> tuple[str, int] | None:
    out, changed = [], 0
    for ch, slot in zip(read, pattern, strict=True):
        if slot == "L":
            if ch.isdigit():
                if ch not in _TO_LETTER:
                    return None
                ch, changed = _TO_LETTER[ch], changed + 1
        elif ch.isalpha():
            if ch not in _TO_DIGIT:
                return None
            ch, changed = _TO_DIGIT[ch], changed + 1
        out.append(ch)
    return "".join(out), changed


def parse_plate(text: str) -> PlateRead:
    """The best-fitting UK format (fewest repaired characters; current format first on ties)."""
    read = normalise(text)
    best: tuple[int, int, str, str] | None = None
    for order, (name, pattern) in enumerate(_FORMATS):
        if len(pattern) != len(read):
            continue
        fitted = _fit(read, pattern)
        if fitted is None:
            continue
        plate, changed = fitted
        if name == "dateless" and pattern.startswith("LLLD") and _NI.match(plate[:3]):
            name = "northern_ireland"
        if best is None or (changed, order) < (best[0], best[1]):
            best = (changed, order, plate, name)
    if best is None:
        return PlateRead(text, read, None, False, 0)
    return PlateRead(text, best[2], best[3], True, best[0])


def confusion_key(plate: str) -> str:
    """The plate with every confusable character replaced by its group's representative."""
    return normalise(plate).translate(CONFUSABLE_KEY)


def wildcard_regex(query: str) -> re.Pattern[str]:
    """``AB1?CDE`` (one character) and ``*CDE`` (any run) over confusion keys, anchored."""
    parts = []
    for ch in query.upper():
        if ch == "?":
            parts.append(".")
        elif ch == "*":
            parts.append(".*")
        elif ch.isalnum():
            parts.append(re.escape(ch.translate(CONFUSABLE_KEY)))
    return re.compile("^" + "".join(parts) + "$")
