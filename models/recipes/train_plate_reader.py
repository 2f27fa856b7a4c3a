"""Train the project's own plate reader: a small CRNN (convolutions, a 1-D convolutional sequence
head, CTC) on synthetic UK plate crops from samples/plates.py, exported to ONNX.

An offline step, never run in CI or at run time (torch is a training extra only):

    pip install -e ".[train]"          # or torch from https://download.pytorch.org/whl/cpu
    python models/recipes/train_plate_reader.py --minutes 45 --out models/plate_crnn.onnx

Input: grey 32 x 128 crops (the plate stretched), values (x / 255 - 0.5) / 0.5, shape (N, 1, 32, 128).
Output: (N, 32, 37) softmax over the CTC blank (column 0) and A-Z 0-9 in pipeline.ocr.ALPHABET
order (columns 1..36) - the layout pipeline.ocr.ctc_columns reads. ~165 k parameters (~0.7 MB).

Data: --train crops rendered once (seeded), cheap augmentation per batch (crop jitter, contrast,
blur); validation on --val crops from another seed, and a font-held-out check (--holdout-font:
the font is absent from training) to see how far it generalises beyond the glyphs it saw. The
best checkpoint by validation exact-match (after the UK grammar) is exported whenever it improves."""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pipeline.ocr import ALPHABET, alphabet_columns, ctc_columns  # noqa: E402
from pipeline.plates import fit_columns  # noqa: E402
from samples.plates import available_fonts, plate_crop, random_plate  # noqa: E402

H, W = 32, 128


def conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class CRNN(nn.Module):
    def __init__(self, n_classes: int = len(ALPHABET) + 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv(1, 32), nn.MaxPool2d(2),            # 16 x 64
            conv(32, 48), nn.MaxPool2d(2),           # 8 x 32
            conv(48, 64), conv(64, 64), nn.MaxPool2d((2, 1)),  # 4 x 32
            conv(64, 96), nn.MaxPool2d((4, 1)),      # 1 x 32
        )
        self.head = nn.Sequential(nn.Conv1d(96, 96, 3, padding=1, bias=False), nn.BatchNorm1d(96), nn.ReLU(inplace=True),
                                  nn.Conv1d(96, n_classes, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # logits (N, T, C)
        return self.head(self.features(x).squeeze(2)).transpose(1, 2)


class Exported(nn.Module):
    def __init__(self, net: CRNN) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=-1)


def to_input(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return (cv2.resize(grey, (W, H), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0 - 0.5) / 0.5


def render(n: int, seed: str, fonts: list[str]) -> tuple[list[np.ndarray], list[str]]:
    rng = random.Random(seed)
    crops, labels = [], []
    for _ in range(n):
        plate, fmt = random_plate(rng)
        crops.append(plate_crop(plate, fmt, rng, font=rng.choice(fonts)))
        labels.append(plate)
    return crops, labels


def jitter(rgb: np.ndarray, rng: random.Random) -> np.ndarray:
    h, w = rgb.shape[:2]
    x0, x1 = int(rng.uniform(0, 0.07) * w), w - int(rng.uniform(0, 0.07) * w)
    y0, y1 = int(rng.uniform(0, 0.25) * h), h - int(rng.uniform(0, 0.25) * h)
    out = to_input(rgb[y0:y1, x0:x1])
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.0))
    return np.clip(out * rng.uniform(0.6, 1.2) + rng.uniform(-0.3, 0.3), -1, 1)


def evaluate(net: CRNN, crops: list[np.ndarray], labels: list[str]) -> float:
    net.eval()
    columns = alphabet_columns(list(ALPHABET))
    ok = 0
    with torch.no_grad():
        for k in range(0, len(crops), 256):
            x = torch.from_numpy(np.stack([to_input(c) for c in crops[k:k + 256]])[:, None])
            probs = torch.softmax(net(x), dim=-1).numpy()
            for p, label in zip(probs, labels[k:k + 256], strict=True):
                ok += fit_columns(ctc_columns(p, columns))[0].plate == label
    net.train()
    return ok / len(crops)


def export(net: CRNN, out: Path) -> None:
    net.eval()
    torch.onnx.export(Exported(net), torch.zeros(1, 1, H, W), str(out), input_names=["x"], output_names=["probs"],
                      dynamic_axes={"x": {0: "n"}, "probs": {0: "n"}}, opset_version=17, dynamo=False)
    net.train()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "plate_crnn.onnx")
    ap.add_argument("--minutes", type=float, default=45.0, help="training time budget (after rendering)")
    ap.add_argument("--train", type=int, default=40000)
    ap.add_argument("--val", type=int, default=1000)
    ap.add_argument("--holdout-font", default="liberation_narrow_bold")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    fonts = sorted(available_fonts())
    train_fonts = [f for f in fonts if f != args.holdout_font]
    t0 = time.monotonic()
    crops, labels = render(args.train, f"train-{args.seed}", train_fonts)
    val_crops, val_labels = render(args.val, "val", train_fonts)
    held_crops, held_labels = render(args.val // 2, "held", [args.holdout_font]) if args.holdout_font in fonts else ([], [])
    print(f"rendered {len(crops)} + {len(val_crops)} + {len(held_crops)} crops in {time.monotonic() - t0:.0f} s", flush=True)
    targets = [torch.tensor([ALPHABET.index(c) + 1 for c in label]) for label in labels]
    net = CRNN()
    print(f"parameters: {sum(p.numel() for p in net.parameters()):,}", flush=True)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    rng = random.Random(args.seed)
    start, budget = time.monotonic(), args.minutes * 60
    best, step, last_eval, log = -1.0, 0, start, []
    while (elapsed := time.monotonic() - start) < budget:
        for g in opt.param_groups:  # cosine decay over the time budget, short warm-up
            g["lr"] = args.lr * min(1.0, (step + 1) / 300) * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
        idx = [rng.randrange(len(crops)) for _ in range(args.batch)]
        x = torch.from_numpy(np.stack([jitter(crops[i], rng) for i in idx])[:, None])
        y = [targets[i] for i in idx]
        logp = torch.log_softmax(net(x), dim=-1).transpose(0, 1)  # (T, N, C)
        loss = ctc(logp, torch.cat(y), torch.full((len(idx),), logp.shape[0], dtype=torch.long),
                   torch.tensor([len(t) for t in y]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if time.monotonic() - last_eval > 120 or time.monotonic() - start >= budget:
            last_eval = time.monotonic()
            acc = evaluate(net, val_crops, val_labels)
            held = evaluate(net, held_crops, held_labels) if held_crops else float("nan")
            log.append({"minutes": round((time.monotonic() - start) / 60, 1), "step": step, "loss": round(loss.item(), 4),
                        "val_exact": acc, "heldout_font_exact": held})
            print(json.dumps(log[-1]), flush=True)
            if acc > best:
                best = acc
                export(net, args.out)
    (args.out.with_suffix(".training.json")).write_text(json.dumps({
        "train": args.train, "val": args.val, "holdout_font": args.holdout_font, "fonts": train_fonts,
        "minutes": args.minutes, "batch": args.batch, "lr": args.lr, "seed": args.seed, "threads": args.threads,
        "best_val_exact": best, "log": log}, indent=2) + "\n")
    print(f"best validation exact {best:.4f}; exported {args.out}")


if __name__ == "__main__":
    main()
