"""The tiling specification shared by ``upscale``, artifact evaluation and the phone apps.

Phone runtimes run one fixed LR tile shape, so every image is cut into full tiles of ``tile`` = (height, width);
a square tile is the special case, and a 180 x 320 tile takes a 1280 x 720 frame at x4 in one call. Per axis, with T
the tile's extent along it:
1. Padding: an axis shorter than T is extended to T by half-sample symmetric mirroring (``c b a | a b c |
   c b a``, repeated as often as needed), so that tiny images still feed the model a natural-looking tile.
2. Grid, per axis of (padded) length L: starts at 0, ``T - overlap``, ``2 (T - overlap)``, ...; the last tile is
   moved back to end exactly at L (it may overlap its neighbour by more than ``overlap``).
3. Blending: each output pixel is the weighted mean of the tiles covering it. A tile's weight is the product of two
   axis ramps; along an axis, at position p of the tile's output extent n = T * scale, with ramp length
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

from .errors import UserError

Tile = tuple[int, int]  # LR (height, width)

DEFAULT_TILE: Tile = (128, 128)
DEFAULT_OVERLAP = 16
FRAME_OUT = (720, 1280)  # the video frame the bench times and the demo offers a one-call tile for (output pixels)


def frame_tile(scale: int) -> Tile:
    """The LR tile of one 1280x720 output frame: 180x320 at x4, 360x640 at x2 (rounded up where the scale does not
    divide the frame, x3)."""
    return (-(-FRAME_OUT[0] // scale), -(-FRAME_OUT[1] // scale))


def as_tile(value) -> Tile:
    """A tile from each place one is written: ``128`` or ``"128"`` (square), ``"180x320"`` (height x width, the
    command line), ``[180, 320]`` (a card)."""
    try:
        parts = value.lower().split("x") if isinstance(value, str) else value
        size = [int(parts)] * 2 if isinstance(parts, int) else [int(p) for p in parts]
        if len(size) == 1:
            size *= 2
        if len(size) != 2:
            raise UserError
    except (TypeError, ValueError):
        raise UserError(f"a tile is SIDE or HEIGHTxWIDTH in LR pixels, e.g. 128 or 180x320; got {value!r}") from None
    return size[0], size[1]


def tile_text(tile: Tile) -> str:
    return f"{tile[0]}x{tile[1]}"


@dataclass(frozen=True)
class Grid:
    height: int  # LR image size
    width: int
    tile: Tile
    overlap: int
    ys: tuple[int, ...]  # tile starts in the padded image
    xs: tuple[int, ...]

    @property
    def padded(self) -> tuple[int, int]:
        return max(self.height, self.tile[0]), max(self.width, self.tile[1])

    def __len__(self) -> int:
        return len(self.ys) * len(self.xs)


def check_tile(tile: Tile, overlap: int) -> None:
    """Tiles the tools accept: at least 32 LR pixels a side (the model's minimum input), overlap under half a tile."""
    if min(tile) < 32 or not 0 <= overlap < min(tile) // 2:
        raise UserError(f"need a tile of at least 32 a side and 0 <= --overlap < half its shorter side, got "
                         f"{tile_text(tile)} and {overlap}")


def axis_starts(length: int, tile: int, overlap: int) -> tuple[int, ...]:
    length = max(length, tile)
    stride = tile - overlap
    n = math.ceil((length - tile) / stride) + 1
    return tuple(min(i * stride, length - tile) for i in range(n))


def make_grid(height: int, width: int, tile: Tile, overlap: int) -> Grid:
    if min(tile) < 1 or not 0 <= overlap < min(tile):
        raise UserError(f"need tile sides >= 1 and 0 <= overlap < each, got tile {tile_text(tile)}, overlap {overlap}")
    return Grid(height, width, tile, overlap, axis_starts(height, tile[0], overlap),
                axis_starts(width, tile[1], overlap))


def mirror_index(i: np.ndarray, length: int) -> np.ndarray:
    """Half-sample symmetric reflection of any integer index into [0, length)."""
    period = np.concatenate([np.arange(length), np.arange(length - 1, -1, -1)])
    return period[np.mod(i, 2 * length)]


def pad_to_tile(image: np.ndarray, tile: Tile) -> np.ndarray:
    """HxWxC -> at least the tile's height and width, mirrored at the bottom and right (rule 1)."""
    h, w = image.shape[:2]
    rows = mirror_index(np.arange(max(h, tile[0])), h)
    cols = mirror_index(np.arange(max(w, tile[1])), w)
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


STRIP_ROWS = 32


def chw_to_uint8(sr: np.ndarray) -> np.ndarray:
    """A CxHxW float SR image as HxWxC uint8 by step 4's rule, exactly as in float64 (which holds a float32 times 255
    exactly), in strips of rows: rounding a whole 720p frame at once took 17 ms on a 2-core host, more than a tenth of
    an INT8 frame, where strips that stay in cache take 6 ms for the same bytes."""
    c, h, w = sr.shape
    out = np.empty((h, w, c), np.uint8)
    strip = np.empty((c, STRIP_ROWS, w), np.float64)
    for top in range(0, h, STRIP_ROWS):
        rows = min(STRIP_ROWS, h - top)
        v = strip[:, :rows]
        v[...] = sr[:, top:top + rows]
        np.clip(v, 0.0, 1.0, out=v)
        v *= 255.0
        v += 0.5
        np.floor(v, out=v)
        out[top:top + rows] = v.transpose(1, 2, 0)
    return out


def upscale_tiled(run: Callable[[np.ndarray], np.ndarray], image: np.ndarray, scale: int, tile: Tile, overlap: int,
                  progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Upscale an HxWx3 uint8 image with ``run`` (float32 1x3xThxTw in [0, 1] -> 1x3x(sTh)x(sTw)) tile by tile.

    Memory stays bounded: one row of tiles is blended at a time in a float strip of ``Th * scale`` output rows, and
    rows are written to the uint8 result as soon as no later tile can touch them.
    """
    h, w = image.shape[:2]
    grid = make_grid(h, w, tile, overlap)
    src = pad_to_tile(image, tile)
    if len(grid) == 1:  # one call (a frame of the tile's shape): every weight is 1, so blending is the identity
        sr = chw_to_uint8(run(_lr_tile(src, 0, 0, tile))[0, :, :h * scale, :w * scale])
        if progress:
            progress(1)
        return sr
    pw = grid.padded[1]
    out = np.empty((h * scale, w * scale, 3), np.uint8)
    (th, tw), r = tile, overlap * scale
    nh, nw = th * scale, tw * scale
    strip_top = 0  # padded output row at which the strip starts
    acc = np.zeros((nh, pw * scale, 3))
    wsum = np.zeros((nh, pw * scale, 1))
    for iy, y in enumerate(grid.ys):
        # Flush rows above this tile row: no later tile reaches them.
        shift = y * scale - strip_top
        if shift:
            _flush(out, acc[:shift], wsum[:shift], strip_top, h * scale)
            acc = np.concatenate([acc[shift:], np.zeros((shift,) + acc.shape[1:])])
            wsum = np.concatenate([wsum[shift:], np.zeros((shift,) + wsum.shape[1:])])
            strip_top = y * scale
        wy = axis_ramp(nh, r, iy > 0, iy < len(grid.ys) - 1)
        for ix, x in enumerate(grid.xs):
            sr = run(_lr_tile(src, y, x, tile))[0].transpose(1, 2, 0).astype(np.float64)
            wx = axis_ramp(nw, r, ix > 0, ix < len(grid.xs) - 1)
            wt = (wy[:, None] * wx[None, :])[..., None]
            acc[:, x * scale:x * scale + nw] += sr * wt
            wsum[:, x * scale:x * scale + nw] += wt
            if progress:
                progress(1)
    _flush(out, acc, wsum, strip_top, h * scale)
    return out


def _lr_tile(src: np.ndarray, y: int, x: int, tile: Tile) -> np.ndarray:
    """The runner's input: float32 1x3xThxTw in [0, 1]."""
    lr = src[y:y + tile[0], x:x + tile[1]].astype(np.float32).transpose(2, 0, 1)[None] / 255.0
    return np.ascontiguousarray(lr)


def _flush(out: np.ndarray, acc: np.ndarray, wsum: np.ndarray, top: int, height: int) -> None:
    rows = min(acc.shape[0], height - top)
    if rows <= 0:
        return
    width = out.shape[1]
    out[top:top + rows] = to_uint8(acc[:rows, :width] / wsum[:rows, :width])

