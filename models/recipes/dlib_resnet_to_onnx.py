"""Recipe for models/faces/dlib-resnet-v1/dlib_face_recognition_resnet_model_v1.onnx: dlib's face
embedder (the ResNet of dlib's dnn_face_recognition_ex.cpp, weights CC0) rebuilt as an ONNX graph so
onnxruntime runs it (with its own threads and optimised kernels) instead of dlib's CPU code.

    python models/recipes/dlib_resnet_to_onnx.py [--dat PATH] [--out PATH]
    python models/recipes/dlib_resnet_to_onnx.py --check ../shared/data/faces/lfw/images

The weights are read from dlib's own model file (the face-recognition-models package's copy by
default): nothing is retrained or approximated. How dlib writes a network is not documented, so
what this reads was taken from the file itself and dlib's serialisation code, and is checked as it
goes (every layer's kind, shape, stride and padding is asserted to be the architecture below):

* integers: one byte (bit 7 the sign, the low nibble the count of bytes that follow), then the
  magnitude little-endian;
* strings: an integer length, then the bytes;
* floats outside tensors: an integer mantissa and an integer exponent (m x 2^e);
* tensors: a version (2), the four dimensions as integers, then little-endian IEEE float32;
* the layers are written innermost first, so the file lists them in the order the network runs:
  ``input_rgb_image_sized`` (its three channel means, then 150 x 150), then ``con_4`` (params
  [filters, then biases], filters, rows, columns, stride y, x, padding y, x), ``affine_`` (params
  [gamma, then beta] per channel), ``relu_``, ``max_pool_2``/``avg_pool_2`` (rows, columns,
  strides, paddings; 0 x 0 is the average over everything), ``add_prev_`` and ``fc_2`` (outputs,
  inputs, params [inputs x outputs]).

The architecture (dlib's anet_type), in the order it runs::

    input 150x150 RGB: (pixel - channel mean) / 256
    con 32 7x7 /2, affine, relu, max_pool 3x3 /2
    level 4: 3 x ares(32)
    level 3: ares_down(64), 3 x ares(64)
    level 2: ares_down(128), 2 x ares(128)
    level 1: ares_down(256), 2 x ares(256)
    level 0: ares_down(256)
    average over everything, fc 256 -> 128 without bias

    ares(N)      = relu(x + affine(con N 3x3 (relu(affine(con N 3x3 (x))))))
    ares_down(N) = relu(avg_pool 2x2 /2 (x) + affine(con N 3x3 (relu(affine(con N 3x3 /2 (x))))))

dlib adds two tensors of different shapes by placing both at the top-left of the larger and
counting what is missing as 0 (in ares_down the pooled input has fewer channels, and in levels 1
and 0 the strided convolution's output is one row and column smaller than the pooled input: 3
against 4, 1 against 2). The graph does the same with explicit Pad nodes, the shapes being fixed by
the 150 x 150 input.

The graph takes what dlib's own chip extraction gives (``dlib.get_face_chip(image, shape, 150,
0.25)``): uint8 RGB chips [N, 150, 150, 3], any N. Its output is the 128-d descriptor dlib's
``compute_face_descriptor`` returns for the same chip. ``--check`` compares the two on the LFW
photos (../shared/data/faces/lfw) and prints the largest difference: the ONNX file keeps dlib's model
identity (the same calibration, thresholds and stored vectors) only if it is <= 1e-4.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "models" / "faces" / "dlib-resnet-v1" / "dlib_face_recognition_resnet_model_v1.onnx"
SIZE = 150
OPSET = 17
IR_VERSION = 8


@dataclass
class Layer:
    kind: str
    params: npt.NDArray[np.float32] | None = None
    ints: list[int] = field(default_factory=list)
    floats: list[float] = field(default_factory=list)


class DlibFile:
    """The layers of a dlib network file, in the order they were written (the order they run)."""

    KINDS = ("input_rgb_image_sized", "con_4", "affine_", "relu_", "max_pool_2", "avg_pool_2", "add_prev_", "fc_2")

    def __init__(self, data: bytes) -> None:
        self.data = data

    def integer(self, at: int) -> tuple[int, int]:
        head = self.data[at]
        count = head & 0x0F
        value = int.from_bytes(self.data[at + 1:at + 1 + count], "little")
        return (-value if head & 0x80 else value), at + 1 + count

    def text(self, at: int) -> tuple[str, int]:
        length, at = self.integer(at)
        return self.data[at:at + length].decode("latin-1"), at + length

    def real(self, at: int) -> tuple[float, int]:
        mantissa, at = self.integer(at)
        exponent, at = self.integer(at)
        return float(np.ldexp(float(mantissa), exponent)), at

    def tensor(self, at: int) -> tuple[npt.NDArray[np.float32], int]:
        version, at = self.integer(at)
        assert version == 2, f"tensor version {version} at byte {at}: not what this recipe reads"
        dims = []
        for _ in range(4):
            d, at = self.integer(at)
            dims.append(d)
        count = int(np.prod(dims))
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=at).astype(np.float32)
        return values, at + 4 * count

    def integers(self, at: int, n: int) -> tuple[list[int], int]:
        out = []
        for _ in range(n):
            v, at = self.integer(at)
            out.append(v)
        return out, at

    def layers(self) -> Iterator[Layer]:
        at = 0
        while True:
            found = [(self.data.find(b"%c%c%s" % (1, len(k), k.encode()), at), k) for k in self.KINDS]
            found = [(p, k) for p, k in found if p >= 0]
            if not found:
                return
            pos, kind = min(found)
            name, at = self.text(pos)
            assert name == kind
            if kind == "input_rgb_image_sized":
                means = []
                for _ in range(3):
                    m, at = self.real(at)
                    means.append(m)
                size, at = self.integers(at, 2)
                yield Layer(kind, ints=size, floats=means)
            elif kind == "con_4":
                params, at = self.tensor(at)
                ints, at = self.integers(at, 7)  # filters, rows, columns, stride y, x, padding y, x
                yield Layer(kind, params, ints)
            elif kind == "affine_":
                params, at = self.tensor(at)
                yield Layer(kind, params)
            elif kind in ("max_pool_2", "avg_pool_2"):
                ints, at = self.integers(at, 6)  # rows, columns, stride y, x, padding y, x
                yield Layer(kind, ints=ints)
            elif kind == "fc_2":
                ints, at = self.integers(at, 2)  # outputs, inputs
                params, at = self.tensor(at)
                yield Layer(kind, params, ints)
            else:
                yield Layer(kind)


class Graph:
    """An ONNX graph written node by node, tracking each value's (channels, rows, columns)."""

    def __init__(self) -> None:
        self.nodes: list[object] = []
        self.inits: list[object] = []
        self.shapes: dict[str, tuple[int, int, int]] = {}
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def constant(self, stem: str, value: npt.NDArray[np.generic]) -> str:
        from onnx import numpy_helper

        name = self.name(stem)
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], shape: tuple[int, int, int], **attrs: object) -> str:
        from onnx import helper

        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        self.shapes[out] = shape
        return out

    def conv(self, x: str, layer: Layer) -> str:
        filters, rows, cols, sy, sx, py, px = layer.ints
        k = self.shapes[x][0]
        assert layer.params is not None and layer.params.size == filters * k * rows * cols + filters
        w = layer.params[:filters * k * rows * cols].reshape(filters, k, rows, cols)
        b = layer.params[filters * k * rows * cols:]
        _, h, wd = self.shapes[x]
        shape = (filters, (h + 2 * py - rows) // sy + 1, (wd + 2 * px - cols) // sx + 1)
        return self.node("Conv", [x, self.constant("w", w), self.constant("b", b)], shape,
                         kernel_shape=[rows, cols], strides=[sy, sx], pads=[py, px, py, px])

    def affine(self, x: str, layer: Layer) -> str:
        k = self.shapes[x][0]
        assert layer.params is not None and layer.params.size == 2 * k
        gamma = layer.params[:k].reshape(1, k, 1, 1)
        beta = layer.params[k:].reshape(1, k, 1, 1)
        scaled = self.node("Mul", [x, self.constant("gamma", gamma)], self.shapes[x])
        return self.node("Add", [scaled, self.constant("beta", beta)], self.shapes[x])

    def relu(self, x: str) -> str:
        return self.node("Relu", [x], self.shapes[x])

    def pool(self, x: str, layer: Layer) -> str:
        rows, cols, sy, sx, py, px = layer.ints
        k, h, w = self.shapes[x]
        if rows == 0 and cols == 0:
            return self.node("GlobalAveragePool", [x], (k, 1, 1))
        op = "MaxPool" if layer.kind == "max_pool_2" else "AveragePool"
        shape = (k, (h + 2 * py - rows) // sy + 1, (w + 2 * px - cols) // sx + 1)
        return self.node(op, [x], shape, kernel_shape=[rows, cols], strides=[sy, sx], pads=[py, px, py, px])

    def grown(self, x: str, shape: tuple[int, int, int]) -> str:
        """``x`` padded with zeros after its last channel, row and column up to ``shape`` (dlib's add)."""
        have = self.shapes[x]
        if have == shape:
            return x
        pads = np.array([0, 0, 0, 0, 0, shape[0] - have[0], shape[1] - have[1], shape[2] - have[2]], dtype=np.int64)
        return self.node("Pad", [x, self.constant("pads", pads)], shape, mode="constant")

    def add(self, a: str, b: str) -> str:
        shape = tuple(max(p, q) for p, q in zip(self.shapes[a], self.shapes[b], strict=True))
        assert len(shape) == 3
        return self.node("Add", [self.grown(a, shape), self.grown(b, shape)], shape)  # type: ignore[arg-type]


def build(layers: list[Layer]) -> object:
    from onnx import TensorProto, helper

    queue = list(layers)

    def take(kind: str) -> Layer:
        layer = queue.pop(0)
        assert layer.kind == kind, f"expected {kind}, found {layer.kind} ({len(layers) - len(queue)} layers in)"
        return layer

    g = Graph()
    first = take("input_rgb_image_sized")
    assert first.ints == [SIZE, SIZE], first.ints
    # uint8 RGB [N, 150, 150, 3] -> float (pixel - mean) / 256, [N, 3, 150, 150]
    g.shapes["chips"] = (SIZE, SIZE, 3)
    x = g.node("Cast", ["chips"], (SIZE, SIZE, 3), to=TensorProto.FLOAT)
    x = g.node("Transpose", [x], (3, SIZE, SIZE), perm=[0, 3, 1, 2])
    means = np.array(first.floats, dtype=np.float32).reshape(1, 3, 1, 1)
    x = g.node("Sub", [x, g.constant("means", means)], (3, SIZE, SIZE))
    x = g.node("Mul", [x, g.constant("scale", np.array(1 / 256, dtype=np.float32))], (3, SIZE, SIZE))

    x = g.affine(g.conv(x, take("con_4")), take("affine_"))
    take("relu_")
    x = g.pool(g.relu(x), take("max_pool_2"))

    def block(x: str) -> str:
        y = g.conv(x, take("con_4"))
        y = g.relu(g.affine(y, take("affine_")))
        take("relu_")
        y = g.conv(y, take("con_4"))
        return g.affine(y, take("affine_"))

    def ares(x: str, down: bool) -> str:
        y = block(x)
        if down:
            x = g.pool(x, take("avg_pool_2"))
        take("add_prev_")
        out = g.relu(g.add(y, x))
        take("relu_")
        return out

    plan = [(32, False)] * 3 + [(64, True)] + [(64, False)] * 3 + [(128, True)] + [(128, False)] * 2 \
        + [(256, True)] + [(256, False)] * 2 + [(256, True)]
    for filters, down in plan:
        assert queue[0].kind == "con_4" and queue[0].ints[0] == filters, (filters, queue[0])
        assert (queue[0].ints[3] == 2) == down, (filters, down, queue[0].ints)
        x = ares(x, down)
    x = g.pool(x, take("avg_pool_2"))
    fc = take("fc_2")
    outputs, inputs = fc.ints
    assert fc.params is not None and fc.params.size == outputs * inputs and g.shapes[x] == (inputs, 1, 1)
    assert not queue, f"{len(queue)} layers left over"
    flat = g.node("Flatten", [x], (inputs, 1, 1), axis=1)
    out = g.node("MatMul", [flat, g.constant("fc", fc.params.reshape(inputs, outputs))], (outputs, 1, 1))
    g.nodes.append(helper.make_node("Identity", [out], ["descriptors"]))

    graph = helper.make_graph(
        g.nodes, "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["n", SIZE, SIZE, 3])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["n", outputs])],
        g.inits)  # type: ignore[arg-type]
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="evidence-pipeline models/recipes/dlib_resnet_to_onnx.py")
    # The oldest IR that holds opset 17, not the installed onnx package's newest: onnxruntime 1.17
    # (the oldest pyproject.toml allows) reads IR 9 at most, and the file's bytes (its SHA-256) do not
    # move with the onnx package that wrote them.
    model.ir_version = IR_VERSION
    model.doc_string = ("dlib's face recognition ResNet (dlib-models, CC0) rebuilt from "
                        "dlib_face_recognition_resnet_model_v1.dat; input: uint8 RGB face chips from "
                        "dlib.get_face_chip(image, shape, 150, 0.25); output: dlib's 128-d descriptors")
    return model


def convert(dat: Path, out: Path) -> str:
    import onnx

    layers = list(DlibFile(dat.read_bytes()).layers())
    model = build(layers)
    onnx.checker.check_model(model)  # type: ignore[arg-type]
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written deterministically (no timestamps in ONNX), so the same .dat gives the same SHA-256.
    out.write_bytes(model.SerializeToString())  # type: ignore[attr-defined]
    return hashlib.sha256(out.read_bytes()).hexdigest()


def check(onnx_file: Path, dat: Path, images: Path, limit: int) -> float:
    """The largest difference, over LFW's photos, between dlib's descriptor and the ONNX graph's."""
    import cv2
    import dlib
    import face_recognition_models
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    net = dlib.face_recognition_model_v1(str(dat))
    detector = dlib.get_frontal_face_detector()
    aligner = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    worst, seen = 0.0, 0
    for path in sorted(images.rglob("*.jpg"))[:limit]:
        image = np.ascontiguousarray(cv2.imread(str(path))[:, :, ::-1])
        faces = detector(image, 1)
        if not faces:
            continue
        shape = aligner(image, faces[0])
        ours = sess.run(None, {"chips": dlib.get_face_chip(image, shape, SIZE, 0.25)[None]})[0][0]
        theirs = np.asarray(net.compute_face_descriptor(image, shape), dtype=np.float32)
        worst = max(worst, float(np.abs(ours - theirs).max()))
        seen += 1
    print(f"{seen} LFW faces: largest difference between dlib and ONNX descriptors {worst:.2e}")
    return worst


def main(argv: list[str] | None = None) -> int:
    import face_recognition_models

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dat", type=Path, default=Path(face_recognition_models.face_recognition_model_location()))
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", type=Path, metavar="LFW_IMAGES",
                        help="compare --out with dlib on the photos under this folder (../shared/data/faces/lfw/images); "
                             "with --check the file is written only if it does not exist or --write is given")
    parser.add_argument("--write", action="store_true", help="write --out even with --check")
    parser.add_argument("--limit", type=int, default=100_000, help="at most this many photos for --check")
    args = parser.parse_args(argv)
    if args.write or not args.check or not args.out.exists():
        digest = convert(args.dat, args.out)
        print(f"wrote {args.out} ({args.out.stat().st_size:,} B, SHA-256 {digest})")
    if args.check:
        worst = check(args.out, args.dat, args.check, args.limit)
        if worst > 1e-4:
            print("larger than 1e-4: this is a new model (re-embed stored vectors), not dlib's", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
