"""Plate reading accuracy and speed, every reader side by side in one run.

    python benchmarks/plate_accuracy.py --labels samples/out/plates/crop/labels.csv
    python benchmarks/plate_accuracy.py --labels samples/out/plates/scene/labels.csv --readers project,library
    python benchmarks/plate_accuracy.py --make 500      # build the synthetic UK set first (samples/plates.py)

``--labels`` is a CSV with a header and rows ``image,plate`` (image paths relative to the CSV),
optionally ``x,y,w,h`` (the plate's box: then detection recall and the source of each error are
reported); images may be whole scenes or plate crops. Real photos (measure only, AGPL data):

    python benchmarks/plate_accuracy.py --labels ../shared/data/plates/openalpr-us/labels.csv --readers project,nogrammar,library
 Each reader gets the image as the CLI does: the
detector's surest plate read, or, when the image is itself plate-shaped and nothing was found,
the whole image read as a crop (``--crops`` reads every image whole).

Readers
    project   PP-OCRv6 small detector + recogniser through our own code: the recogniser's output
              restricted to A-Z 0-9, decoded with the UK grammar and format priors (what ships).
    nogrammar the same crops, network output and vote, the UK reading never chosen (ablation).
    library   RapidOCR's own pipeline (rapidocr.RapidOCR: detection, angle classifier,
              recognition, its decoding), then upper case, A-Z 0-9 only, then the UK positional
              repair (pipeline.plates.parse_plate) - the "plain approach" of the issue.
    crnn      our own CRNN (models/plate_crnn.onnx) on crops found by the project's detector, if
              the file exists (models/recipes/train_plate_reader.py).

Exact = the registration read equals the label (spaces ignored). ``exact_o0`` also counts reads
that differ only by O/0. With boxes: ``detected`` = a text line found over the plate (covering 30 %
of its box); each error of the project reader is put down to detection (no line over the plate),
reading (no crop of a line over the plate reads the label, with or without the grammar) or choice
(a line read the label but the reader answered otherwise: the wrong line, the vote across crops,
or the UK format chosen over a foreign read). The last line is the first reader's ``exact=`` and ms
per image."""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.ppocr import PPOCRDetector, PPOCRRecogniser  # noqa: E402
from pipeline.ocr import merge_lines, upright_crop  # noqa: E402
from pipeline.platereading import PlateParams, TextDetector, TextRecogniser, read_image  # noqa: E402
from pipeline.plates import normalise, parse_plate  # noqa: E402
from pipeline.types import RGBImage  # noqa: E402

Reader = Callable[[RGBImage, bool], str]


def _plate_shaped(image: RGBImage) -> bool:
    return image.shape[1] >= 2 * image.shape[0]


def project_reader(threads: int, grammar: bool = True, max_side: int = 960, uk_margin: float | None = None) -> Reader:
    """The shipped reader; without the grammar, the same crops and vote with the UK reading never chosen."""
    params = PlateParams() if uk_margin is None else PlateParams(uk_margin=uk_margin)
    if not grammar:
        params = PlateParams(uk_margin=-1e9, min_confidence=0.0)
    return _grammar_reader(PPOCRDetector(max_side=max_side, threads=threads), PPOCRRecogniser(threads=threads), params)


def _grammar_reader(det: TextDetector, rec: TextRecogniser, params: PlateParams | None = None) -> Reader:
    """What `evidence plates read` does: the detector's surest plate, else a plate-shaped image read whole."""
    params = params or PlateParams()

    def read(image: RGBImage, as_crop: bool) -> str:
        found = read_image(image, det, rec, params, as_crop)
        return found[0].read.plate if found else ""

    return read


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
        if not best and not as_crop and _plate_shaped(image):
            return run(image, True)
        return best

    return run


def crnn_reader(threads: int, max_side: int = 960, path: Path = ROOT / "models" / "plate_crnn.onnx") -> Reader | None:
    if not path.exists():
        return None
    from models.crnn import CRNNRecogniser

    return _grammar_reader(PPOCRDetector(max_side=max_side, threads=threads), CRNNRecogniser(path, threads=threads))


def error_sources(images: list[tuple[str, str, RGBImage, tuple[int, int, int, int] | None]],
                  reads: dict[str, str], threads: int, max_side: int) -> None:
    """Detection recall over the labelled boxes, and where each of the project reader's errors comes from."""
    det, rec = PPOCRDetector(max_side=max_side, threads=threads), PPOCRRecogniser(threads=threads)
    params = PlateParams()
    found = 0
    causes = {"detection": 0, "reading": 0, "choice": 0}
    for name, plate, image, box in images:
        assert box is not None
        x, y, w, h = box
        over = [b for b in merge_lines(det.detect(image))
                if max(0, min(b.xyxy[2], x + w) - max(b.xyxy[0], x)) * max(0, min(b.xyxy[3], y + h) - max(b.xyxy[1], y))
                > 0.3 * w * h]
        found += bool(over)
        if reads[name] == plate:
            continue
        crops = [upright_crop(image, b, px, py) for b in over for px, py in params.crop_pads]
        texts = {"".join(c.char for c in cols) for cols in rec.read(crops)} if crops else set()
        causes["detection" if not over else "choice" if plate in texts else "reading"] += 1
    n = len(images)
    print(f"detection recall={found / n:.4f} (a line over {found} of {n} plates); project errors: "
          + ", ".join(f"{k} {v}" for k, v in causes.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=Path, help="CSV: image,plate")
    ap.add_argument("--readers", default="project,nogrammar,library,crnn")
    ap.add_argument("--uk-margin", type=float, default=None, help="the project reader's UK_MARGIN (nats)")
    ap.add_argument("--crops", action="store_true", help="read every image whole (they are plate crops)")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime threads per model")
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
    with args.labels.open() as f:
        rows = [(r["image"], normalise(r["plate"]),
                 tuple(int(r[k]) for k in "xywh") if r.get("w") else None) for r in csv.DictReader(f)]
    if args.limit:
        rows = rows[:args.limit]
    images = []
    for name, plate, box in rows:
        bgr = cv2.imread(str(args.labels.parent / name))
        if bgr is None:
            raise SystemExit(f"{name}: not a readable image")
        images.append((name, plate, np.ascontiguousarray(bgr[..., ::-1]), box))
    builders: dict[str, Callable[[], Reader | None]] = {
        "project": lambda: project_reader(args.threads, True, args.max_side, args.uk_margin),
        "nogrammar": lambda: project_reader(args.threads, False, args.max_side),
        "library": lambda: library_reader(args.threads), "crnn": lambda: crnn_reader(args.threads, args.max_side, args.crnn)}
    results = []
    for name in args.readers.split(","):
        reader = builders[name]()
        if reader is None:
            print(f"{name}: not available (no model file)")
            continue
        reader(images[0][2], args.crops)  # load the models outside the timing
        exact = exact_o0 = 0
        started = time.perf_counter()
        misreads = []
        got_by_image = {}
        for image_name, plate, image, _ in images:
            got = got_by_image[image_name] = normalise(reader(image, args.crops))
            exact += got == plate
            exact_o0 += got.replace("O", "0") == plate.replace("O", "0")
            if got != plate:
                misreads.append(f"  {image_name}: {plate} read {got or '-'}")
        ms = (time.perf_counter() - started) / len(images) * 1000
        n = len(images)
        print(f"{name:<10} max_side={args.max_side if name != 'library' else 'lib'} n={n} exact={exact / n:.4f} exact_o0={exact_o0 / n:.4f} ms_per_image={ms:.1f}")
        if args.errors:
            print("\n".join(misreads))
        results.append((name, exact / n, ms))
        if name == "project" and all(box is not None for *_, box in images):
            error_sources(images, got_by_image, args.threads, args.max_side)
    if results:
        name, exact_rate, ms = results[0]
        print(f"exact={exact_rate:.4f} ms_per_image={ms:.1f} reader={name} n={len(images)} labels={args.labels}")


if __name__ == "__main__":
    main()
