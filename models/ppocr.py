"""PP-OCRv6 small text detector (DB) and line recogniser (CTC), the ONNX files inside the
``rapidocr`` wheel (Apache-2.0), run with onnxruntime. Only the network files are used; the
pre- and post-processing is ours (``pipeline.ocr``), so nothing in rapidocr's code path (which can
download) runs. Files are verified against their manifest entry before the first session.

The detector is the plate localiser (profile ``ppocr-v6-det``): it finds text lines, which
``pipeline.platereading`` keeps where they are plate-shaped. The recogniser (``ppocr-v6-rec``) is
a general text reader, kept as a selectable plate recogniser to compare with the plate-trained one
(``models.fastplate``)."""

from __future__ import annotations

from collections.abc import Sequence

from models.onnx import LazySession
from models.registry import Catalogue, ModelEntry, catalogue
from pipeline.ocr import TextBox, TextRead, alphabet_columns, ctc_columns, detector_input, equalise_contrast, \
    line_boxes, recogniser_input
from pipeline.types import RGBImage

__all__ = ["PPOCRDetector", "PPOCRRecogniser"]


class PPOCRDetector:
    """A ``PlateLocaliser``: text lines in a frame. ``max_side`` bounds the network's input (sides
    rounded to 32); with ``equalise`` it sees the frame with local contrast equalised (faint plates);
    the lines found are read from the original full-resolution image."""

    def __init__(self, max_side: int = 960, threads: int = 1, thresh: float = 0.3, box_thresh: float = 0.5,
                 unclip: float = 1.6, equalise: bool = True, entry: ModelEntry | None = None) -> None:
        self.entry = entry or catalogue().get("ppocr-v6-det")
        self._net = LazySession(lambda: str(self.entry.path()), threads)
        self.max_side, self.thresh, self.box_thresh, self.unclip = max_side, thresh, box_thresh, unclip
        self.equalise = equalise

    @classmethod
    def from_entry(cls, entry: ModelEntry, _: Catalogue, threads: int, max_side: int = 960) -> PPOCRDetector:
        return cls(max_side=max_side, threads=threads, entry=entry)

    def load(self) -> None:
        _ = self._net.session

    def detect(self, image: RGBImage, max_side: int | None = None) -> list[TextBox]:
        x, factors = detector_input(equalise_contrast(image) if self.equalise else image, max_side or self.max_side)
        prob = self._net.run(x)[0, 0]
        h, w = image.shape[:2]
        return line_boxes(prob, factors, (w, h), self.thresh, self.box_thresh, self.unclip)

    def record(self) -> dict[str, object]:
        return {"name": self.entry.name, "max_side": self.max_side, "thresh": self.thresh,
                "box_thresh": self.box_thresh, "unclip": self.unclip, "equalise_contrast": self.equalise}


class PPOCRRecogniser:
    """A ``PlateRecogniser`` reading each text line as general text, restricted to A-Z and 0-9 (the
    network knows ~18,700 symbols; a plate holds 36), with each character's probabilities for the
    grammar to use. It names no country.

    Lines are read from a tight crop (the detector's box is grown around the text; reading it bigger
    picked up frame and state text), and an unsure plate-like read from two more crops, voted: on
    real photos a single crop padded 0.12 all round read 63 % of the plates' lines, (0, -0.1) 73 %,
    the vote 74 % (benchmarks/RESULTS.md, issue 16)."""

    crop_pads = ((0.0, -0.1), (0.0, 0.0), (-0.05, -0.05))
    whole_plate = False

    def __init__(self, threads: int = 1, batch: int = 8, entry: ModelEntry | None = None) -> None:
        self.entry = entry or catalogue().get("ppocr-v6-rec")
        self._net = LazySession(lambda: str(self.entry.path()), threads)
        self.batch = batch
        self._columns: list[list[int]] | None = None

    @classmethod
    def from_entry(cls, entry: ModelEntry, _: Catalogue, threads: int) -> PPOCRRecogniser:
        return cls(threads=threads, entry=entry)

    def load(self) -> None:
        _ = self.columns

    @property
    def columns(self) -> list[list[int]]:
        if self._columns is None:
            meta = self._net.session.get_modelmeta().custom_metadata_map
            self._columns = alphabet_columns(meta["character"].splitlines())
        return self._columns

    def read(self, crops: Sequence[RGBImage]) -> list[TextRead]:
        order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1] / max(1, crops[i].shape[0]))
        results: dict[int, TextRead] = {}
        for k in range(0, len(order), self.batch):  # similar aspect ratios together: less padding
            idx = order[k:k + self.batch]
            probs = self._net.run(recogniser_input([crops[i] for i in idx]))
            for i, p in zip(idx, probs, strict=True):
                results[i] = TextRead(tuple(ctc_columns(p, self.columns)))
        return [results[i] for i in range(len(crops))]

    def record(self) -> dict[str, object]:
        return {"name": self.entry.name, "crop_pads": [list(p) for p in self.crop_pads]}
