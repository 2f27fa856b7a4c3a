import pytest

from pipeline.plates import confusion_key, normalise, parse_plate, wildcard_regex


@pytest.mark.parametrize("text,plate,fmt,changed", [
    ("ab12 cde", "AB12CDE", "current", 0),
    ("AB I2 CDE", "AB12CDE", "current", 1),      # I in a digit slot
    ("0B12CDE", "OB12CDE", "current", 1),        # 0 in a letter slot
    ("AB12C0E", "AB12COE", "current", 1),
    ("A123 BCD", "A123BCD", "prefix", 0),
    ("ABC 123D", "ABC123D", "suffix", 0),
    ("1234 AB", "1234AB", "dateless", 0),
    ("ABZ 1234", "ABZ1234", "northern_ireland", 0),
])
def test_uk_formats_and_positional_repair(text, plate, fmt, changed):
    p = parse_plate(text)
    assert (p.plate, p.format, p.valid, p.changed) == (plate, fmt, True, changed)


def test_reads_that_fit_no_format_are_kept_and_flagged():
    p = parse_plate("AB12CD#3")
    assert p.plate == "AB12CD3" and not p.valid and p.format is None
    assert normalise(" ab-12 cde ") == "AB12CDE"


def test_confusion_key_and_wildcards():
    assert confusion_key("AB12CDE") == confusion_key("A812CDE") == confusion_key("AB1ZCDE")
    assert confusion_key("AB12CDE") != confusion_key("AB12CDF")
    assert wildcard_regex("AB1?CDE").match(confusion_key("AB12CDE"))
    assert wildcard_regex("*CDE").match(confusion_key("XY51CDE"))
    assert not wildcard_regex("AB1?CDE").match(confusion_key("AB123CDE"))
