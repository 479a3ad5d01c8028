"""A generated stand-in for the course's cats-vs-dogs dataset (cats_and_dogs_filtered).

The original hw2_cnn notebook downloads `cats_and_dogs_filtered.zip` and reads
`cats_and_dogs_filtered/{train,validation}/{cats,dogs}/*.jpg`. The grader has no network;
a rubric mounts instructor-provided data where the notebook expects it (`datasets:` in
the assignment YAML). This script writes a tiny synthetic dataset with the same layout,
for the grader's own tests and for graders without the real data:

    train/cats/cat.0.jpg ... cat.19.jpg             train/dogs/dog.0.jpg ... dog.19.jpg
    validation/cats/cat.2000.jpg ... cat.2009.jpg   validation/dogs/dog.2000.jpg ... dog.2009.jpg

(the real dataset's file names; it has 1000 + 1000 and 500 + 500). Images are 64x64
colour JPEGs: "cats" are warm with a dark round blob, "dogs" cool with light stripes, so
a model can tell them apart. It is a stand-in for the folder layout, not for the data: a
course notebook that hard-codes the real sizes (`random_split(val_full, [500, 500])`)
fails on it with a ValueError; grade real submissions with the real data.

Byte-identical on every machine: the pictures are drawn with integer arithmetic from
numpy's legacy RandomState stream (frozen by numpy's compatibility policy) and encoded by
the small baseline-JPEG encoder below (integer DCT, no floating point), not by Pillow, whose
bundled libjpeg may change its output between versions. tests/test_datasets.py rebuilds
it and compares every byte.

    python reference/lab/data/make_cats_dogs.py [--out DIR]   # default: next to this file
"""
from __future__ import annotations

import argparse
import shutil
import struct
from pathlib import Path

import numpy as np

NAME = "cats_and_dogs_filtered"
SIZE = 64  # pixels per side (a multiple of 8)
COUNTS = {"train": 20, "validation": 10}  # images per class
FIRST_INDEX = {"train": 0, "validation": 2000}  # the real dataset's file numbering
SEED = 20260301

# The 8x8 DCT-II basis, c(u)/2 * cos((2x+1) u pi / 16), times 2**12, rounded (fixed
# integers: no floating point anywhere in the encoding).
_DCT = np.array([
    [1448, 1448, 1448, 1448, 1448, 1448, 1448, 1448],
    [2009, 1703, 1138, 400, -400, -1138, -1703, -2009],
    [1892, 784, -784, -1892, -1892, -784, 784, 1892],
    [1703, -400, -2009, -1138, 1138, 2009, 400, -1703],
    [1448, -1448, -1448, 1448, 1448, -1448, -1448, 1448],
    [1138, -2009, 400, 1703, -1703, -400, 2009, -1138],
    [784, -1892, 1892, -784, -784, 1892, -1892, 784],
    [400, -1138, 1703, -2009, 2009, -1703, 1138, -400],
], dtype=np.int64)
_DCT_SHIFT = 24  # two products with the 2**12 basis

# One quantization table for all three components (natural order; written in zigzag).
_QUANT = np.array([
    [8, 6, 5, 8, 12, 20, 26, 31],
    [6, 6, 7, 10, 13, 29, 30, 28],
    [7, 7, 8, 12, 20, 29, 35, 28],
    [7, 9, 11, 15, 26, 44, 40, 31],
    [9, 11, 19, 28, 34, 55, 52, 39],
    [12, 18, 28, 32, 41, 52, 57, 46],
    [25, 32, 39, 44, 52, 61, 60, 51],
    [36, 46, 48, 49, 56, 50, 52, 50],
], dtype=np.int64)

_ZIGZAG = sorted(((u, v) for u in range(8) for v in range(8)),
                 key=lambda p: (p[0] + p[1], p[0] if (p[0] + p[1]) % 2 else p[1]))


# -- drawing -------------------------------------------------------------------------

def _draw(kind: str, rng: np.random.RandomState) -> np.ndarray:
    """A (SIZE, SIZE, 3) uint8 picture; integer arithmetic only."""
    n = SIZE
    yy, xx = np.mgrid[0:n, 0:n].astype(np.int64)
    jitter = rng.randint(-20, 21, size=3)
    if kind == "cat":  # warm background, a darker round blob (the "cat")
        bg = np.array([205, 140, 70]) + jitter
        fg = np.array([120, 60, 25]) + jitter // 2
        r = rng.randint(n // 8, n // 4 + 1)
        cy, cx = rng.randint(r, n - r), rng.randint(r, n - r)
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    else:  # cool background, light stripes (the "dog")
        bg = np.array([60, 95, 170]) + jitter
        fg = np.array([200, 215, 235]) + jitter // 2
        period, phase = rng.randint(n // 8, n // 4 + 1), rng.randint(0, n)
        lines = yy if rng.randint(0, 2) else xx
        mask = (lines + phase) % period < period // 3
    img = np.where(mask[..., None], fg, bg)
    img = img + rng.randint(-6, 7, size=img.shape)  # a little texture
    return np.clip(img, 0, 255).astype(np.uint8)


# -- a baseline JPEG encoder (4:4:4, integer DCT) --------------------------------------

def _ycbcr(img: np.ndarray) -> list[np.ndarray]:
    r, g, b = (img[..., i].astype(np.int64) for i in range(3))
    y = (77 * r + 150 * g + 29 * b + 128) >> 8
    cb = ((-43 * r - 85 * g + 128 * b + 128) >> 8) + 128
    cr = ((128 * r - 107 * g - 21 * b + 128) >> 8) + 128
    return [np.clip(c, 0, 255) - 128 for c in (y, cb, cr)]


def _round_div(x: np.ndarray, d: np.ndarray) -> np.ndarray:
    """x / d rounded half away from zero, in integers."""
    return np.sign(x) * ((np.abs(x) + d // 2) // d)


def _blocks(channel: np.ndarray):
    for by in range(0, SIZE, 8):
        for bx in range(0, SIZE, 8):
            coef = _DCT @ channel[by:by + 8, bx:bx + 8] @ _DCT.T
            q = _round_div(coef, _QUANT << _DCT_SHIFT)
            yield [int(q[u, v]) for u, v in _ZIGZAG]


def _magnitude(v: int) -> tuple[int, int, int]:
    """(size category, the value's bits, their count) as JPEG codes them."""
    size = abs(v).bit_length()
    return size, (v if v >= 0 else v + (1 << size) - 1), size


def _symbols(planes):
    """(table, symbol, extra bits, extra count) in scan order: MCU = one block per component."""
    out = []
    pred = [0, 0, 0]
    blocks = [list(_blocks(p)) for p in planes]
    for i in range(len(blocks[0])):
        for c in range(3):
            zz = blocks[c][i]
            size, bits, nbits = _magnitude(zz[0] - pred[c])
            pred[c] = zz[0]
            out.append(("dc", size, bits, nbits))
            run = 0
            last = max((k for k in range(1, 64) if zz[k]), default=0)
            for k in range(1, last + 1):
                if zz[k] == 0:
                    run += 1
                    continue
                while run > 15:
                    out.append(("ac", 0xF0, 0, 0))
                    run -= 16
                size, bits, nbits = _magnitude(zz[k])
                out.append(("ac", (run << 4) | size, bits, nbits))
                run = 0
            if last < 63:
                out.append(("ac", 0x00, 0, 0))  # end of block
    return out


def _table(symbols: set[int]) -> tuple[int, list[int], dict[int, tuple[int, int]]]:
    """A valid Huffman table with equal-length codes for the symbols this image uses."""
    vals = sorted(symbols)
    length = max(1, len(vals).bit_length())  # n codes < 2**length: never an all-ones code
    codes = {s: (i, length) for i, s in enumerate(vals)}
    return length, vals, codes


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def encode_jpeg(img: np.ndarray) -> bytes:
    syms = _symbols(_ycbcr(img))
    tables = {k: _table({s for t, s, _, _ in syms if t == k}) for k in ("dc", "ac")}
    dht = b""
    for cls, k in ((0, "dc"), (1, "ac")):
        length, vals, _ = tables[k]
        counts = [0] * 16
        counts[length - 1] = len(vals)
        dht += bytes([cls << 4]) + bytes(counts) + bytes(vals)
    acc, nacc, data = 0, 0, bytearray()
    for t, s, bits, nbits in syms:
        code, clen = tables[t][2][s]
        for value, n in ((code, clen), (bits, nbits)):
            acc, nacc = (acc << n) | value, nacc + n
            while nacc >= 8:
                nacc -= 8
                byte = (acc >> nacc) & 0xFF
                data.append(byte)
                if byte == 0xFF:
                    data.append(0x00)  # byte stuffing
        acc &= (1 << nacc) - 1
    if nacc:
        byte = ((acc << (8 - nacc)) | ((1 << (8 - nacc)) - 1)) & 0xFF  # pad with 1 bits
        data.append(byte)
        if byte == 0xFF:
            data.append(0x00)
    quant = bytes(int(_QUANT[u, v]) for u, v in _ZIGZAG)
    comps = b"".join(bytes([cid, 0x11, 0]) for cid in (1, 2, 3))
    return b"".join([
        b"\xff\xd8",
        _segment(0xFFDB, b"\x00" + quant),
        _segment(0xFFC0, struct.pack(">BHHB", 8, SIZE, SIZE, 3) + comps),
        _segment(0xFFC4, dht),
        _segment(0xFFDA, b"\x03" + b"".join(bytes([cid, 0x00]) for cid in (1, 2, 3)) + b"\x00\x3f\x00"),
        bytes(data),
        b"\xff\xd9",
    ])


# -- the dataset -------------------------------------------------------------------------

def build(out: Path) -> Path:
    """Write out/cats_and_dogs_filtered (replacing it); return its path."""
    root = Path(out) / NAME
    if root.exists():
        shutil.rmtree(root)
    rng = np.random.RandomState(SEED)
    for split, count in COUNTS.items():
        for kind in ("cat", "dog"):
            folder = root / split / f"{kind}s"
            folder.mkdir(parents=True)
            for i in range(count):
                (folder / f"{kind}.{FIRST_INDEX[split] + i}.jpg").write_bytes(encode_jpeg(_draw(kind, rng)))
    return root


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    root = build(ap.parse_args(argv).out)
    files = sorted(p for p in root.rglob("*.jpg"))
    print(f"{root}: {len(files)} images, {sum(p.stat().st_size for p in files)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
