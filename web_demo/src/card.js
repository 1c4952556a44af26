// The artifact card the export step writes beside every model (<file>.json, schema 1 of
// seemore_edge/core/records.py). The page takes tile, overlap, scale and value coding from it instead of guessing,
// and refuses a model that does not match its card before running a single tile.
import { sha256Hex } from './sha256.js';

export const SCHEMA = 1;

function fail(file, why) {
  throw new Error(`${file}: ${why}`);
}

/** A checked card, or an Error with one line. `file` names the model in the message. */
export function parseCard(card, file) {
  if (card === null || typeof card !== 'object') fail(file, 'its card is not a JSON object');
  if (card.schema !== SCHEMA) fail(file, `card schema ${card.schema ?? 'missing'}: this page reads schema ${SCHEMA} (re-export the model)`);
  if (card.format !== 'tflite') fail(file, `the card is for a .${card.format} file; the browser runs .tflite`);
  if (card.file !== file) fail(file, `the card describes ${card.file}, not this file`);
  const tile = card.tile;
  if (!Array.isArray(tile) || tile.length !== 2 || !tile.every(Number.isInteger)) fail(file, `the card's tile ${JSON.stringify(tile)} is not [height, width]`);
  const { scale, overlap } = card;
  if (!Number.isInteger(scale) || scale < 1) fail(file, `the card's scale ${scale} is not a positive integer`);
  if (!Number.isInteger(overlap) || overlap < 0 || 2 * overlap >= Math.min(...tile)) fail(file, `the card's overlap ${overlap} does not fit its ${tile[0]}x${tile[1]} tile`);
  const io = (key, shape) => {
    const t = card[key];
    if (!t || t.layout !== 'NCHW') fail(file, `the card's ${key} is not NCHW`);
    if (JSON.stringify(t.shape) !== JSON.stringify(shape)) fail(file, `the card's ${key} shape ${JSON.stringify(t.shape)} is not ${JSON.stringify(shape)} for a ${tile[0]}x${tile[1]} tile at x${scale}`);
    if (!['float32', 'int8', 'uint8'].includes(t.dtype)) fail(file, `the card's ${key} dtype ${t.dtype} is not float32, int8 or uint8`);
    if (t.dtype !== 'float32' && !t.quantization) fail(file, `the card's ${t.dtype} ${key} has no scale and zero point`);
    const range = t.range ?? [0, 1];
    if (range.length !== 2 || !(range[1] > range[0])) fail(file, `the card's ${key} range ${JSON.stringify(range)} is not [low, high]`);
    return { dtype: t.dtype, shape, quantization: t.quantization ?? null, range };
  };
  return {
    file, name: card.name, precision: card.precision, scale, overlap, tile: [tile[0], tile[1]],
    input: io('input', [1, 3, tile[0], tile[1]]),
    output: io('output', [1, 3, tile[0] * scale, tile[1] * scale]),
    sha256: card.sha256, sizeBytes: card.size_bytes, psnr: card.psnr ?? null,
  };
}

/** Holds the downloaded bytes to the card: size and sha256. */
export function checkBytes(card, bytes) {
  if (card.sizeBytes !== undefined && bytes.length !== card.sizeBytes) fail(card.file, `the file has ${bytes.length} bytes, its card says ${card.sizeBytes}`);
  const digest = sha256Hex(bytes);
  if (digest !== card.sha256) fail(card.file, `sha256 ${digest.slice(0, 12)}... is not the card's ${String(card.sha256).slice(0, 12)}... (file and card from different exports)`);
}

/** Holds the compiled model's own tensors to the card: one input and one output of the card's shapes and types. */
export function checkTensors(card, inputs, outputs) {
  const same = (details, want, key) => {
    if (details.length !== 1) fail(card.file, `the model has ${details.length} ${key}s; the card describes one`);
    const shape = Array.from(details[0].shape);
    if (JSON.stringify(shape) !== JSON.stringify(want.shape)) fail(card.file, `the model's ${key} is ${shape.join('x')}, the card says ${want.shape.join('x')}`);
    if (details[0].dtype !== want.dtype) fail(card.file, `the model's ${key} is ${details[0].dtype}, the card says ${want.dtype}`);
  };
  same(inputs, card.input, 'input');
  same(outputs, card.output, 'output');
}

/** One line for the model picker: what the file is and what it scored in its runtime. The demo's own export scores
 * nothing (its card's psnr is {}), so an empty record reads as not scored, not as a bare unit. */
export function cardLabel(card) {
  const scores = Object.entries(card.psnr ?? {});
  const psnr = scores.length ? scores.map(([set, s]) => `${set} ${s.psnr.toFixed(2)}`).join(' / ') + ' dB' : 'not scored';
  return `${card.name} ${card.precision.toUpperCase()} x${card.scale}, tile ${card.tile[0]}x${card.tile[1]} (${psnr})`;
}
