// Drives the demo page in Debian's Chromium through the page's own hook (window.seemoreDemo), for the tests, the
// browser scoring and the bench. Usage: node e2e/drive.mjs URL [wasm|webgpu]; then one JSON command per line on stdin, one JSON
// reply per line on stdout ({"ok": value} or {"error": "one line"}):
//   {"op": "models"}                          -> the model names the page offers
//   {"op": "upscale", "image": URL, "model"}  -> {png, ms, tiles, accelerator}
//   {"op": "timeTile", "model", "runs"}       -> {ms: [...], accelerator, threads}
//   {"op": "runtime"}                         -> what LiteRT.js loaded (threads, WebGPU, cross-origin isolation)
//   {"op": "errorLine"}                       -> the error line the page shows ('' when none)
//   {"op": "text", "id"}                      -> the text of the page's element #id (its value for a control)
//   {"op": "screenshot", "path"}              -> writes a PNG of the page
// Chromium comes from CHROMIUM (default /usr/bin/chromium); playwright-core never downloads a browser.
// 'webgpu' starts Chromium with its software GPU (SwiftShader through ANGLE): the WebGPU API and the shader path a
// phone's GPU takes, run on the CPU, so the page's WebGPU path is exercised on machines without a GPU. Its timings are
// a software renderer's, not a GPU's.
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';

const COMMON = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run'];
const FLAGS = {
  wasm: [...COMMON, '--disable-gpu'],
  webgpu: [...COMMON, '--enable-unsafe-webgpu', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
};

const [url, mode = 'wasm'] = process.argv.slice(2);
if (!url || !FLAGS[mode]) {
  console.error('usage: node e2e/drive.mjs URL [wasm|webgpu]');
  process.exit(2);
}
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: FLAGS[mode] });
const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
const console_ = [];
page.on('console', (m) => console_.push(`${m.type()}: ${m.text()}`));
page.on('pageerror', (e) => console_.push(`pageerror: ${e.message}`));
await page.goto(url);
await page.waitForFunction(() => window.seemoreDemo !== undefined && document.getElementById('model').options.length > 0
  || document.getElementById('error').textContent !== '', null, { timeout: 60_000 });

const ops = {
  models: () => page.evaluate(() => window.seemoreDemo.models()),
  upscale: ({ image, model }) => page.evaluate(([i, m]) => window.seemoreDemo.upscale(i, m), [image, model]),
  timeTile: ({ model, runs }) => page.evaluate(([m, n]) => window.seemoreDemo.timeTile(m, n), [model, runs ?? 20]),
  runtime: () => page.evaluate(() => window.seemoreDemo.runtimeInfo()),
  errorLine: () => page.evaluate(() => document.getElementById('error').textContent),
  text: ({ id }) => page.evaluate((i) => {
    const el = document.getElementById(i);
    if (!el) throw new Error(`no element #${i}`);
    return 'value' in el && el.tagName !== 'BUTTON' ? el.value : el.textContent;
  }, id),
  screenshot: async ({ path }) => { await page.screenshot({ path, fullPage: true }); return path; },
};

const reply = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
reply({ ok: 'ready' });
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  let command;
  try {
    command = JSON.parse(line);
    if (!ops[command.op]) throw new Error(`unknown op ${command.op}`);
    reply({ ok: await ops[command.op](command) });
  } catch (e) {
    // Playwright wraps a rejection from the page; keep the page's own one line.
    const message = String(e?.message ?? e).replace(/^page\.evaluate: (Error: )?/, '').split('\n')[0];
    reply({ error: message, console: console_.slice(-5) });
  }
}
await browser.close();
