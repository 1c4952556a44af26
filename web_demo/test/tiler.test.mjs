// The browser's tiler against the golden vectors the Python reference writes (tests/golden/make_tiling.py), the same
// file the Kotlin and Swift ports are held to. Run with Node's own runner: `node --test test/` (pytest runs it in CI).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { makeGrid, mirrorIndex, upscaleTiled } from '../src/tiler.js';

const golden = JSON.parse(readFileSync(fileURLToPath(new URL('../../tests/golden/tiling.json', import.meta.url))));

function probeImage(h, w) {
  const data = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) {
    data[(y * w + x) * 3 + c] = (37 * x + 91 * y + 53 * c + x * y) % 256;
  }
  return { height: h, width: w, data, channels: 3 };
}

/** The golden file's stand-in model: nearest-neighbour x scale plus 0.25 x the tile's mean. */
function probeModel(scale, [th, tw]) {
  return async (lr) => {
    let sum = 0;
    for (const v of lr) sum += v;
    const mean = Math.fround(sum / lr.length);
    const n = th * scale, m = tw * scale;
    const out = new Float32Array(3 * n * m);
    for (let c = 0; c < 3; c++) for (let oy = 0; oy < n; oy++) for (let ox = 0; ox < m; ox++) {
      out[(c * n + oy) * m + ox] = lr[(c * th + Math.floor(oy / scale)) * tw + Math.floor(ox / scale)] + 0.25 * mean;
    }
    return out;
  };
}

for (const c of golden.cases) {
  test(c.name, async () => {
    const grid = makeGrid(c.height, c.width, c.tile, c.overlap);
    assert.deepEqual(grid.ys, c.ys);
    assert.deepEqual(grid.xs, c.xs);
    assert.deepEqual(grid.padded, c.padded);
    const [oh, ow] = c.output_shape;
    const out = new Uint8Array(oh * ow * 3);
    let rowsSeen = 0;
    const { tiles } = await upscaleTiled(probeModel(c.scale, c.tile), probeImage(c.height, c.width), c.scale, c.tile,
      c.overlap, (top, rows, rgba) => {
        assert.equal(top, rowsSeen, 'rows arrive in order, each once');
        rowsSeen += rows;
        for (let i = 0; i < rows * ow; i++) for (let k = 0; k < 3; k++) out[(top * ow + i) * 3 + k] = rgba[i * 4 + k];
      });
    assert.equal(rowsSeen, oh);
    assert.equal(tiles, c.ys.length * c.xs.length);
    let worst = 0, off = 0;
    for (let i = 0; i < out.length; i++) {
      const d = Math.abs(out[i] - c.output[i]);
      worst = Math.max(worst, d);
      if (d) off += 1;
    }
    // 1 level allowed where the mean's float32 and float64 sums round differently (the file's own note).
    assert.ok(worst <= 1, `output differs by up to ${worst} levels`);
    assert.ok(off <= out.length / 100, `${off} of ${out.length} values differ`);
  });
}

test('mirror padding reflects half-sample symmetric, repeated', () => {
  assert.deepEqual([-3, -2, -1, 0, 1, 2, 3, 4, 5, 6].map((i) => mirrorIndex(i, 3)), [2, 1, 0, 0, 1, 2, 2, 1, 0, 0]);
});

test('an overlap of a whole tile is refused', () => {
  assert.throws(() => makeGrid(10, 10, [16, 16], 16), /overlap/);
});
