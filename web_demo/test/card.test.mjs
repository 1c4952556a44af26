import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cardLabel } from '../src/card.js';

const card = { name: 'T-x4-qat', precision: 'int8', scale: 4, tile: [256, 256] };

test('the picker line gives the scores a card has, and says when it has none', () => {
  const scored = { ...card, psnr: { Set5: { psnr: 31.0095 }, BSD100: { psnr: 27.1894 } } };
  assert.equal(cardLabel(scored), 'T-x4-qat INT8 x4, tile 256x256 (Set5 31.01 / BSD100 27.19 dB)');
  for (const psnr of [{}, null, undefined]) {
    assert.equal(cardLabel({ ...card, psnr }), 'T-x4-qat INT8 x4, tile 256x256 (not scored)', String(psnr));
  }
});
