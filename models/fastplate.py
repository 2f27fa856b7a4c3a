"""fast-plate-ocr's CCT-XS v2 "global" plate recogniser (MIT, trained on real plates of 65+
countries), run with onnxruntime: the default ``PlateRecogniser`` (profile
``fast-plate-ocr-cct-xs-v2``).

Input: the plate crop resized to 128 x 64 RGB uint8 without keeping its aspect (as it was trained),
no normalisation. Outputs: ``plate`` (N, 10, 37) — a softmax per character slot over 0-9 A-Z and
the pad ``_`` — and ``region`` (N, 66), the plate's country (names in the configuration file beside
the model). Each slot is one character (``pipeline.ocr.slot_columns``): its probabilities are the
per-character confidences the UK grammar and the vote use.

It reads whole plates, not text lines: the crop is the localiser's line grown to about the plate
(0.3 line heights left and right, 0.2 above and below: chosen on a seeded half of the real US
photos, benchmarks/plate_accuracy.py --sweep), and a two-line plate is read from one crop of both
lines."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import cv2
import numpy as np

from models.onnx import LazySession
from models.registry import Catalogue, ModelEntry, catalogue
from pipeline.errors import ModelUnavailable
from pipeline.ocr import TextRead, slot_columns
from pipeline.types import RGBImage

__all__ = ["REGION_CODES", "FastPlateRecogniser"]

# The region head's names (the configuration's plate_regions) as ISO 3166-1 alpha-2 codes.
REGION_CODES = {
    "Albania": "AL", "Andorra": "AD", "Argentina": "AR", "Armenia": "AM", "Australia": "AU", "Austria": "AT",
    "Azerbaijan": "AZ", "Bahrain": "BH", "Belarus": "BY", "Belgium": "BE", "Bosnia and Herzegovina": "BA",
    "Brazil": "BR", "Bulgaria": "BG", "Cambodia": "KH", "Canada": "CA", "Croatia": "HR", "Cyprus": "CY",
    "Czech Republic": "CZ", "Denmark": "DK", "Estonia": "EE", "Finland": "FI", "France": "FR", "Georgia": "GE",
    "Germany": "DE", "Gibraltar": "GI", "Greece": "GR", "Guernsey": "GG", "Hungary": "HU", "Iceland": "IS",
    "Indonesia": "ID", "Ireland": "IE", "Israel": "IL", "Italy": "IT", "Latvia": "LV", "Liechtenstein": "LI",
    "Lithuania": "LT", "Luxembourg": "LU", "Malaysia": "MY", "Malta": "MT", "Mexico": "MX", "Moldova": "MD",
    "Monaco": "MC", "Montenegro": "ME", "Netherlands": "NL", "New Zealand": "NZ", "North Macedonia": "MK",
    "Norway": "NO", "Poland": "PL", "Portugal": "PT", "Qatar": "QA", "Romania": "RO", "San Marino": "SM",
    "Serbia": "RS", "Singapore": "SG", "Slovakia": "SK", "Slovenia": "SI", "Spain": "ES", "Sweden": "SE",
    "Switzerland": "CH", "Thailand": "TH", "Turkey": "TR", "United States": "US", "Ukraine": "UA",
    "United Kingdom": "GB", "Vietnam": "VN",
}


class FastPlateRecogniser:
    # The localiser's line grown to about the plate; a read less than PlateParams.vote_below sure is
    # read again from a tighter crop and the two voted (UK street scenes 98.2 % -> 98.8 %, the tune
    # half of the real US photos unchanged).
    crop_pads = ((0.3, 0.2), (0.2, 0.1))
    whole_plate = True

    def __init__(self, entry: ModelEntry | None = None, config: ModelEntry | None = None, threads: int = 1,
                 batch: int = 16) -> None:
        self.entry = entry or catalogue().get("fast-plate-ocr-cct-xs-v2")
        self.config_entry = config or catalogue().companion(self.entry, "config")
        self._net = LazySession(lambda: str(self.entry.path()), threads)
        self.batch = batch

    @classmethod
    def from_entry(cls, entry: ModelEntry, catalogue_: Catalogue, threads: int) -> FastPlateRecogniser:
        return cls(entry, catalogue_.companion(entry, "config"), threads)

    @cached_property
    def config(self) -> dict[str, object]:
        import yaml

        data = yaml.safe_load(self.config_entry.path().read_text())
        if not isinstance(data, dict) or {"alphabet", "pad_char", "img_width", "img_height", "plate_regions"} - data.keys():
            raise ModelUnavailable(f"model {self.entry.name}: its configuration lacks what the adapter reads")
        return data

    def load(self) -> None:
        _ = self.config, self._net.session

    def read(self, crops: Sequence[RGBImage]) -> list[TextRead]:
        if not crops:
            return []
        cfg = self.config
        size = (int(str(cfg["img_width"])), int(str(cfg["img_height"])))
        alphabet, pad = str(cfg["alphabet"]), str(cfg["pad_char"])
        regions = [REGION_CODES.get(str(r)) for r in list(cfg["plate_regions"])]  # type: ignore[call-overload]
        out: list[TextRead] = []
        for k in range(0, len(crops), self.batch):
            x = np.stack([cv2.resize(c, size, interpolation=cv2.INTER_LINEAR) for c in crops[k:k + self.batch]])
            plate, region = self._net.session.run(["plate", "region"], {"input": x})
            for slots, where in zip(plate, region, strict=True):
                best = int(np.argmax(where))
                out.append(TextRead(tuple(slot_columns(slots, alphabet, pad)), regions[best], float(where[best])))
        return out

    def record(self) -> dict[str, object]:
        return {"name": self.entry.name, "crop_pads": [list(p) for p in self.crop_pads]}
