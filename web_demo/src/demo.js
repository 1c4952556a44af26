// The page's engine and its automation hook. The UI (ui.js) goes through exactly these calls, so what a test or the
// bench drives is what a person clicking drives:
//   window.seemoreDemo.models()                -> Promise<string[]>  the .tflite files the server offers
//   window.seemoreDemo.offer()                 -> Promise<{models, default, pending}>  the same, with the model to
//                                                 select first and the files the server is still exporting
//   window.seemoreDemo.upscale(url, modelName) -> Promise<{png, ms, tiles, accelerator}>
// `png` is the base64 PNG of the SR image; `ms` is the wall time from the first tile's input to the last stitched
// row (model download, compilation and PNG encoding excluded: they are not the model's speed). Settings
// (accelerator, threads) are the page's: its controls, or ?accelerator=wasm|webgpu&threads=N in the URL.
// Progress goes out as 'seemore-progress' events on window: {done, count, tileMs, canvas}.
import { parseCard, checkBytes, checkTensors } from './card.js';
import { compileModel, loadRuntime } from './litert_runner.js';
import { upscaleTiled } from './tiler.js';

export const WASM_DIR = new URL('../vendor/litertjs-core/wasm/', import.meta.url).href;
export const MIN_SIDE = 8;  // LR pixels: below this there is nothing for a super-resolution model to see
// The output is painted into one canvas; 16,777,216 pixels is the largest canvas Safari on iOS draws (other mobile
// browsers allow more), so it is the page's bound on every device. The float strip the tiler blends in comes on top.
export const MAX_OUTPUT_PIXELS = 4096 * 4096;

const settings = { accelerator: 'wasm', threads: 1 };
const compiled = new Map();  // "name|accelerator|threads" -> Promise of a compiled model
let queue = Promise.resolve();  // one upscale at a time: LiteRT.js models are not re-entrant

export function configure({ accelerator, threads } = {}) {
  if (accelerator !== undefined) {
    if (!['wasm', 'webgpu'].includes(accelerator)) throw new Error(`accelerator ${accelerator}: choose wasm or webgpu`);
    settings.accelerator = accelerator;
  }
  if (threads !== undefined) {
    const n = Number(threads);
    if (!Number.isInteger(n) || n < 1) throw new Error(`threads ${threads}: a whole number from 1`);
    settings.threads = n;
  }
  return { ...settings };
}

async function fetchOk(url, what) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`${what}: could not be fetched (${e.message})`);
  }
  if (!response.ok) throw new Error(`${what}: HTTP ${response.status}`);
  return response;
}

/** What the server offers: its models, the one to select first, and the files it is still exporting. */
export async function offer() {
  const index = await (await fetchOk('models/index.json', 'the model list')).json();
  const models = index.models.map((m) => m.file);
  return { models, default: index.default ?? models[0] ?? null, pending: index.pending ?? [] };
}

export async function models() {
  return (await offer()).models;
}

/** The card of a model the server offers, checked. */
export async function card(name) {
  const offered = await models();
  if (!offered.includes(name)) throw new Error(`${name}: not a model this page offers (${offered.join(', ') || 'none'})`);
  let raw;
  try {
    raw = await (await fetchOk(`models/${encodeURIComponent(name)}.json`, `${name}'s card`)).json();
  } catch (e) {
    throw new Error(e instanceof SyntaxError ? `${name}: its card is not JSON` : e.message);
  }
  return parseCard(raw, name);
}

/** What LiteRT.js will not run on WebGPU (an op or tensor type it refuses, or a failing first call): the page says so
 * in one line naming the model and offers WASM instead (the UI switches its menu back; the hook leaves that to the
 * caller). */
export class WebGpuRefusal extends Error {
  constructor(name, reason) {
    super(`${name}: LiteRT.js does not run it on WebGPU (${reason.split('\n')[0]}); WASM runs it: choose WASM`);
    this.model = name;
  }
}

function model(name) {
  const key = `${name}|${settings.accelerator}|${settings.threads}`;
  if (!compiled.has(key)) {
    const pending = (async () => {
      await loadRuntime(WASM_DIR);
      const c = await card(name);
      const bytes = new Uint8Array(await (await fetchOk(`models/${encodeURIComponent(name)}`, name)).arrayBuffer());
      checkBytes(c, bytes);
      const onGpu = settings.accelerator === 'webgpu';
      let m;
      try {
        m = await compileModel(bytes, c, settings);
      } catch (e) {
        throw onGpu ? new WebGpuRefusal(name, String(e?.message ?? e)) : e;
      }
      try {
        checkTensors(c, m.inputs, m.outputs);
      } catch (e) {
        m.close();
        throw e;
      }
      try {
        // One call once the tensors are known to match: the first run allocates XNNPACK's buffers and packs weights
        // (on WebGPU: builds the shaders), which is loading, not the per-tile latency the page reports.
        await m.run(new Float32Array(c.input.shape.reduce((a, b) => a * b, 1)));
      } catch (e) {
        m.close();
        throw onGpu ? new WebGpuRefusal(name, String(e?.message ?? e)) : e;
      }
      return { card: c, ...m };
    })();
    pending.catch(() => compiled.delete(key));  // a failure is not cached: the next try starts afresh
    compiled.set(key, pending);
  }
  return compiled.get(key);
}

/** RGBA pixels of any image the browser decodes, exactly as stored (no colour management, no premultiplying). */
export async function decode(url) {
  const blob = await (await fetchOk(url, 'the image')).blob();
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  } catch {
    throw new Error(`the image: not an image this browser decodes (${blob.type || 'unknown type'}, ${blob.size} bytes)`);
  }
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return { width, height, data: ctx.getImageData(0, 0, width, height).data, channels: 4 };
}

function checkSize(image, c) {
  const { width, height } = image;
  if (Math.min(width, height) < MIN_SIDE) throw new Error(`the image: ${width}x${height} is too small (at least ${MIN_SIDE} pixels a side)`);
  const out = width * height * c.scale * c.scale;
  if (out > MAX_OUTPUT_PIXELS) {
    const side = Math.floor(Math.sqrt(MAX_OUTPUT_PIXELS) / c.scale);
    throw new Error(`the image: ${width}x${height} at x${c.scale} is ${(out / 1e6).toFixed(1)} MP, over this page's ` +
      `${(MAX_OUTPUT_PIXELS / 1e6).toFixed(1)} MP bound (about ${side}x${side} in); downscale it first`);
  }
}

async function pngBase64(canvas) {
  const blob = await new Promise((resolve, reject) => canvas.toBlob(
    (b) => (b ? resolve(b) : reject(new Error('the browser could not encode the PNG'))), 'image/png'));
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

async function upscaleNow(imageUrl, modelName) {
  const m = await model(modelName);
  const image = await decode(imageUrl);
  const c = m.card;
  checkSize(image, c);
  const canvas = document.createElement('canvas');  // a page canvas, so the UI can show rows as they arrive
  canvas.width = image.width * c.scale;
  canvas.height = image.height * c.scale;
  const ctx = canvas.getContext('2d');
  const t0 = performance.now();
  const { tiles } = await upscaleTiled(m.run, image, c.scale, c.tile, c.overlap,
    (top, rows, rgba) => ctx.putImageData(new ImageData(rgba, canvas.width, rows), 0, top),
    (done, count, tileMs) => dispatchEvent(new CustomEvent('seemore-progress', { detail: { done: done + 1, count, tileMs, canvas } })));
  const ms = performance.now() - t0;
  return { png: await pngBase64(canvas), ms, tiles, accelerator: m.accelerator };
}

export function upscale(imageUrl, modelName) {
  const run = queue.then(() => upscaleNow(imageUrl, modelName));
  queue = run.catch(() => {});
  return run;
}

/** Times `runs` calls of one tile of a model (the bench's in-browser contender): wall ms per call, data in and out
 * of WASM included, as the page pays it. */
export async function timeTile(modelName, runs = 20) {
  const m = await model(modelName);
  const planes = new Float32Array(3 * m.card.tile[0] * m.card.tile[1]);
  for (let i = 0; i < planes.length; i++) planes[i] = ((i * 2654435761) % 256) / 255;
  await m.run(planes);  // warm-up: the first call allocates
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await m.run(planes);
    ms.push(performance.now() - t0);
  }
  return { ms, accelerator: m.accelerator, threads: m.threads };
}

export async function runtimeInfo() {
  const rt = await loadRuntime(WASM_DIR);
  return { ...rt, crossOriginIsolated: globalThis.crossOriginIsolated === true };
}

