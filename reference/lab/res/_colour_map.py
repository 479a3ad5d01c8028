"""Makes ziegler.png, the 512x512 RGB colour map plot_lib reads at import time.

This project's own stand-in for the image of the same name in the course's res/ folder
(same role: show_scatterplot colours a point by the pixel at its (row, column)). It is a
smooth two-dimensional gradient: red grows along the columns, green along the rows, blue
towards the top-left corner, so nearby positions get similar colours.

    python _colour_map.py [OUT.png]      # default: ziegler.png next to this file

The PNG is written with the standard library (zlib), so the bytes are reproducible.
"""
import os
import struct
import sys
import zlib

import numpy as np

SIZE = 512


def colour_map(size=SIZE):
    """uint8 array (size, size, 3) of the gradient."""
    ramp = np.linspace(0.0, 1.0, size)
    rows, cols = np.meshgrid(ramp, ramp, indexing='ij')
    rgb = np.stack([0.15 + 0.85 * cols,
                    0.15 + 0.85 * rows,
                    0.15 + 0.85 * (1.0 - (rows + cols) / 2.0)], axis=-1)
    return np.round(rgb * 255).astype(np.uint8)


def png_bytes(rgb):
    """An 8-bit RGB PNG of a uint8 array (H, W, 3)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width, _ = rgb.shape
    # Filter type 1 ("Sub") on every row: each byte minus the byte of the pixel to its
    # left, modulo 256; a smooth gradient then compresses to a few kilobytes.
    flat = rgb.reshape(height, width * 3).astype(np.int16)
    sub = np.concatenate([flat[:, :3], flat[:, 3:] - flat[:, :-3]], axis=1) % 256
    raw = b''.join(b'\x01' + row.astype(np.uint8).tobytes() for row in sub)

    def chunk(kind, payload):
        body = kind + payload
        return struct.pack('>I', len(payload)) + body + struct.pack('>I', zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header)
            + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b''))


def write(path=None):
    path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ziegler.png')
    with open(path, 'wb') as fh:
        fh.write(png_bytes(colour_map()))
    return path


if __name__ == '__main__':
    print(write(sys.argv[1] if len(sys.argv) > 1 else None))
