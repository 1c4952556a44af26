// The tiling specification of seemore_edge/core/tiling.py, ported for the browser: the page must stitch exactly
// what the Python runners, the Android app and the iOS app stitch, so the same golden vectors
// (tests/golden/tiling.json) hold all of them. Numbers are float64 here as in the Python reference; the model's own
// float32 output is widened before blending, as there.

/** LR tile starts along one axis: stride tile - overlap, the last start moved back to end at the (padded) length. */
export function axisStarts(length, tile, overlap) {
  const padded = Math.max(length, tile);
  const stride = tile - overlap;
  const n = Math.ceil((padded - tile) / stride) + 1;
  return Array.from({ length: n }, (_, i) => Math.min(i * stride, padded - tile));
}

/** The grid of tiles over an image; throws on a tile/overlap pair the specification does not define. */
export function makeGrid(height, width, tile, overlap) {
  const [th, tw] = tile;
  if (!(Math.min(th, tw) >= 1 && overlap >= 0 && overlap < Math.min(th, tw))) {
    throw new RangeError(`need tile sides >= 1 and 0 <= overlap < each, got tile ${th}x${tw}, overlap ${overlap}`);
  }
  return {
    height, width, tile: [th, tw], overlap,
    ys: axisStarts(height, th, overlap),
    xs: axisStarts(width, tw, overlap),
    padded: [Math.max(height, th), Math.max(width, tw)],
  };
}

/** Half-sample symmetric reflection of any integer index into [0, length) (c b a | a b c | c b a). */
export function mirrorIndex(i, length) {
  const m = ((i % (2 * length)) + 2 * length) % (2 * length);
  return m < length ? m : 2 * length - 1 - m;
}

/** Blending weight along one axis of a tile's output extent n, ramp length r (rule 3 of the specification). */
export function axisRamp(n, ramp, before, after) {
  const w = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    let v = 1;
    if (ramp > 0 && before) v = Math.min(v, (p + 0.5) / ramp);
    if (ramp > 0 && after) v = Math.min(v, (n - p - 0.5) / ramp);
    w[p] = v;
  }
  return w;
}

/** [0, 1] float -> 8 bits by rounding half up (the apps' rule, not round-half-even). */
export function toUint8(v) {
  return Math.floor(Math.min(Math.max(v, 0), 1) * 255 + 0.5);
}

/**
 * The runner's input for the tile at (y, x) of the padded image: float32 1x3xThxTw planes in [0, 1].
 * `image` is {width, height, data, channels}: 8-bit interleaved pixels (RGB or RGBA; alpha is ignored).
 */
export function lrTile(image, y, x, tile, out = new Float32Array(3 * tile[0] * tile[1])) {
  const [th, tw] = tile;
  const { width, height, data } = image;
  const ch = image.channels ?? 4;
  const plane = th * tw;
  for (let ty = 0; ty < th; ty++) {
    const sy = mirrorIndex(y + ty, height);
    for (let tx = 0; tx < tw; tx++) {
      const s = (sy * width + mirrorIndex(x + tx, width)) * ch;
      const d = ty * tw + tx;
      // float32(v / 255): a float64 quotient rounded once to float32 equals numpy's float32 division.
      out[d] = data[s] / 255;
      out[plane + d] = data[s + 1] / 255;
      out[2 * plane + d] = data[s + 2] / 255;
    }
  }
  return out;
}

/**
 * Upscales `image` tile by tile with `run` (async: Float32Array 1x3xThxTw -> Float32Array 1x3x(sTh)x(sTw)).
 *
 * Memory stays bounded as in the Python reference: one row of tiles is blended in a float64 strip of Th * scale
 * output rows, and `sink(top, rows, rgba)` receives finished RGBA rows (alpha 255) as soon as no later tile can touch
 * them, so the caller can paint them into a canvas and no full-size float image ever exists.
 * `onTile(index, count, ms)` reports each tile's time.
 */
export async function upscaleTiled(run, image, scale, tile, overlap, sink, onTile = () => {}) {
  const { height: h, width: w } = image;
  const grid = makeGrid(h, w, tile, overlap);
  const [th, tw] = tile;
  const nh = th * scale, nw = tw * scale, r = overlap * scale;
  const outW = w * scale, outH = h * scale;
  const count = grid.ys.length * grid.xs.length;
  const input = new Float32Array(3 * th * tw);
  const plane = nh * nw;
  let done = 0;

  if (count === 1) {  // one call: every weight is 1, blending is the identity
    const t0 = performance.now();
    const sr = await run(lrTile(image, 0, 0, tile, input));
    onTile(0, 1, performance.now() - t0);
    const rgba = new Uint8ClampedArray(outH * outW * 4);
    for (let y = 0; y < outH; y++) {
      for (let x = 0; x < outW; x++) {
        const s = y * nw + x, d = (y * outW + x) * 4;
        rgba[d] = toUint8(sr[s]);
        rgba[d + 1] = toUint8(sr[plane + s]);
        rgba[d + 2] = toUint8(sr[2 * plane + s]);
        rgba[d + 3] = 255;
      }
    }
    sink(0, outH, rgba);
    return { tiles: 1, grid };
  }

  const pw = grid.padded[1] * scale;  // strip width: the padded output width
  let acc = new Float64Array(nh * pw * 3);
  let wsum = new Float64Array(nh * pw);
  let stripTop = 0;

  const flush = (rows) => {
    const n = Math.min(rows, outH - stripTop);
    if (n <= 0) return;
    const rgba = new Uint8ClampedArray(n * outW * 4);
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < outW; x++) {
        const s = y * pw + x, d = (y * outW + x) * 4;
        const ws = wsum[s];
        rgba[d] = toUint8(acc[s * 3] / ws);
        rgba[d + 1] = toUint8(acc[s * 3 + 1] / ws);
        rgba[d + 2] = toUint8(acc[s * 3 + 2] / ws);
        rgba[d + 3] = 255;
      }
    }
    sink(stripTop, n, rgba);
  };

  for (let iy = 0; iy < grid.ys.length; iy++) {
    const y = grid.ys[iy];
    const shift = y * scale - stripTop;
    if (shift > 0) {  // rows above this tile row are final: no later tile reaches them
      flush(shift);
      acc.copyWithin(0, shift * pw * 3);
      acc.fill(0, (nh - shift) * pw * 3);
      wsum.copyWithin(0, shift * pw);
      wsum.fill(0, (nh - shift) * pw);
      stripTop = y * scale;
    }
    const wy = axisRamp(nh, r, iy > 0, iy < grid.ys.length - 1);
    for (let ix = 0; ix < grid.xs.length; ix++) {
      const x = grid.xs[ix];
      const t0 = performance.now();
      const sr = await run(lrTile(image, y, x, tile, input));
      onTile(done, count, performance.now() - t0);
      const wx = axisRamp(nw, r, ix > 0, ix < grid.xs.length - 1);
      for (let oy = 0; oy < nh; oy++) {
        for (let ox = 0; ox < nw; ox++) {
          const wt = wy[oy] * wx[ox];
          const s = oy * nw + ox, d = oy * pw + x * scale + ox;
          acc[d * 3] += sr[s] * wt;
          acc[d * 3 + 1] += sr[plane + s] * wt;
          acc[d * 3 + 2] += sr[2 * plane + s] * wt;
          wsum[d] += wt;
        }
      }
      done += 1;
    }
  }
  flush(nh);
  return { tiles: count, grid };
}
