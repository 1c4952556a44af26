"""Writes ``tiling.json``: golden vectors that hold the Kotlin and Swift tilers to ``seemore_edge/tiling.py``.

Run ``python -m tests.golden.make_tiling`` after a deliberate change of the specification; ``tests/test_tiling.py``
fails while the file and the Python reference disagree.

Each case gives an LR image by formula (no pixel data to ship), the grid, and the stitched uint8 output of the probe
model: nearest-neighbour upscaling plus 0.25 x the tile's mean value, a stand-in whose tiles disagree near their edges
so that padding, grid and blending weights all show in the result.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from seemore_edge.core.tiling import make_grid, upscale_tiled

CASES = [  # name, height, width, tile (height, width), overlap, scale
    ("two axes of tiles, last ones moved back", 20, 33, (16, 16), 4, 2),
    ("smaller than one tile: mirrored padding", 10, 12, (16, 16), 4, 3),
    ("exactly one tile, the minimum size", 16, 16, (16, 16), 4, 4),
    ("tall, narrower than a tile", 40, 13, (16, 16), 6, 2),
    ("no overlap", 33, 50, (24, 24), 0, 2),
    ("wide tile, one call for a frame of its shape", 9, 16, (9, 16), 2, 2),
    ("wide tile on a tall image: rows of tiles, columns padded", 30, 11, (9, 16), 2, 3),
]


def probe_image(height: int, width: int) -> np.ndarray:
    y, x, c = np.meshgrid(np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    return ((x * 37 + y * 91 + c * 53 + x * y) % 256).astype(np.uint8)


def probe_model(scale: int):
    def run(tile: np.ndarray) -> np.ndarray:
        return tile.repeat(scale, axis=2).repeat(scale, axis=3) + 0.25 * tile.mean()
    return run


def build() -> dict:
    cases = []
    for name, h, w, tile, overlap, scale in CASES:
        grid = make_grid(h, w, tile, overlap)
        out = upscale_tiled(probe_model(scale), probe_image(h, w), scale, tile, overlap)
        cases.append({"name": name, "height": h, "width": w, "tile": list(tile), "overlap": overlap, "scale": scale,
                      "ys": list(grid.ys), "xs": list(grid.xs), "padded": list(grid.padded),
                      "output_shape": list(out.shape), "output": out.ravel().tolist()})
    return {"spec": "seemore_edge/tiling.py",
            "input": "pixel(y, x, c) = (37 x + 91 y + 53 c + x y) mod 256, uint8, HxWx3",
            "model": "float32 tile 1x3xThxTw in [0,1] -> nearest-neighbour x scale, plus 0.25 * mean of the whole tile",
            "output": "row-major HxWx3 uint8; ports may differ by 1 where float32 and float64 round differently",
            "cases": cases}


PATH = Path(__file__).with_name("tiling.json")

if __name__ == "__main__":
    PATH.write_text(json.dumps(build(), separators=(",", ":")) + "\n")
    print(f"wrote {PATH}")
