"""The tiling specification shared by ``upscale``, artifact evaluation and the phone apps.

Phone runtimes run one fixed LR tile size, so every image is cut into full ``tile`` x ``tile`` tiles:
1. Padding: an axis shorter than ``tile`` is extended to ``tile`` by half-sample symmetric mirroring (``c b a | a b c |
   c b a``, repeated as often as needed), so that tiny images still feed the model a natural-looking tile.
2. Grid, per axis of (padded) length L: starts at 0, ``tile - overlap``, ``2 (tile - overlap)``, ...; the last tile is
   moved back to end exactly at L (it may overlap its neighbour by more than ``overlap``).
3. Blending: each output pixel is the weighted mean of the tiles covering it. A tile's weight is the product of two
   axis ramps; along an axis, at position p of the tile's output extent n = tile * scale, with ramp length
   r = overlap * scale, the weight is min(1, (p + 0.5) / r) if the tile has a neighbour before it, times
   min(1, (n - p - 0.5) / r) if it has one after it (1 when r = 0 or there is no neighbour).
4. The blended image is cropped to (H * scale, W * scale) and converted to 8 bits as floor(255 * clamp(v, 0, 1) + 0.5).
Golden vectors in ``tests/golden/tiling.json`` hold the Kotlin and Swift ports to this text.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

DEFAULT_TILE = 128
DEFAULT_OVERLAP = 16


@dataclass(frozen=True)
class Grid:
    height: int  # LR image size
    width: int
    tile: int
    overlap: int
    ys: tuple[int, ...]  # tile starts in the padded image
    xs: tuple[int, ...]

    @property
    def padded(self) -> tuple[int, int]:
        return max(self.height, self.tile), max(self.width, self.tile)

    def __len__(self) -> int:
        return len(self.ys) * len(self.xs)


def check_tile(tile: int, overlap: int) -> None:
    """Tiles the tools accept: at least 32 LR pixels (the model's minimum input), overlap under half a tile."""
    if tile < 32 or not 0 <= overlap < tile // 2:
        raise ValueError(f"need --tile >= 32 and 0 <= --overlap < tile/2, got {tile} and {overlap}")


def axis_starts(length: int, tile: int, overlap: int) -> tuple[int, ...]:
    length = max(length, tile)
    stride = tile - overlap
    n = math.ceil((length - tile) / stride) + 1
    return tuple(min(i * stride, length - tile) for i in range(n))


def make_grid(height: int, width: int, tile: int, overlap: int) -> Grid:
    if tile < 1 or not 0 <= overlap < tile:
        raise ValueError(f"need tile >= 1 and 0 <= overlap < tile, got tile {tile}, overlap {overlap}")
    return Grid(height, width, tile, overlap, axis_starts(height, tile, overlap), axis_starts(width, tile, overlap))


def mirror_index(i: np.ndarray, length: int) -> np.ndarray:
    """Half-sample symmetric reflection of any integer index into [0, length)."""
    period = np.concatenate([np.arange(length), np.arange(length - 1, -1, -1)])
    return period[np.mod(i, 2 * length)]


def pad_to_tile(image: np.ndarray, tile: int) -> np.ndarray:
    """HxWxC -> at least tile x tile, mirrored at the bottom and right (rule 1)."""
    h, w = image.shape[:2]
    rows = mirror_index(np.arange(max(h, tile)), h)
    cols = mirror_index(np.arange(max(w, tile)), w)
    return image[rows][:, cols]


def axis_ramp(n: int, ramp: int, before: bool, after: bool) -> np.ndarray:
    p = np.arange(n, dtype=np.float64) + 0.5
    w = np.ones(n)
    if ramp > 0 and before:
        w = np.minimum(w, p / ramp)
    if ramp > 0 and after:
        w = np.minimum(w, (n - p) / ramp)
    return w


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[0, 1] float -> uint8 by rounding half up (the apps' rule, not numpy's round-half-even)."""
    return np.floor(np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def upscale_tiled(run: Callable[[np.ndarray], np.ndarray], image: np.ndarray, scale: int, tile: int, overlap: int,
                  progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Upscale an HxWx3 uint8 image with ``run`` (float32 1x3xTxT in [0, 1] -> 1x3x(sT)x(sT)) tile by tile.

    Memory stays bounded: one row of tiles is blended at a time in a float strip of ``tile * scale`` output rows, and
    rows are written to the uint8 result as soon as no later tile can touch them.
    """
    h, w = image.shape[:2]
    grid = make_grid(h, w, tile, overlap)
    src = pad_to_tile(image, tile)
    pw = grid.padded[1]
    out = np.empty((h * scale, w * scale, 3), np.uint8)
    n, r = tile * scale, overlap * scale
    strip_top = 0  # padded output row at which the strip starts
    acc = np.zeros((n, pw * scale, 3))
    wsum = np.zeros((n, pw * scale, 1))
    for iy, y in enumerate(grid.ys):
        # Flush rows above this tile row: no later tile reaches them.
        shift = y * scale - strip_top
        if shift:
            _flush(out, acc[:shift], wsum[:shift], strip_top, h * scale)
            acc = np.concatenate([acc[shift:], np.zeros((shift,) + acc.shape[1:])])
            wsum = np.concatenate([wsum[shift:], np.zeros((shift,) + wsum.shape[1:])])
            strip_top = y * scale
        wy = axis_ramp(n, r, iy > 0, iy < len(grid.ys) - 1)
        for ix, x in enumerate(grid.xs):
            lr = src[y:y + tile, x:x + tile].astype(np.float32).transpose(2, 0, 1)[None] / 255.0
            sr = run(np.ascontiguousarray(lr))[0].transpose(1, 2, 0).astype(np.float64)
            wx = axis_ramp(n, r, ix > 0, ix < len(grid.xs) - 1)
            wt = (wy[:, None] * wx[None, :])[..., None]
            acc[:, x * scale:x * scale + n] += sr * wt
            wsum[:, x * scale:x * scale + n] += wt
            if progress:
                progress(1)
    _flush(out, acc, wsum, strip_top, h * scale)
    return out


def _flush(out: np.ndarray, acc: np.ndarray, wsum: np.ndarray, top: int, height: int) -> None:
    rows = min(acc.shape[0], height - top)
    if rows <= 0:
        return
    width = out.shape[1]
    out[top:top + rows] = to_uint8(acc[:rows, :width] / wsum[:rows, :width])

