"""The browser demo's web server: the page (``web_demo/``), LiteRT.js from its pinned npm packages, and a folder of
``.tflite`` files with their cards, all sent with the cross-origin isolation headers WASM threads need
(``SharedArrayBuffer`` exists only in a cross-origin isolated page, and only in a secure context: localhost, or https).
Standard library only, so serving adds no dependency."""
from __future__ import annotations

import json
import mimetypes
import socket
import ssl
import threading
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlsplit

from export import photo_tile
from export.verify import artifact_name
from quant.int8_checkpoint import qat_card
from seemore_edge.core.checkpoints import resolve_weights
from seemore_edge.core.errors import UserError
from seemore_edge.core.tiling import DEFAULT_OVERLAP, frame_tile
from seemore_edge.pipelines.artifact_set import ArtifactSet, export_set

WEB_DEMO = Path(__file__).resolve().parents[2] / "web_demo"
ISOLATION = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}
VENDOR = {"litertjs-core": "@litertjs/core", "litertjs-wasm-utils": "@litertjs/wasm-utils"}
PAGE_FILES = {"index.html", "style.css"}


def page_root() -> Path:
    """``web_demo/`` with its npm packages installed, or a one-line error saying how to install them."""
    if not (WEB_DEMO / "index.html").is_file():
        raise UserError(f"the demo page is not here ({WEB_DEMO}): run from a clone of the repository")
    for package in VENDOR.values():
        if not (WEB_DEMO / "node_modules" / package / "package.json").is_file():
            raise UserError(f"LiteRT.js is not installed: run `npm ci --prefix {WEB_DEMO}` (the versions are pinned "
                            "in web_demo/package-lock.json)")
    return WEB_DEMO


def model_list(artifacts: Path) -> list[dict]:
    """The ``.tflite`` files of ``artifacts`` that have a card beside them. The page checks each card against its
    file itself (sha256, tensors, tile) and says what is wrong, so a mismatched pair is listed, not hidden."""
    return [{"file": p.name} for p in sorted(artifacts.glob("*.tflite")) if p.with_name(p.name + ".json").is_file()]


def default_model(artifacts: Path, files: list[str]) -> str | None:
    """The model the page selects first: the x4 INT8 file at the ``.tflite`` photo tile (what a phone user wants
    for a photo), else any x4 INT8 file, else any INT8 one, else the first. Read from the cards, leniently: a card the
    page will refuse still names its file here, and the page says what is wrong with it."""
    def card(name):
        try:
            return json.loads((artifacts / f"{name}.json").read_text())
        except (OSError, ValueError):
            return {}
    cards = {name: card(name) for name in files}
    photo = list(photo_tile("tflite"))
    for wanted in (lambda c: c.get("scale") == 4 and c.get("precision") == "int8" and c.get("tile") == photo,
                   lambda c: c.get("scale") == 4 and c.get("precision") == "int8",
                   lambda c: c.get("precision") == "int8"):
        for name, c in cards.items():
            if isinstance(c, dict) and wanted(c):
                return name
    return files[0] if files else None


@dataclass
class DemoExport:
    """What the demo exports itself: the default file first (the server starts once it exists), the rest in the
    background; ``pending`` is what is still to come, which the page lists until each file is ready."""
    first: ArtifactSet
    rest: list[ArtifactSet]
    pending: list[str] = field(default_factory=list)

    def run_rest(self) -> None:
        try:
            for plan in self.rest:
                export_set(plan, lambda path: print(f"exporting {path.name} in the background ...", flush=True))
                self.pending = [p for p in self.pending if not (plan.out / p).is_file()]
        except Exception as e:  # noqa: BLE001 (a background export must not kill the server that serves the rest)
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            print(f"demo: the background export stopped: {type(e).__name__}: {first}", flush=True)
        finally:
            self.pending = []


def demo_export(weights: list[str], folder: Path, threads: int | None) -> DemoExport:
    """Each shipped model's ``.tflite`` files for the page: INT8 and FP32, the photo tile and the one-call tile of a
    720p frame (180x320 at x4, 360x640 at x2). The first plan is the page's default, the first model's INT8 file at
    the photo tile: the server started 99 s after the command on a fresh clone here (2-core AMD EPYC). Files
    whose cards still match are reused, so a second start is immediate."""
    folder.mkdir(parents=True, exist_ok=True)
    plans = []
    for name in weights:
        card = qat_card(resolve_weights(name))
        if card is None:
            raise UserError(f"--weights {name}: the demo exports a QAT model (T-x4-qat, T-x4-int, T-x2-qat)")
        for tile in (photo_tile("tflite"), frame_tile(card.scale)):
            for precision in ("int8", "fp32"):
                plans.append(ArtifactSet(name, ["tflite"], [precision], tile, DEFAULT_OVERLAP, folder, None, [],
                                         threads, reuse=True))
    job = DemoExport(plans[0], plans[1:])
    names = [artifact_name(str(p.weights), "tflite", p.precisions[0], p.tile) for p in job.rest]
    job.pending = [n for n in names if not (folder / n).is_file()]
    return job


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args, artifacts: Path, root: Path, quiet: bool, pending: Callable[[], list[str]], **kwargs):
        self.artifacts, self.root, self.quiet, self.pending = artifacts, root, quiet, pending
        super().__init__(*args, directory=str(root), **kwargs)

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        if not self.quiet:
            super().log_message(format, *args)

    def end_headers(self):
        for key, value in ISOLATION.items():
            self.send_header(key, value)
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def guess_type(self, path):
        suffix = Path(str(path)).suffix
        return {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
                ".tflite": "application/octet-stream", ".json": "application/json"}.get(
            suffix, mimetypes.guess_type(str(path))[0] or "application/octet-stream")

    def translate_path(self, path):
        """Only what the page needs is reachable: its own files, the two vendored packages, and the models."""
        parts = [p for p in unquote(urlsplit(path).path).split("/") if p]
        if any(p in ("..", ".") or "\\" in p for p in parts):
            return ""
        if not parts:
            return str(self.root / "index.html")
        head, rest = parts[0], parts[1:]
        if head in PAGE_FILES and not rest:
            return str(self.root / head)
        if head == "src" and len(rest) == 1 and rest[0].endswith(".js"):
            return str(self.root / "src" / rest[0])
        if head == "vendor" and rest and rest[0] in VENDOR:
            return str(self.root / "node_modules" / VENDOR[rest[0]] / Path(*rest[1:])) if rest[1:] else ""
        if head == "models" and len(rest) == 1:
            offered = {m["file"] for m in model_list(self.artifacts)}
            name = rest[0]
            if name in offered or (name.endswith(".json") and name[:-5] in offered):
                return str(self.artifacts / name)
        return ""

    def do_GET(self):
        if urlsplit(self.path).path.rstrip("/") == "/models/index.json":
            models = model_list(self.artifacts)
            body = json.dumps({"models": models, "default": default_model(self.artifacts, [m["file"] for m in models]),
                               "pending": self.pending()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if not self.translate_path(self.path):
            self.send_error(404)
            return
        super().do_GET()

    def list_directory(self, path):
        self.send_error(404)
        return None


@dataclass
class DemoServer:
    """A running server; ``url`` is what to open. ``close()`` stops it (also on leaving a ``with`` block)."""
    httpd: ThreadingHTTPServer
    thread: threading.Thread | None
    host: str
    tls: bool = False

    @property
    def url(self) -> str:
        host = self.host
        if host in ("127.0.0.1", "localhost", ""):
            host = "localhost"
        elif host in ("0.0.0.0", "::"):  # every interface: name the one a phone on this network reaches
            host = lan_address()
        return f"{'https' if self.tls else 'http'}://{host}:{self.httpd.server_address[1]}/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> DemoServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def lan_address() -> str:
    """This machine's address on its default route (no packet is sent), or localhost when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed, only selects the outgoing interface
            return s.getsockname()[0]
        except OSError:
            return "localhost"


def make_server(artifacts: Path, host: str = "127.0.0.1", port: int = 8000, quiet: bool = True,
                cert: Path | None = None, key: Path | None = None,
                pending: Callable[[], list[str]] = list) -> DemoServer:
    """A server bound but not yet serving (``serve_forever`` for the tool, ``start_server`` for tests and the bench).
    With ``cert`` (and ``key``, PEM) it speaks https, which a phone needs for WASM threads: browsers grant cross-origin
    isolation only to secure contexts, and plain http is one only on localhost. ``pending``: the files still being
    exported, which the page lists as coming."""
    if not artifacts.is_dir():
        raise UserError(f"--artifacts {artifacts}: not a folder")
    if not model_list(artifacts):
        raise UserError(f"--artifacts {artifacts}: no .tflite file with its card (<file>.json) in it; export one "
                        "with `python -m seemore_edge.export --formats tflite --out DIR`")
    root = page_root()
    try:
        httpd = ThreadingHTTPServer((host, port), partial(_Handler, artifacts=artifacts.resolve(), root=root,
                                                          quiet=quiet, pending=pending))
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    httpd.daemon_threads = True
    if cert is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as e:
            httpd.server_close()
            raise UserError(f"--cert {cert}: not a usable certificate and key ({e})") from None
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    return DemoServer(httpd, None, host, cert is not None)


def start_server(artifacts: Path, host: str = "127.0.0.1", port: int = 0,
                 pending: Callable[[], list[str]] = list) -> DemoServer:
    """Serving in a background thread, on a free port unless one is given."""
    server = make_server(artifacts, host, port, pending=pending)
    server.thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    server.thread.start()
    return server
