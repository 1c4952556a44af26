"""The demo page in a real browser, driven through its own hook (``window.seemoreDemo``): Debian's Chromium under
``playwright-core`` (``web_demo/e2e/drive.mjs``), the page served by ``demo_server``. One browser for many calls, so
scoring a benchmark set through the page costs one page load, not one per image."""
from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from seemore_edge.core.errors import UserError
from seemore_edge.pipelines.demo_server import WEB_DEMO, page_root, start_server

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def software_adapter(adapter: dict | None) -> bool:
    """Whether the page's WebGPU adapter is a CPU renderer (SwiftShader, Chromium's software GPU), whose times say
    nothing of a GPU's."""
    return bool(adapter) and "swiftshader" in " ".join(str(v) for v in adapter.values()).lower()


def runtime_label(accelerator: str, threads: int | None = None, adapter: dict | None = None) -> str:
    """How a record names the page's runtime, the WebGPU adapter included."""
    if accelerator.startswith("webgpu"):
        part = " (part of the graph on WASM)" if accelerator == "webgpu+wasm" else ""
        name = " ".join(v for v in (adapter or {}).values() if isinstance(v, str) and v) or "an unnamed adapter"
        where = "Chromium's software adapter (SwiftShader, on the CPU)" if software_adapter(adapter) else name
        return f"LiteRT.js WebGPU{part} on {where}"
    return f"LiteRT.js WASM, {threads} thread(s)" if threads else "LiteRT.js WASM"


def browser_missing() -> str | None:
    """Why the page cannot be driven here (no Node, no Chromium, packages not installed), or None."""
    if shutil.which("node") is None:
        return "Node.js is not installed"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; or set CHROMIUM)"
    if not (WEB_DEMO / "node_modules" / "playwright-core").is_dir():
        return f"playwright-core is not installed: run `npm ci --prefix {WEB_DEMO}`"
    try:
        page_root()
    except UserError as e:
        return str(e)
    return None


def png_data_url(image: np.ndarray) -> str:
    """An HxWx3 uint8 image as the ``data:`` URL the hook fetches."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


class PageError(UserError):
    """The page refused a call; the message is the page's one line."""


class BrowserPage:
    """The demo page open in headless Chromium on ``artifacts``, its models run on ``accelerator`` (one of
    ``cli.PAGE_ACCELERATORS``; ``threads``: the page's WASM threads; None: the page's own choice). With "webgpu",
    Chromium starts with its software adapter, and a page that still gets no adapter is refused here in one line."""

    def __init__(self, artifacts: Path, threads: int | None = None, accelerator: str = "wasm"):
        why = browser_missing()
        if why:
            raise UserError(f"cannot open the demo page in a browser: {why}")
        self.adapter = None  # the WebGPU adapter the page got, as the page names it
        self.server = start_server(artifacts)
        query = f"accelerator={accelerator}" + (f"&threads={threads}" if threads else "")
        self.url = f"{self.server.url}?{query}"
        self.proc = subprocess.Popen(["node", str(WEB_DEMO / "e2e" / "drive.mjs"), self.url, accelerator],
                                     cwd=WEB_DEMO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env={**os.environ, "CHROMIUM": CHROMIUM})
        first = self._read()
        if first.get("ok") != "ready":
            self.close()
            raise UserError(f"the demo page did not load: {first.get('error', first)}")
        if accelerator == "webgpu":
            self.adapter = self.call("runtime").get("adapter")
            if not self.adapter:
                self.close()
                raise UserError("Chromium gave the page no WebGPU adapter, not even its software one (SwiftShader)")

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read().strip().splitlines()
            raise UserError(f"the browser driver stopped: {err[-1] if err else 'no message'}")
        return json.loads(line)

    def call(self, op: str, **args):
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if "error" in reply:
            raise PageError(reply["error"])
        return reply["ok"]

    def models(self) -> list[str]:
        return self.call("models")

    def upscale(self, image_url: str, model: str) -> dict:
        """The hook's answer: ``{png, ms, tiles, accelerator}``."""
        return self.call("upscale", image=image_url, model=model)

    def upscale_array(self, image: np.ndarray, model: str) -> tuple[np.ndarray, dict]:
        """An HxWx3 uint8 image through the page: (SR as HxWx3 uint8, the hook's other fields). The page's PNG is
        RGBA with alpha 255 (a canvas's); anything else is the page's bug and fails here."""
        result = self.upscale(png_data_url(image), model)
        rgba = np.asarray(Image.open(io.BytesIO(base64.b64decode(result.pop("png")))).convert("RGBA"))
        if not (rgba[..., 3] == 255).all():
            raise UserError("the page's PNG is not opaque")
        return np.ascontiguousarray(rgba[..., :3]), result

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.server.close()

    def __enter__(self) -> BrowserPage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PageUpscaler:
    """Whole images through the page's hook, as ``evaluate_sets`` calls an upscaler. With ``native`` (the Python
    runtime's upscaler of the same file) every image is also computed natively and the pixels compared, so a
    browser score comes with how far its pixels are from the desktop runtime's: ``agreement()``."""

    def __init__(self, page: BrowserPage, model: str, native=None):
        self.page, self.model, self.native = page, model, native
        self.images = self.values = self.differing = self.worst = 0
        self.ms: list[float] = []
        self.accelerator = None

    def __call__(self, lr: np.ndarray, progress=None) -> np.ndarray:
        sr, info = self.page.upscale_array(lr, self.model)
        self.ms.append(info["ms"])
        self.accelerator = info["accelerator"]
        if self.native is not None:
            ref = self.native(lr)
            diff = np.abs(sr.astype(np.int16) - ref.astype(np.int16))
            self.images += 1
            self.values += diff.size
            self.differing += int(np.count_nonzero(diff))
            self.worst = max(self.worst, int(diff.max()))
        return sr

    def agreement(self) -> dict | None:
        if not self.images:
            return None
        return {"images": self.images, "max_level_difference": self.worst,
                "differing_values": self.differing, "values": self.values}
