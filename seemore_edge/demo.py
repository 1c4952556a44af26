"""``python -m seemore_edge.demo``: the browser demo. Serves ``web_demo/`` and a folder of ``.tflite`` files with their
cards; open the printed URL (on a phone too) and the model upscales a photo on that device with LiteRT.js.

Without ``--artifacts`` the shipped ``T-x4-qat``, ``T-x4-int`` (the integer model) and ``T-x2-qat`` are exported (INT8
and FP32, the ``.tflite`` photo tile, 256, and the one-call tile of a 720p frame) into ``out/demo/artifacts``, once:
the page's default, x4 INT8 at the photo tile, first (serving 99 s after the start on a fresh clone here), then the
server starts and the other eleven follow in the background,
each listed by the page as it becomes ready; a later start reuses them all. It listens on localhost;
``--host 0.0.0.0`` opens it to the local network. Phones get WASM threads only over https (``--cert``/``--key``); over plain http they run one thread."""
from __future__ import annotations

import threading
from pathlib import Path

from . import cli
from .core.imageio import read_image


def main(argv: list[str] | None = None) -> int:
    ap = cli.parser("demo", __doc__, raw=True)
    ap.add_argument("--artifacts", type=Path, help="folder of .tflite files with cards (default: export --weights')")
    ap.add_argument("--weights", default="T-x4-qat,T-x4-int,T-x2-qat", help="comma-separated QAT models to export when no "
                                                                  "--artifacts is given")
    ap.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free one)")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only; "
                                                       "0.0.0.0: every interface, for a phone on the same network)")
    ap.add_argument("--cert", type=Path, help="PEM certificate: serve https (phones need it for WASM threads)")
    ap.add_argument("--key", type=Path, help="PEM private key of --cert (if it is not in the same file)")
    ap.add_argument("--threads", type=int, help="CPU threads for the export, when there is one")
    ap.add_argument("--screenshot", type=Path, help="instead of serving: open the page in headless Chromium, upscale "
                                                   "--photo with --model through the page, save a PNG of the page")
    ap.add_argument("--photo", type=Path, help="the photo of --screenshot")
    ap.add_argument("--shrink", type=int, default=1, help="reduce --photo by this factor first (MATLAB bicubic, the "
                                                         "benchmarks' protocol), so the page restores what it removed")
    ap.add_argument("--model", help="the model file of --screenshot (default: the first INT8 one)")
    ap.add_argument("--page-threads", type=int, default=2, help="WASM threads of the page with --screenshot")
    cli.add_page_accelerator(ap, "the page's runtime with --screenshot")
    args = ap.parse_args(argv)
    if args.key and not args.cert:
        ap.error("--key goes with --cert")
    if bool(args.screenshot) != bool(args.photo):
        ap.error("--screenshot and --photo go together")
    if args.shrink < 1:
        ap.error("--shrink is a whole factor from 1")
    if args.accelerator != "wasm" and not args.screenshot:
        ap.error("--accelerator goes with --screenshot (a person picks it in the page's own menu)")
    from .core.imresize import imresize  # torch and the exporters: after parsing, so --help answers at once
    from .pipelines.artifact_set import export_set
    from .pipelines.demo_server import demo_export, make_server, page_root

    photo = read_image(args.photo) if args.photo else None  # a bad photo fails here, before any export
    if photo is not None and args.shrink > 1:
        photo = imresize(photo, 1 / args.shrink)
    job = None
    if args.artifacts is None:
        page_root()  # without the page's npm packages, say so before minutes of export
        job = demo_export(cli.split_list(args.weights), Path("out/demo/artifacts"), args.threads)
        export_set(job.first, lambda path: print(f"exporting {path.name} (the page's default) ...", flush=True))
    artifacts = args.artifacts or job.first.out
    if args.screenshot:
        if job and args.model and not (artifacts / args.model).is_file():
            job.run_rest()
        return _screenshot(artifacts, photo, args)
    server = make_server(artifacts, args.host, args.port, quiet=False, cert=args.cert, key=args.key,
                         pending=lambda: job.pending if job else [])
    if job and job.pending:
        threading.Thread(target=job.run_rest, daemon=True).start()
    print(f"serving {artifacts} at {server.url}  (Ctrl-C stops)"
          + (f"; exporting {len(job.pending)} more model(s) behind it" if job and job.pending else ""), flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


def _screenshot(artifacts: Path, photo, args) -> int:
    from .pipelines.browser_page import BrowserPage

    with BrowserPage(artifacts, args.page_threads, args.accelerator) as page:
        names = page.models()
        model = args.model or next((n for n in names if "-int8" in n), names[0])
        _, info = page.upscale_array(photo, model)
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.call("screenshot", path=str(args.screenshot.resolve()))
    print(f"{args.screenshot}: {model}, {info['tiles']} tile(s), {info['ms']:.0f} ms ({info['accelerator']})")
    return 0


if __name__ == "__main__":
    cli.run(main)
