"""Plate reading accuracy and speed, every reader side by side in one run.

    python benchmarks/plate_accuracy.py --labels ../shared/data/plates/openalpr-us/labels.csv --split 2026
    python benchmarks/plate_accuracy.py --labels samples/out/plates/crop/labels.csv --crops
    python benchmarks/plate_accuracy.py --labels samples/out/plates/scene/labels.csv --readers project,ppocr
    python benchmarks/plate_accuracy.py --make 500      # build the synthetic UK set first (samples/plates.py)

``--labels`` is a CSV with a header and rows ``image,plate`` (image paths relative to the CSV),
optionally ``x,y,w,h`` (the plate's box: then localisation recall and the source of each error are
reported); images may be whole scenes or plate crops. The real photos of ``../shared`` are AGPL
data: measured here, never copied into the repository, never trained on.

``--split SEED`` shuffles the images with SEED and halves them: settings are chosen on the first
half ("tune") and the figures that count are the second's ("test"); both are printed.
``--sweep`` prints the shipped reader on the tune half for each recogniser crop padding and
localiser input size in the grid (how the shipped settings were chosen).

Each reader gets the image as ``evidence plates read`` does: the surest plate read, or, when the
image is itself plate-shaped and nothing was found, the whole image read as a crop (``--crops``
reads every image whole). The process is pinned to one core (``--cores``) and onnxruntime and
OpenCV run one thread: "ms a photo" is one core's time.

Readers
    project   what ships: the PP-OCRv6 text detector on the contrast-equalised image finds plate
              text (the localiser), the plate-trained fast-plate-ocr CCT-XS v2 reads each plate
              with per-character confidences and the plate's country, the UK grammar applies
              where the plate is British.
    nogrammar the same localiser, recogniser and crops; the free read always kept (ablation).
    ppocr     the reader before issue 27: the PP-OCRv6 detector (no equalisation) and its general
              text recogniser restricted to A-Z 0-9, three crops voted, the UK grammar (margin).
    library   RapidOCR's own pipeline (rapidocr.RapidOCR: detection, angle classifier,
              recognition, its decoding), then upper case, A-Z 0-9 only, then the UK positional
              repair (pipeline.plates.parse_plate): the plain approach.
    crnn      our own CRNN (models/plate_crnn.onnx, not shipped) on the project's lines, if given.

Exact = the registration read equals the label (spaces ignored); ``exact_o0`` also counts reads
that differ only by O/0. With boxes: ``localised`` = a line found over the plate (covering 9 % of
its box); each error of a grammar reader is put down to localisation (no line over the plate),
reading (no crop of a line over the plate reads the label, even freely), line choice (a line over
the plate read the label freely, another line was answered) or format choice (the answered line's
free read was the label; the UK grammar changed it). The last line is the first reader's figures."""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.crnn import CRNNRecogniser  # noqa: E402
from models.fastplate import FastPlateRecogniser  # noqa: E402
from models.ppocr import PPOCRDetector, PPOCRRecogniser  # noqa: E402
from pipeline.ocr import merge_lines, upright_crop  # noqa: E402
from pipeline.platereading import PlateLocaliser, PlateParams, PlateRecogniser, plate_shaped, read_image  # noqa: E402
from pipeline.plates import normalise, parse_plate  # noqa: E402
from pipeline.types import RGBImage  # noqa: E402

Reader = Callable[[RGBImage, bool], str]
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Photo:
    name: str
    plate: str
    image: RGBImage
    box: Box | None


@dataclass(frozen=True)
class GrammarReader:
    """A localiser and a recogniser read as ``evidence plates read`` does."""

    localiser: PlateLocaliser
    recogniser: PlateRecogniser
    params: PlateParams

    def __call__(self, image: RGBImage, as_crop: bool) -> str:
        found = read_image(image, self.localiser, self.recogniser, self.params, as_crop)
        return found[0].read.plate if found else ""


class PaddedFastPlate(FastPlateRecogniser):
    """The shipped recogniser with another crop padding (the sweep)."""

    def __init__(self, pad: tuple[float, float], threads: int) -> None:
        super().__init__(threads=threads)
        self.crop_pads = (pad,)


def project_reader(threads: int, max_side: int, grammar: bool = True, pad: tuple[float, float] | None = None,
                   equalise: bool = True) -> GrammarReader:
    rec = PaddedFastPlate(pad, threads) if pad else FastPlateRecogniser(threads=threads)
    params = PlateParams() if grammar else PlateParams(uk_margin=-1e9, region_min=2.0)
    return GrammarReader(PPOCRDetector(max_side=max_side, threads=threads, equalise=equalise), rec, params)


def ppocr_reader(threads: int, max_side: int) -> GrammarReader:
    return GrammarReader(PPOCRDetector(max_side=max_side, threads=threads, equalise=False),
                         PPOCRRecogniser(threads=threads), PlateParams())


def library_reader(threads: int) -> Reader:
    from rapidocr import RapidOCR  # type: ignore[import-not-found]

    engine = RapidOCR(params={"Global.log_level": "error",
                              "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                              "EngineConfig.onnxruntime.inter_op_num_threads": 1})

    def run(image: RGBImage, as_crop: bool) -> str:
        bgr = np.ascontiguousarray(image[..., ::-1])
        out = engine(bgr, use_det=not as_crop, use_cls=not as_crop, use_rec=True)
        texts = list(out.txts or ()) if out is not None else []
        scores = list(out.scores or ()) if out is not None else []
        best = ""
        for text, _ in sorted(zip(texts, scores, strict=False), key=lambda x: -x[1]):
            fitted = parse_plate(normalise(text))
            if fitted.valid and any(c.isdigit() for c in fitted.plate):
                return fitted.plate
            best = best or fitted.plate
        if not best and not as_crop and image.shape[1] >= 2 * image.shape[0]:
            return run(image, True)
        return best

    return run


def crnn_reader(threads: int, max_side: int, path: Path) -> Reader | None:
    if not path.exists():
        return None
    return GrammarReader(PPOCRDetector(max_side=max_side, threads=threads, equalise=False),
                         CRNNRecogniser(path, threads=threads), PlateParams())


def _over(xyxy: tuple[float, float, float, float], box: Box) -> bool:
    x, y, w, h = box
    return max(0, min(xyxy[2], x + w) - max(xyxy[0], x)) * max(0, min(xyxy[3], y + h) - max(xyxy[1], y)) > 0.09 * w * h


def error_sources(reader: GrammarReader, photos: list[Photo], got: dict[str, str]) -> str:
    """Localisation recall over the labelled boxes, and where each of the reader's errors comes from."""
    loc, rec, p = reader.localiser, reader.recogniser, reader.params
    localised = 0
    causes = {"localisation": 0, "reading": 0, "line choice": 0, "format choice": 0}
    for ph in photos:
        assert ph.box is not None
        lines = [b for b in merge_lines(loc.detect(ph.image)) if plate_shaped(b, ph.image.shape[0], p)]
        over = [b for b in lines if _over(b.xyxy, ph.box)]
        localised += bool(over)
        if got[ph.name] == ph.plate:
            continue
        frees = {"".join(c.char for c in r.columns) for r in rec.read(
            [upright_crop(ph.image, b, *pad) for b in over for pad in rec.crop_pads])} if over else set()
        if not over:
            causes["localisation"] += 1
        elif ph.plate not in frees:
            causes["reading"] += 1
        else:
            answered = [b for b in lines if any(
                "".join(c.char for c in r.columns) == ph.plate for r in rec.read(
                    [upright_crop(ph.image, b, *pad) for pad in rec.crop_pads]))]
            free_of_answer = got[ph.name] and any(_over(b.xyxy, ph.box) for b in answered)
            causes["format choice" if free_of_answer else "line choice"] += 1
    n = len(photos)
    return (f"localised={localised / n:.4f} ({localised} of {n}); errors: "
            + ", ".join(f"{k} {v}" for k, v in causes.items()))


def measure(name: str, reader: Reader, photos: list[Photo], crops: bool, errors: bool) -> tuple[float, float, dict[str, str]]:
    reader(photos[0].image, crops)  # load the models outside the timing
    exact = exact_o0 = 0
    got: dict[str, str] = {}
    misreads = []
    started = time.perf_counter()
    for ph in photos:
        got[ph.name] = g = normalise(reader(ph.image, crops))
        exact += g == ph.plate
        exact_o0 += g.replace("O", "0") == ph.plate.replace("O", "0")
        if g != ph.plate:
            misreads.append(f"  {ph.name}: {ph.plate} read {g or '-'}")
    ms = (time.perf_counter() - started) / len(photos) * 1000
    n = len(photos)
    print(f"  {name:<10} n={n} exact={exact / n:.4f} exact_o0={exact_o0 / n:.4f} ms_per_image={ms:.1f}")
    if errors:
        print("\n".join(misreads))
    return exact / n, ms, got


def load(labels: Path, limit: int) -> list[Photo]:
    with labels.open() as f:
        rows = [(r["image"], normalise(r["plate"]),
                 (int(r["x"]), int(r["y"]), int(r["w"]), int(r["h"])) if r.get("w") else None)
                for r in csv.DictReader(f)]
    photos = []
    for name, plate, box in rows[:limit or None]:
        bgr = cv2.imread(str(labels.parent / name))
        if bgr is None:
            raise SystemExit(f"{name}: not a readable image")
        photos.append(Photo(name, plate, np.ascontiguousarray(bgr[..., ::-1]), box))
    return photos


def label_crops(reader: GrammarReader, photos: list[Photo]) -> str:
    """The recogniser alone: each photo's labelled plate box grown 10 % each side, read whole."""
    right = 0
    for ph in photos:
        assert ph.box is not None
        x, y, w, h = ph.box
        H, W = ph.image.shape[:2]
        crop = ph.image[max(0, int(y - 0.1 * h)):min(H, int(y + 1.1 * h)), max(0, int(x - 0.1 * w)):min(W, int(x + 1.1 * w))]
        right += reader(np.ascontiguousarray(crop), True) == ph.plate
    return f"the recogniser alone on the labelled boxes (+10 %): {right / len(photos):.4f}"


def sweep(photos: list[Photo], threads: int, crops: bool) -> None:
    print("sweep on the tune half (the shipped reader, one setting changed at a time):")
    boxed = all(p.box is not None for p in photos) and not crops
    for pad in [(0.2, 0.1), (0.2, 0.2), (0.3, 0.1), (0.3, 0.2), (0.3, 0.3), (0.4, 0.2), (0.4, 0.3)]:
        measure(f"pad={pad[0]},{pad[1]}", project_reader(threads, 960, pad=pad), photos, crops, False)
    for label, reader in [("side=800", project_reader(threads, 800)), ("side=1280", project_reader(threads, 1280)),
                          ("no CLAHE", project_reader(threads, 960, equalise=False))]:
        _, _, got = measure(label, reader, photos, crops, False)
        if boxed:
            print("             " + error_sources(reader, photos, got))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=Path, help="CSV: image,plate[,x,y,w,h]")
    ap.add_argument("--readers", default="project,nogrammar,ppocr,library,crnn")
    ap.add_argument("--split", type=int, default=None, metavar="SEED", help="halve the images, shuffled with SEED")
    ap.add_argument("--sweep", action="store_true", help="the shipped reader's settings on the tune half (--split)")
    ap.add_argument("--crops", action="store_true", help="read every image whole (they are plate crops)")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime threads per model")
    ap.add_argument("--cores", default="0", help="CPUs to pin the process to (comma-separated; '' for no pinning)")
    ap.add_argument("--max-side", type=int, default=960, help="longest side the text detector sees")
    ap.add_argument("--crnn", type=Path, default=ROOT / "models" / "plate_crnn.onnx", help="the CRNN reader's ONNX file")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--make", type=int, default=0, help="render N synthetic crops and N scenes first")
    ap.add_argument("--out", type=Path, default=ROOT / "samples" / "out" / "plates")
    ap.add_argument("--errors", action="store_true", help="list every misread")
    args = ap.parse_args()
    if args.make:
        subprocess.run([sys.executable, str(ROOT / "samples" / "plates.py"), "--out", str(args.out),
                        "--count", str(args.make)], check=True)
        if args.labels is None:
            return
    if args.labels is None:
        ap.error("--labels is required (or --make N)")
    if args.cores:
        os.sched_setaffinity(0, {int(c) for c in args.cores.split(",")})
    cv2.setNumThreads(args.threads)
    photos = load(args.labels, args.limit)
    halves = {"all": photos}
    if args.split is not None:
        shuffled = sorted(photos, key=lambda p: p.name)
        random.Random(args.split).shuffle(shuffled)
        half = len(shuffled) // 2
        halves = {"tune": shuffled[:half], "test": shuffled[half:]}
    if args.sweep:
        sweep(halves.get("tune", photos), args.threads, args.crops)
    builders: dict[str, Callable[[], Reader | None]] = {
        "project": lambda: project_reader(args.threads, args.max_side),
        "nogrammar": lambda: project_reader(args.threads, args.max_side, grammar=False),
        "ppocr": lambda: ppocr_reader(args.threads, args.max_side),
        "library": lambda: library_reader(args.threads),
        "crnn": lambda: crnn_reader(args.threads, args.max_side, args.crnn)}
    results: dict[tuple[str, str], tuple[float, float, int]] = {}
    for half, group in halves.items():
        print(f"{half} half: {len(group)} images" if half != "all" else f"{len(group)} images")
        for name in args.readers.split(","):
            reader = builders[name]()
            if reader is None:
                print(f"  {name}: not available (no model file)")
                continue
            exact, ms, got = measure(name, reader, group, args.crops, args.errors)
            results[(half, name)] = (exact, ms, len(group))
            if isinstance(reader, GrammarReader) and all(p.box is not None for p in group) and not args.crops:
                print("             " + error_sources(reader, group, got))
                print("             " + label_crops(reader, group))
    last = "test" if "test" in halves else "all"
    shown = [(name, results[(h, name)]) for h, name in results if h == last]
    if shown:
        name, (exact, ms, n) = shown[0]
        print(f"exact={exact:.4f} ms_per_image={ms:.1f} reader={name} half={last} n={n} labels={args.labels}")

if __name__ == "__main__":
    main()
