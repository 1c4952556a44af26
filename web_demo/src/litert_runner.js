// One .tflite compiled by LiteRT.js and wrapped as the tiler's runner: float32 [0, 1] planes in, float32 [0, 1]
// planes out, whatever coding the card gives the model's own tensors.
import { loadLiteRt, loadAndCompile, Tensor, isWebGPUSupported, supportsFeature } from '@litertjs/core';

let loaded = null;

/** Loads LiteRT.js once: the multi-threaded WASM build when the page is cross-origin isolated and the browser
 * has threads and relaxed SIMD (LiteRT.js ships threads only with relaxed SIMD), the single-threaded one otherwise.
 * `adapter` names the GPU WebGPU would run on (null: none), so a record can say it was a software one. */
export function loadRuntime(wasmDir) {
  loaded ??= (async () => {
    const threads = globalThis.crossOriginIsolated === true
      && await supportsFeature('relaxedSimd') && await supportsFeature('threads');
    await loadLiteRt(wasmDir, { threads });
    const adapter = await gpuAdapter();
    return { threads, webgpu: adapter !== null, adapter, maxThreads: threads ? (navigator.hardwareConcurrency || 1) : 1 };
  })();
  return loaded;
}

/** WebGPU is usable only when the browser has the API and also gives an adapter: a browser started without a GPU
 * (headless, blocklisted drivers) has `navigator.gpu` but no adapter, and LiteRT.js would then fail to compile. */
async function gpuAdapter() {
  if (!isWebGPUSupported()) return null;
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (adapter === null) return null;
    const { vendor = '', architecture = '', device = '', description = '' } = adapter.info ?? {};
    return { vendor, architecture, device, description };
  } catch {
    return null;
  }
}

function toModel(values, io) {
  if (io.dtype === 'float32') {
    if (io.range[0] === 0 && io.range[1] === 1) return values;
    return values.map((v) => io.range[0] + v * (io.range[1] - io.range[0]));
  }
  const { scale, zero_point: zero } = io.quantization;
  const [lo, hi] = io.dtype === 'int8' ? [-128, 127] : [0, 255];
  const q = io.dtype === 'int8' ? new Int8Array(values.length) : new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = io.range[0] + values[i] * (io.range[1] - io.range[0]);
    q[i] = Math.min(hi, Math.max(lo, roundHalfEven(v / scale) + zero));
  }
  return q;
}

function fromModel(values, io) {
  const out = new Float32Array(values.length);
  const q = io.dtype === 'float32' ? null : io.quantization;
  const [lo, hi] = io.range;
  for (let i = 0; i < values.length; i++) {
    const v = q ? (values[i] - q.zero_point) * q.scale : values[i];
    out[i] = (v - lo) / (hi - lo);
  }
  return out;
}

function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Compiles `bytes` for `accelerator` ('wasm' or 'webgpu') with `threads` WASM threads. Resolves to
 * {run, accelerator, threads, inputs, outputs, close}; `accelerator` says what really runs the graph
 * ('webgpu+wasm' when WebGPU took only part of it).
 */
export async function compileModel(bytes, card, { accelerator = 'wasm', threads = 1 } = {}) {
  const rt = await loadRuntime();
  if (accelerator === 'webgpu' && !rt.webgpu) throw new Error('this browser has no WebGPU; choose WASM');
  const n = rt.threads ? Math.max(1, Math.min(threads, rt.maxThreads)) : 1;
  const model = await loadAndCompile(bytes, { accelerator, cpuOptions: { numThreads: n } });
  const used = accelerator === 'webgpu' && !model.isFullyAccelerated ? 'webgpu+wasm' : accelerator;
  const shape = card.input.shape;
  const run = async (planes) => {
    const input = new Tensor(toModel(planes, card.input), shape);
    let outputs;
    try {
      outputs = await model.run(input);
    } finally {
      input.delete();
    }
    const out = outputs[0].accelerator === 'wasm' ? outputs[0] : await outputs[0].moveTo('wasm');
    try {
      return fromModel(out.toTypedArray(), card.output);  // a copy: the tensor's memory goes back to WASM below
    } finally {
      out.delete();
    }
  };
  return {
    run, accelerator: used, threads: n,
    inputs: model.getInputDetails(), outputs: model.getOutputDetails(),
    close: () => model.delete(),
  };
}
