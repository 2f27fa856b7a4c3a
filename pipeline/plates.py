"""UK number plates: normalising reads, the plate grammar, position-aware repair of confusable
characters, and the confusion-blind key hotlist matching uses.

Formats (DVLA; spaces are not part of the registration):

    current     AB12CDE     2 letters, 2 digits (age identifier), 3 letters      (2001-)
    prefix      A123BCD     1 letter, 1-3 digits, 3 letters                      (1983-2001)
    suffix      ABC123D     3 letters, 1-3 digits, 1 letter                      (1963-1983)
    dateless    1234AB, AB1234, 1ABC, ABC1 ...  1-4 digits and 1-3 letters, either order
    NI          ABZ1234     3 letters containing I or Z, then 1-4 digits (Northern Ireland)

``parse_plate`` only changes a character where the format's position decides it (a 0 in a letter
slot becomes O, an O in a digit slot 0, and so on); a read that fits no format is kept as read,
``valid`` False, format ``"foreign"``. ``fit_columns`` (the recogniser's probabilities) repairs
only when the UK reading is about as likely as the free read, so foreign plates are read as they
are. ``fit_read`` adds the recogniser's word on the plate's country: a plate it places abroad is
kept as read with its country (unless it reads exactly as a registration only British plates
have), a British one gets the grammar more freely. Hotlist matching compares ``confusion_key``s,
so a read that the grammar could not settle (A812CDE is a valid prefix plate and a misread of
AB12CDE) still hits."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.ocr import ALPHABET, CharColumn, TextRead
from pipeline.types import PlateRead

__all__ = ["CONFUSABLE_KEY", "REGION_MIN", "UK", "UK_MARGIN", "KeyQuery", "PlateRead",
           "confusion_key", "fit_columns", "fit_read", "key_query", "normalise", "parse_plate", "prefix_upper_bound",
           "wildcard_like", "wildcard_regex"]

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
_BY_LENGTH: dict[int, list[tuple[int, str, str]]] = {}
for _order, (_name, _pattern) in enumerate(_FORMATS):
    _BY_LENGTH.setdefault(len(_pattern), []).append((_order, _name, _pattern))
_NI = re.compile(r"^[A-Z]*[IZ][A-Z]*$")


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
    for order, name, pattern in _BY_LENGTH.get(len(read), ()):
        fitted = _fit(read, pattern)
        if fitted is None:
            continue
        plate, changed = fitted
        if name == "dateless" and pattern.startswith("LLLD") and _NI.match(plate[:3]):
            name = "northern_ireland"
        if best is None or (changed, order) < (best[0], best[1]):
            best = (changed, order, plate, name)
    if best is None:
        return PlateRead(text, read, _unfitted(read), False, 0)
    return PlateRead(text, best[2], best[3], True, best[0])


def _unfitted(read: str) -> str | None:
    """The format of a read no UK format fits: ``foreign`` if it looks like a registration."""
    if not read:
        return None
    plate_like = 2 <= len(read) <= 10 and any(c.isdigit() for c in read) and any(c.isalpha() for c in read)
    return "foreign" if plate_like else "unknown"


_LETTERS = "".join(c for c in ALPHABET if c.isalpha())
_DIGITS = "0123456789"
# DVLA current format: I, Q and Z are never memory tags (first two letters); I and Q never random letters.
_CURRENT_SLOTS = [_LETTERS.translate(str.maketrans("", "", "IQZ"))] * 2 + [_DIGITS] * 2 + \
    [_LETTERS.translate(str.maketrans("", "", "IQ"))] * 3


_YEAR_LETTERS = _LETTERS.translate(str.maketrans("", "", "IOQUZ"))


def _slots(name: str, pattern: str) -> list[str]:
    """The characters each position may hold. Outside the current format the number is a count
    (1-999, 1-9999): it never starts with 0. The year letter of prefix plates (first) and suffix
    plates (last) was never I, O, Q, U or Z."""
    if name == "current":
        return _CURRENT_SLOTS
    first_digit = pattern.index("D")
    slots = [_LETTERS if p == "L" else _DIGITS[1:] if i == first_digit else _DIGITS for i, p in enumerate(pattern)]
    if name == "prefix":
        slots[0] = _YEAR_LETTERS
    elif name == "suffix":
        slots[-1] = _YEAR_LETTERS
    return slots


# How common each format is on the road (log prior): a read equally likely to be a current plate
# or a dateless one is a current plate. Approximate GB shares: current ~85 %, prefix ~8 %,
# suffix and Northern Ireland ~2 % each, dateless well under 1 %.
_LOG_PRIOR = {"current": math.log(0.85), "prefix": math.log(0.08), "suffix": math.log(0.02),
              "northern_ireland": math.log(0.02), "dateless": math.log(0.005)}
_LOG_DROP = math.log(0.05)  # a character the recogniser emitted twice or out of nothing (CTC)


def _surety(column: CharColumn, ch: str, allowed: str) -> float:
    """The probability that the glyph is ``ch`` *or* a look-alike its slot rules out (an "I" in a
    digit slot is evidence for "1"): the confidence reported for a repaired character."""
    p = sum(column.probs[i] for i, s in enumerate(ALPHABET)
            if s == ch or (s not in allowed and (_TO_DIGIT.get(s) == ch or _TO_LETTER.get(s) == ch)))
    return min(1.0, p)


# Glyphs plate typefaces barely tell apart (the DVLA font's O and 0 differ only in width): a read
# of one where the slot needs the other is nearly as good as a read of it.
_TWIN = {"O": "0", "0": "O", "I": "1", "1": "I"}


def _evidence(column: CharColumn, ch: str, allowed: str) -> float:
    """The probability that the glyph is ``ch`` or its twin that the slot rules out."""
    twin = _TWIN.get(ch)
    p = column.probs[ALPHABET.index(ch)]
    return p + (column.probs[ALPHABET.index(twin)] if twin and twin not in allowed else 0.0)


Fit = tuple[float, float, int, str, str, float]


def _best_format(columns: Sequence[CharColumn]) -> Fit | None:
    """(score, log-surety, format order, plate, format name, log-evidence) of the likeliest fit, or
    None. The score is the chosen characters' log-probability plus the format's log prior; the
    evidence counts a twin read (O for 0) as a read of the character."""
    best: Fit | None = None
    for order, (name, pattern) in enumerate(_FORMATS):
        if len(pattern) != len(columns):
            continue
        slots = _slots(name, pattern)
        chosen = [c.best(allowed) for c, allowed in zip(columns, slots, strict=True)]
        plate = "".join(ch for ch, _ in chosen)
        if name == "dateless" and pattern.startswith("LLLD") and _NI.match(plate[:3]):
            name = "northern_ireland"
        score = sum(math.log(max(p, 1e-9)) for _, p in chosen) + _LOG_PRIOR[name]
        if best is None or (score, -order) > (best[0], -best[2]):
            surety = sum(math.log(max(_surety(c, ch, allowed), 1e-9))
                         for c, (ch, _), allowed in zip(columns, chosen, slots, strict=True))
            evidence = sum(math.log(max(_evidence(c, ch, allowed), 1e-9))
                           for c, (ch, _), allowed in zip(columns, chosen, slots, strict=True))
            best = (score, surety, order, plate, name, evidence)
    return best


# How much less likely (in nats) than the recogniser's own free read a UK reading may be and still be
# chosen: about the prior odds of a UK plate on a UK road (log(0.97 / 0.03) = 3.5). Swept on
# rendered UK crops and real US photos (benchmarks/RESULTS.md, issue 16): UK crops read 97.6 % from
# 1 to 6 (97.0 % at 0); real photos 69.8 % at 3, 68.9 % at 4, 67.1 % at 6 (18.0 % with no limit).
UK_MARGIN = 4.0


def _free(columns: Sequence[CharColumn]) -> float:
    return sum(math.log(max(c.p, 1e-9)) for c in columns)


def fit_columns(columns: Sequence[CharColumn], uk_margin: float = UK_MARGIN) -> tuple[PlateRead, float]:
    """The most probable registration, choosing each character from the recogniser's probabilities.

    The likeliest UK reading (any format; a letter slot takes the likeliest *letter*, whatever the
    top symbol was; formats weighed by how common they are; a read one character too long may lose
    one) is chosen when its characters' log-likelihood is within ``uk_margin`` nats of the free
    read's (the top symbol at each step), a twin read (0 for O, 1 for I) counting as a read of
    the character. Otherwise the free read is kept as read: ``valid`` False, format ``"foreign"``
    (letters and digits, 2-10 characters) or ``"unknown"`` — a French AB123CD stays AB123CD rather
    than being forced into a UK shape. Returns the read and its confidence (the geometric mean of
    the chosen characters' probabilities)."""
    raw = "".join(c.char for c in columns)
    n = len(columns)
    if n == 0:
        return PlateRead("", "", None, False, 0), 0.0
    best = _best_format(columns)
    if best is None:
        for i in range(n):
            fit = _best_format([c for k, c in enumerate(columns) if k != i])
            if fit is not None and (best is None or fit[0] + _LOG_DROP > best[0]):
                dropped = math.log(max(1e-9, 1 - columns[i].p))
                best = (fit[0] + _LOG_DROP, fit[1] + dropped, *fit[2:5], fit[5] + dropped)
    free = _free(columns)
    if best is None or best[5] + uk_margin < free:
        return PlateRead(raw, raw, _unfitted(raw), False, 0), math.exp(free / n)
    plate = best[3]
    changed = sum(a != b for a, b in zip(raw, plate, strict=False)) + abs(len(raw) - len(plate))
    return PlateRead(raw, plate, best[4], True, changed), math.exp(best[1] / len(plate))


UK = "GB"  # ISO 3166-1 alpha-2 of the United Kingdom (Northern Ireland included)
# How sure a recogniser must be of a plate's country for it to count (its region head's softmax).
REGION_MIN = 0.5
# Shapes only British registrations have: a read of one of them (twins aside) is a UK plate whatever
# country the recogniser guessed. Not the suffix shape (Sweden's ABC12D), nor Northern Ireland's and
# the dateless ones (ZIP123, KZN1234 are US plates; 1234AB is common abroad).
_BRITISH_SHAPES = {"current", "prefix"}


def fit_read(read: TextRead, uk_margin: float = UK_MARGIN, region_min: float = REGION_MIN
             ) -> tuple[PlateRead, float]:
    """``fit_columns`` with the recogniser's word on the plate's country (``read.region`` at least
    ``region_min`` sure). Abroad: the free read is kept with its country (format ``"foreign"``), unless
    it reads as a registration only British plates have (current or prefix), but for twins (O for 0,
    I for 1), within ``uk_margin``: then it is one, region "GB" (the recogniser's country is a
    guess; on UK roads the shape is the stronger evidence). In the UK, or a country unknown (or a
    recogniser that does not say): the grammar's reading stands within ``uk_margin`` nats of the
    free read; a plate placed in the UK is "GB" whatever it reads, one of no known country when it
    reads as a UK format other than the dateless ones. Returns the read (with ``region``) and its
    confidence."""
    region = read.region if read.region is not None and read.region_p >= region_min else None
    if region is not None and region != UK:
        uk, uk_confidence = fit_columns(read.columns, uk_margin)
        if uk.valid and uk.format in _BRITISH_SHAPES and _twins_only(read.text, uk.plate):
            return dataclasses.replace(uk, region=UK), uk_confidence
        plate, confidence = fit_columns(read.columns, -math.inf)  # the free read
        return dataclasses.replace(plate, region=region), confidence
    plate, confidence = fit_columns(read.columns, uk_margin)
    british = region == UK or (plate.valid and plate.format != "dateless")
    return dataclasses.replace(plate, region=UK if british else None), confidence


def _twins_only(raw: str, plate: str) -> bool:
    """``plate`` is ``raw`` with at most glyphs a plate typeface barely tells apart swapped (O/0, I/1)."""
    return len(raw) == len(plate) and all(a == b or _TWIN.get(a) == b for a, b in zip(raw, plate, strict=True))


def confusion_key(plate: str) -> str:
    """The plate with every confusable character replaced by its group's representative."""
    return normalise(plate).translate(CONFUSABLE_KEY)


def wildcard_like(query: str) -> str:
    """``AB1?CDE`` / ``*CDE`` as a SQL LIKE pattern over confusion keys (``?`` one character, ``*``
    any run); other characters are reduced to their confusion key, so O and 0 match alike."""
    out = []
    for ch in query.upper():
        if ch == "?":
            out.append("_")
        elif ch == "*":
            out.append("%")
        elif ch.isalnum():
            out.append(ch.translate(CONFUSABLE_KEY))
    return "".join(out)


@dataclass(frozen=True)
class KeyQuery:
    """How to find confusion keys matching a wildcard pattern through an index: keys equal to
    ``exact``; or keys whose ``reverse``d form starts with ``prefix`` (an index range) that also
    match the LIKE pattern ``like``. An empty prefix (``*12C*``) leaves only a scan."""

    like: str
    exact: str | None
    prefix: str
    reverse: bool


def key_query(query: str) -> KeyQuery:
    """Plan a plate search: the longer literal end of the pattern (its start, or its end read
    backwards against the reversed key) becomes an index range."""
    like = wildcard_like(query)
    if "%" not in like and "_" not in like:
        return KeyQuery(like, like, like, False)
    head = re.split(r"[%_]", like, maxsplit=1)[0]
    tail = re.split(r"[%_]", like[::-1], maxsplit=1)[0]
    return KeyQuery(like, None, tail, True) if len(tail) > len(head) else KeyQuery(like, None, head, False)


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string above every string starting with ``prefix`` (A-Z 0-9 keys)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


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
