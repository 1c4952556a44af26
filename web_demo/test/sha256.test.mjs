import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { sha256Hex } from '../src/sha256.js';

test('equals Node\'s sha256 at every padding boundary and on a model-sized buffer', () => {
  for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 400_000]) {
    const bytes = new Uint8Array(randomBytes(n));
    assert.equal(sha256Hex(bytes), createHash('sha256').update(bytes).digest('hex'), `length ${n}`);
  }
});
