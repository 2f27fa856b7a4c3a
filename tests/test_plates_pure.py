import cv2
import numpy as np
import pytest

from pipeline.plates import confusion_key, normalise, parse_plate, wildcard_regex

pytestmark = pytest.mark.fast  # `make check`: no clip analysed, no server started


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
    assert p.plate == "AB12CD3" and not p.valid and p.format == "foreign"
    assert normalise(" ab-12 cde ") == "AB12CDE"


def test_confusion_key_and_wildcards():
    assert confusion_key("AB12CDE") == confusion_key("A812CDE") == confusion_key("AB1ZCDE")
    assert confusion_key("AB12CDE") != confusion_key("AB12CDF")
    assert wildcard_regex("AB1?CDE").match(confusion_key("AB12CDE"))
    assert wildcard_regex("*CDE").match(confusion_key("XY51CDE"))
    assert not wildcard_regex("AB1?CDE").match(confusion_key("AB123CDE"))


# --- reading: CTC decoding, the grammar over per-character probabilities, lines, tracks ---------


from pipeline.ocr import ALPHABET, CharColumn, TextBox, alphabet_columns, ctc_columns, merge_lines  # noqa: E402
from pipeline.platereading import PlateParams, track_plates, vote  # noqa: E402
from pipeline.plates import fit_columns  # noqa: E402
from pipeline.types import PlateDetection, PlateRead  # noqa: E402


def col(*probs: tuple[str, float]) -> CharColumn:
    """A CTC step: the given symbols' probabilities, the rest spread thinly."""
    p = [0.001] * len(ALPHABET)
    for ch, v in probs:
        p[ALPHABET.index(ch)] = v
    top = max(probs, key=lambda x: x[1])[0]
    return CharColumn(top, tuple(p))


def sure(text: str) -> list[CharColumn]:
    return [col((c, 0.97)) for c in text]


def test_ctc_collapses_repeats_drops_blanks_and_text_outside_the_alphabet():
    charset = ["a", "B", " ", "中", "1"]  # the network's symbols: column k + 1
    columns = alphabet_columns(charset)
    assert columns[ALPHABET.index("A")] == [1] and columns[ALPHABET.index("1")] == [5]
    steps = [  # blank, a, a, blank, B, space, 中, 1, 1
        [0.9, 0.05, 0.02, 0.01, 0.01, 0.01], [0.1, 0.8, 0.05, 0.02, 0.02, 0.01], [0.1, 0.85, 0.02, 0.01, 0.01, 0.01],
        [0.9, 0.02, 0.02, 0.02, 0.02, 0.02], [0.05, 0.02, 0.9, 0.01, 0.01, 0.01], [0.05, 0.02, 0.02, 0.89, 0.01, 0.01],
        [0.05, 0.02, 0.02, 0.01, 0.89, 0.01], [0.05, 0.02, 0.02, 0.01, 0.01, 0.89], [0.05, 0.02, 0.02, 0.01, 0.01, 0.89],
    ]
    out = ctc_columns(np.array(steps, np.float32), columns)
    assert "".join(c.char for c in out) == "AB1"
    assert out[0].p == pytest.approx(0.85)  # the surest of the repeated steps


def test_grammar_picks_the_likeliest_character_each_slot_allows():
    # "0B" in the memory tag: the letter slot takes O (the network's second choice there).
    cols = [col(("0", 0.6), ("O", 0.35)), *sure("B12CDE")]
    read, confidence = fit_columns(cols)
    assert (read.plate, read.format, read.changed) == ("OB12CDE", "current", 1)
    assert confidence > 0.9  # the glyph was O-or-0 with 0.95: the repair is sure
    # An I the network saw in a digit slot becomes 1.
    assert fit_columns([*sure("AB"), col(("I", 0.9), ("1", 0.05)), *sure("2CDE")])[0].plate == "AB12CDE"


@pytest.mark.parametrize("text,plate,fmt", [
    ("5634XKE", "S634XKE", "prefix"),     # a dateless 5634 XKE is possible but far rarer than prefix S634 XKE
    ("0472VXW", "D472VXW", "prefix"),     # no number starts with 0 outside the current format; no year letter is O
    ("AB12CDE", "AB12CDE", "current"),
    ("1234AB", "1234AB", "dateless"),     # no other format has this shape
])
def test_format_priors_and_number_rules(text, plate, fmt):
    look_alike = {"5": "S", "0": "D"}
    cols = [col((c, 0.7), (look_alike[c], 0.25)) if c in look_alike else col((c, 0.95)) for c in text]
    read, _ = fit_columns(cols)
    assert (read.plate, read.format) == (plate, fmt)


def test_a_character_emitted_twice_is_dropped_when_no_format_fits_otherwise():
    cols = [*sure("LM0"), col(("O", 0.5), ("0", 0.3)), *sure("2LAM")]  # LM0O2LAM: 8 characters
    read, _ = fit_columns(cols)
    assert read.plate == "LM02LAM" and read.valid
    odd = fit_columns(sure("ABCDEFGHJ"))[0]  # nothing fits: kept as read, flagged
    assert odd.plate == "ABCDEFGHJ" and not odd.valid


def test_lines_split_at_the_plate_gap_are_joined_and_other_text_is_not():
    def box(x0, y0, x1, y1):
        return TextBox(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), 0.9)

    left, right = box(100, 200, 160, 220), box(172, 201, 215, 221)  # AB12 | CDE, gap of half a height
    sign = box(100, 100, 300, 160)  # three times as tall
    far = box(400, 200, 450, 220)
    merged = merge_lines([right, sign, left, far])
    assert sorted(b.xyxy for b in merged) == sorted([(100, 200, 215, 221), sign.xyxy, far.xyxy])


def det(t: float, plate: str, x: float, conf: float = 0.95, valid: bool = True) -> PlateDetection:
    return PlateDetection(t, (x, 500.0, x + 150, 540.0), PlateRead(plate, plate, "current" if valid else None, valid, 0),
                          conf)


def test_two_vehicles_are_followed_and_a_misread_is_voted_out():
    frames = [
        [det(0, "AB12CDE", 100), det(0, "K881MWE", 900)],
        [det(1, "AB12CDF", 300, 0.7), det(1, "K881MWE", 800)],   # one misread of the first car
        [det(2, "AB12CDE", 500)],
        [det(3, "AB12CDE", 700)],
        [],
        [det(9, "AB12CDE", 100)],                                 # back after 6 s: a new sighting
    ]
    s = track_plates(frames, PlateParams(max_gap_s=2.0))
    assert [(x.plate, x.n_reads, x.first_t_s, x.last_t_s) for x in s] == [
        ("AB12CDE", 4, 0, 3), ("K881MWE", 2, 0, 1), ("AB12CDE", 1, 9, 9)]
    assert s[0].alternatives[0][0] == "AB12CDF" and s[0].confidence < 1
    assert s[0].best.read.plate == "AB12CDE" and len(s[0].reads) == 4


def test_vote_prefers_reads_that_fit_a_format():
    v = vote(0, [det(0, "AB12CDE", 0, 0.8), det(1, "AB12CD3", 0, 0.9, valid=False)])
    assert v.plate == "AB12CDE" and v.valid and v.alternatives[0][0] == "AB12CD3"


@pytest.mark.parametrize("text,country", [
    ("MAB1234", "de"),    # M-AB 1234: fits a UK dateless shape as it is, so kept as it is
    ("AB123CD", "fr"),    # AB-123-CD: no UK format has this shape
    ("GH45JK", "nl"),     # GH-45-JK
    ("191D12345", "ie"),  # 191-D-12345: nine characters
    ("B1234XY", "de"),
])
def test_foreign_plates_read_as_themselves(text, country):
    # The recogniser is sure of every character: forcing the read into a UK shape would need a
    # character it gives next to no chance (a 3 read as a letter), so the free read stands.
    read, confidence = fit_columns(sure(text))
    assert read.plate == text and confidence > 0.9
    assert (read.valid, read.format) in ((False, "foreign"), (True, "dateless"))


def test_a_uk_plate_is_still_repaired_where_the_network_was_unsure():
    # AB12CDE read A812C0E: B/8 and D/0 close calls; the UK reading is nearly as likely and wins.
    cols = [col(("A", 0.95)), col(("8", 0.6), ("B", 0.38)), *sure("12C"), col(("0", 0.55), ("D", 0.4)),
            col(("E", 0.95))]
    read, _ = fit_columns(cols)
    assert (read.plate, read.format, read.valid) == ("AB12CDE", "current", True)
    # The same shape with the odd characters read surely is a foreign plate, kept as read.
    read, _ = fit_columns([col(("A", 0.95)), col(("8", 0.98)), *sure("12C"), col(("0", 0.98)), col(("E", 0.95))])
    assert (read.plate, read.format, read.valid) == ("A812C0E", "foreign", False)
    # With no limit on the evidence a repair may override (the grammar before issue 16), it is forced
    # into a UK shape.
    forced = fit_columns([col(("A", 0.95)), col(("8", 0.98)), *sure("12C"), col(("0", 0.98)), col(("E", 0.95))],
                         uk_margin=100)[0]
    assert forced.valid and forced.plate != "A812C0E"


def test_two_lines_one_above_the_other_are_one_two_line_plate():
    from pipeline.platereading import stack_lines

    def box(x0, y0, x1, y1):
        return TextBox(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), 0.9)

    top, bottom = box(600, 400, 740, 460), box(605, 470, 735, 530)  # AB12 over CDE
    beside, small_below = box(900, 400, 1040, 460), box(900, 470, 960, 490)  # a plate and smaller text under it
    pairs = stack_lines([bottom, beside, top, small_below])
    assert pairs == [(top, bottom)]


def test_plate_regions_follow_what_moved_not_the_camera():
    """The plate search looks where something moved: the whole frame first, then only around an
    object that moved, even while the whole picture sways (a hand-held camera)."""
    from pipeline.motion import MotionParams, PlateRegions

    rng = np.random.default_rng(3)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (1200, 2100, 3), dtype=np.uint8), (0, 0), 3)

    def frame(pan: int, car_x: int) -> np.ndarray:
        f = scene[60:1140, 100 + pan:2020 + pan].copy()
        f[600:700, car_x:car_x + 300] = (20, 20, 200)
        return f

    regions = PlateRegions(MotionParams(full_every_s=10.0))
    assert regions.regions(frame(0, 200), 0.0) is None  # the first frame: searched whole
    found = regions.regions(frame(14, 500), 1.0)  # the camera panned 14 px, the car drove 300 px
    assert found is not None and 1 <= len(found) <= 3
    area = sum((b[2] - b[0]) * (b[3] - b[1]) for b in found)
    assert area < 0.25 * 1920 * 1080
    assert any(b[0] <= 500 and b[2] >= 800 and b[1] <= 600 and b[3] >= 700 for b in found)  # the car now
    assert regions.regions(frame(0, 500), 11.0) is None  # at least every 10 s: the whole frame
