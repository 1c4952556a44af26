"""``python -m seemore_edge.demo``: the browser demo. Serves ``web_demo/`` and a folder of ``.tflite`` files with their
cards; open the printed URL (on a phone too) and the model upscales a photo on that device with LiteRT.js.

Without ``--artifacts`` the shipped ``T-x4-qat`` is exported first (INT8 and FP32, the 128 photo tile and the
180x320 frame tile) into ``out/demo/artifacts``, once. It listens on localhost; ``--host 0.0.0.0`` opens it to the
local network. Phones get WASM threads only over https (``--cert``/``--key``); over plain http they run one thread."""
from __future__ import annotations

from pathlib import Path

from . import cli
from .pipelines.demo_server import export_demo_set, make_server


def main(argv: list[str] | None = None) -> int:
    ap = cli.parser("demo", __doc__, raw=True)
    ap.add_argument("--artifacts", type=Path, help="folder of .tflite files with cards (default: export T-x4-qat's)")
    ap.add_argument("--weights", default="T-x4-qat", help="what to export when no --artifacts is given")
    ap.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free one)")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only; "
                                                       "0.0.0.0: every interface, for a phone on the same network)")
    ap.add_argument("--cert", type=Path, help="PEM certificate: serve https (phones need it for WASM threads)")
    ap.add_argument("--key", type=Path, help="PEM private key of --cert (if it is not in the same file)")
    ap.add_argument("--threads", type=int, help="CPU threads for the export, when there is one")
    args = ap.parse_args(argv)
    if args.key and not args.cert:
        ap.error("--key goes with --cert")
    artifacts = args.artifacts or export_demo_set(args.weights, Path("out/demo/artifacts"), args.threads)
    server = make_server(artifacts, args.host, args.port, quiet=False, cert=args.cert, key=args.key)
    print(f"serving {artifacts} at {server.url}  (Ctrl-C stops)", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    cli.run(main)
