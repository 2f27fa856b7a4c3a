"""The plate's country and the UK grammar (pure: the recogniser's output as a table of reads)."""

from __future__ import annotations

import pytest

from pipeline.ocr import ALPHABET, CharColumn, TextRead, slot_columns
from pipeline.platereading import PlateParams, _plate_like
from pipeline.plates import fit_read

pytestmark = pytest.mark.fast  # `make check`: no clip analysed, no server started


def column(ch: str, sure: float, twin: float = 0.0) -> CharColumn:
    """``ch`` read ``sure``; its look-alike (O for 0, I for 1) ``twin``; the rest spread evenly."""
    other = {"0": "O", "O": "0", "1": "I", "I": "1"}.get(ch)
    rest = (1 - sure - twin) / (len(ALPHABET) - 2)
    return CharColumn(ch, tuple(sure if a == ch else twin if a == other else rest for a in ALPHABET))


def read(text: str, region: str | None, p: float = 0.9, sure: float = 0.99) -> TextRead:
    """A read of ``text`` as a plate reader gives it: each character ``sure``; a 0 or 1 with its
    look-alike a little likely (the plate typeface's O and 0 differ only in width)."""
    return TextRead(tuple(column(ch, sure - (0.04 if ch in "01" else 0), 0.04 if ch in "01" else 0) for ch in text),
                    region, p)


@pytest.mark.parametrize("text, region, plate, fmt, valid, placed", [
    ("AB123CD", "FR", "AB123CD", "foreign", False, "FR"),       # French, as read
    ("MAB1234", "DE", "MAB1234", "foreign", False, "DE"),       # German (a UK dateless shape too)
    ("191D12345", "IE", "191D12345", "foreign", False, "IE"),   # Irish
    ("ABC12D", "SE", "ABC12D", "foreign", False, "SE"),         # Swedish: the UK suffix shape is not only British
    ("KZN1234", "US", "KZN1234", "foreign", False, "US"),       # US: the Northern Ireland shape is not only British
    ("ZIP123", "US", "ZIP123", "foreign", False, "US"),
    ("0014HTL", "ES", "OO14HTL", "current", True, "GB"),        # a current UK shape but for O/0: British
    ("AB12CDE", "GB", "AB12CDE", "current", True, "GB"),
    ("AB12CDE", None, "AB12CDE", "current", True, "GB"),        # no country said: the UK format decides
    ("AB123CD", "GB", "AB123CD", "foreign", False, "GB"),       # placed in the UK but no UK format within reach
    ("MAB1234", "DE", "MAB1234", "foreign", False, "DE"),
    ("1234AB", None, "1234AB", "dateless", True, None),         # dateless: no country
    ("AB12CDE", "FR", "AB12CDE", "current", True, "GB"),        # a UK current plate the reader misplaced
    ("AB12CDE", "FR", "AB12CDE", "current", True, "GB"),
])
def test_a_plate_keeps_its_country_and_the_uk_grammar_applies_where_it_is_british(text, region, plate, fmt, valid,
                                                                                  placed):
    got, confidence = fit_read(read(text, region))
    assert (got.plate, got.format, got.valid, got.region) == (plate, fmt, valid, placed)
    assert 0.9 < confidence <= 1


def test_an_unsure_country_does_not_count():
    assert fit_read(read("AB123CD", "FR", p=0.3))[0].region is None


@pytest.mark.parametrize("text, region, plate_like", [
    ("1365847", "US", True),    # all-digit US plates are plates
    ("123456", "GB", False),    # the UK has none: a fleet number
    ("1234", "US", False),      # too short to tell from a house number
    ("111111", "US", False),    # railings
    ("AB12CDE", None, True),
])
def test_all_digit_reads_are_plates_only_where_a_country_has_them(text, region, plate_like):
    fitted, _ = fit_read(read(text, region))
    assert _plate_like(fitted, PlateParams()) is plate_like


def test_fixed_slot_output_drops_the_pad_and_keeps_each_characters_probabilities():
    alphabet, pad = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_", "_"

    def slot(ch: str, p: float) -> list[float]:
        return [p if a == ch else (1 - p) / (len(alphabet) - 1) for a in alphabet]

    import numpy as np

    columns = slot_columns(np.array([slot("A", 0.9), slot("0", 0.6), slot("_", 0.99), slot("_", 0.99)]),
                           alphabet, pad)
    assert "".join(c.char for c in columns) == "A0" and abs(columns[1].p - 0.6) < 1e-6
