// The page's controls. Every upscale goes through window.seemoreDemo, the hook tests and the bench drive.
import * as demo from './demo.js';
import { cardLabel } from './card.js';

window.seemoreDemo = {
  models: demo.models,
  offer: demo.offer,
  upscale: (imageUrl, modelName) => upscaleAndShow(imageUrl, modelName),
  timeTile: demo.timeTile,
  configure: demo.configure,
  runtimeInfo: demo.runtimeInfo,
};

const $ = (id) => document.getElementById(id);
let photoUrl = null;
let photoName = null;

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = !message;
}

/** Errors of any call, the hook's included, appear on the page as one line; the page stays usable. */
async function shown(promise) {
  try {
    const value = await promise;
    showError('');
    return value;
  } catch (e) {
    const line = String(e?.message ?? e).split('\n')[0];
    showError(line);
    throw new Error(line);
  }
}

/** The adapter as a person would name it; SwiftShader is Chromium's software GPU (it runs on the CPU). */
function adapterText(a) {
  const name = [a.vendor, a.architecture, a.description].filter(Boolean).join(' ') || 'unnamed adapter';
  return /swiftshader/i.test(name) ? `${name}: a software GPU on the CPU` : name;
}

function quantile(values, q) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

async function describeModel() {
  const name = $('model').value;
  if (!name) return;
  try {
    const c = await demo.card(name);
    $('card').textContent = cardLabel(c);
    showError('');
  } catch (e) {
    $('card').textContent = '';
    showError(e.message);
  }
}

/** A photo from the file picker (or the camera) or dropped on the page: kept as a blob URL until the next one. */
function pickFile(file) {
  if (!file) return;
  if (photoUrl) URL.revokeObjectURL(photoUrl);
  photoUrl = URL.createObjectURL(file);
  photoName = file.name;
  $('drop').textContent = `${file.name} (${(file.size / 1024).toFixed(0)} KiB)`;
  $('run').disabled = !$('model').value;
}

/** The one path of an upscale, clicked or automated: show the input, run, show before/after and the figures. */
async function upscaleAndShow(imageUrl, modelName) {
  $('run').disabled = true;
  const tileMs = [];
  const live = $('live');
  live.replaceChildren();
  const onProgress = (event) => {
    const { done, count, tileMs: ms, canvas } = event.detail;
    tileMs.push(ms);
    if (!live.firstChild) live.append(canvas);  // rows appear as the tiler finishes them
    $('stats').textContent = `tile ${done} of ${count}: ${ms.toFixed(1)} ms`;
  };
  addEventListener('seemore-progress', onProgress);
  try {
    if ($('model').value !== modelName && [...$('model').options].some((o) => o.value === modelName)) {
      $('model').value = modelName;
      await describeModel();
    }
    const result = await shown(demo.upscale(imageUrl, modelName).catch((e) => {
      if (e instanceof demo.WebGpuRefusal) {  // the line stays; the menu now offers what runs it
        demo.configure({ accelerator: 'wasm' });
        $('accelerator').value = 'wasm';
      }
      throw e;
    }));
    const c = await demo.card(modelName);
    const info = await demo.runtimeInfo();
    const settings = demo.configure();
    const png = `data:image/png;base64,${result.png}`;
    const before = $('before'), after = $('after');
    before.src = imageUrl;
    after.src = png;
    await Promise.all([before.decode().catch(() => {}), after.decode()]);
    before.style.width = `${after.naturalWidth}px`;
    before.style.height = `${after.naturalHeight}px`;
    $('result').hidden = false;
    $('download').href = png;
    const base = imageUrl === photoUrl && photoName ? photoName.replace(/\.[^.]+$/, '') : 'photo';
    $('download').download = `${base}_x${c.scale}.png`;
    const threads = result.accelerator.startsWith('webgpu') ? '' :
      `, ${info.threads ? Math.min(settings.threads, info.maxThreads) : 1} thread(s)`;
    $('stats').textContent = `${result.tiles} tile(s) of ${c.tile[0]}x${c.tile[1]}: total ${result.ms.toFixed(0)} ms; ` +
      `per tile median ${quantile(tileMs, 0.5).toFixed(1)} ms, fastest ${Math.min(...tileMs).toFixed(1)}, slowest ` +
      `${Math.max(...tileMs).toFixed(1)}; ${result.accelerator}${threads}; output ${after.naturalWidth}x${after.naturalHeight}`;
    return result;
  } finally {
    removeEventListener('seemore-progress', onProgress);
    live.replaceChildren();
    $('run').disabled = !photoUrl;
  }
}

/** The model menu, keeping the user's choice; files the server is still exporting are named below it. */
function listModels({ models, pending }) {
  const chosen = $('model').value;
  $('model').replaceChildren(...models.map((n) => new Option(n, n)));
  if (models.includes(chosen)) $('model').value = chosen;
  $('pending').textContent = pending.length ? `Still exporting: ${pending.join(', ')} (listed here when ready).` : '';
  $('pending').hidden = !pending.length;
}

/** While the server exports the other models, look again every few seconds until nothing is pending. */
function followExports() {
  const timer = setInterval(async () => {
    try {
      const offered = await demo.offer();
      listModels(offered);
      if (!offered.pending.length) clearInterval(timer);
    } catch {
      // the server may be restarting; the next look tries again
    }
  }, 5000);
}

async function start() {
  const query = new URLSearchParams(location.search);
  try {
    const info = await demo.runtimeInfo();
    const settings = demo.configure({
      accelerator: query.get('accelerator') ?? 'wasm',
      threads: query.get('threads') ?? Math.min(4, info.maxThreads),
    });
    $('accelerator').value = settings.accelerator;
    $('accelerator').querySelector('[value=webgpu]').disabled = !info.webgpu;
    $('threads').value = settings.threads;
    $('threads').max = info.maxThreads;
    $('threads').disabled = !info.threads;
    $('runtime').textContent = `LiteRT.js loaded: ${info.threads ? `multi-threaded WASM (up to ${info.maxThreads} threads)` :
      'single-threaded WASM (the page is not cross-origin isolated, or this browser lacks WASM threads)'}; ` +
      `WebGPU ${info.webgpu ? `available (${adapterText(info.adapter)})` : 'not available (no GPU adapter)'}.`;
    const offered = await demo.offer();
    listModels(offered);
    $('model').value = offered.default ?? '';
    if (!offered.models.length) showError('the server offers no .tflite models');
    await describeModel();
    if (offered.pending.length) followExports();
  } catch (e) {
    showError(e.message);
  }
  $('model').addEventListener('change', describeModel);
  $('accelerator').addEventListener('change', () => shown(Promise.resolve().then(() => demo.configure({ accelerator: $('accelerator').value }))));
  $('threads').addEventListener('change', () => shown(Promise.resolve().then(() => demo.configure({ threads: $('threads').value }))));
  $('photo').addEventListener('change', () => {
    pickFile($('photo').files[0]);
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    pickFile(e.dataTransfer.files[0]);
  });
  $('run').addEventListener('click', () => upscaleAndShow(photoUrl, $('model').value).catch(() => {}));
  $('slider').addEventListener('input', () => {
    $('after-clip').style.clipPath = `inset(0 0 0 ${$('slider').value}%)`;
    $('divider').style.left = `${$('slider').value}%`;
  });
  $('zoom').addEventListener('input', () => { $('frame').style.zoom = $('zoom').value; });
}

start();
