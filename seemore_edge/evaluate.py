"""``python -m seemore_edge.evaluate``: PSNR/SSIM (Y, MATLAB protocol) of bicubic, a model or an exported artifact on
benchmark sets."""
from __future__ import annotations

from pathlib import Path

from . import cli
from .core.datasets import DEFAULT_SETS, SAMPLES, data_root
from .core.errors import UserError
from .core.presets import check_scale
from .core.tiling import DEFAULT_OVERLAP, as_tile, check_tile, tile_text


def main(argv: list[str] | None = None) -> int:
    ap = cli.parser("evaluate", __doc__)
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--method", choices=["bicubic"], help="a classical baseline")
    what.add_argument("--weights", help="a model: a shipped name (T-x4, T-x4-qat: INT8) or a checkpoint file")
    what.add_argument("--artifact", type=Path,
                      help="an exported .pte/.tflite/.mlpackage, run in its own runtime, tiled as its card says")
    ap.add_argument("--scale", type=int, help="upscaling factor (default: a model's or artifact's own; 4 for bicubic)")
    ap.add_argument("--threads", type=int, help="CPU threads of the runtime (default: all cores)")
    ap.add_argument("--sets",
                    help=f"comma-separated set names under the data root (default {','.join(DEFAULT_SETS)}); "
                         f"'{SAMPLES}' is scikit-image's bundled photos, used when there is no data root")
    ap.add_argument("--data-root", help="folder holding <Set>/HR/*.png (default: $SEEMORE_DATA)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--float", dest="float_weights", action="store_true",
                    help="a QAT checkpoint's float weights without quantization: the model its FP32 artifacts hold")
    ap.add_argument("--tile",
                    help="run the model on LR tiles of this side (128) or shape (180x320, height x width), blended "
                         "as the artifacts and apps do (default: whole images)")
    ap.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP, help="tile overlap with --tile")
    ap.add_argument("--numerics", choices=["float32", "float16"],
                    help="a .mlpackage off macOS: the MIL interpreter's arithmetic (default: the package's compute "
                         "precision)")
    ap.add_argument("--in-browser", action="store_true",
                    help="a .tflite run by the demo page in headless Chromium (LiteRT.js) through the page's hook; "
                         "the same file also runs in Python's LiteRT and the record says how far the pixels are")
    ap.add_argument("--page-threads", type=int, default=2, help="WASM threads of the page with --in-browser")
    cli.add_page_accelerator(ap, "the page's runtime with --in-browser")
    args = ap.parse_args(argv)
    tile = as_tile(args.tile) if args.tile is not None else None
    if args.scale is not None:
        check_scale(args.scale)
    cli.check_json_target(args.json)
    root = data_root(args.data_root)
    sets = cli.benchmark_sets(args.sets, root)
    if (args.method or args.artifact) and (tile or args.float_weights):
        raise UserError("--tile and --float apply to --weights; an artifact's tile is its card's")
    if args.numerics and not (args.artifact and args.artifact.suffix == ".mlpackage"):
        raise UserError("--numerics applies to a .mlpackage run by the MIL interpreter")
    if args.in_browser and not (args.artifact and args.artifact.suffix == ".tflite"):
        raise UserError("--in-browser runs a .tflite (--artifact FILE.tflite) in the demo page")
    if args.accelerator != "wasm" and not args.in_browser:
        raise UserError("--accelerator is the demo page's: it goes with --in-browser")
    import torch  # after the checks above: --help and bad arguments answer before torch loads

    from .core.scoring import bicubic_upscaler, evaluate_sets, format_table, model_upscaler, tiled_upscaler, \
        torch_runner
    from .pipelines.models import load_weights
    from export.verify import artifact_upscaler

    if args.in_browser:
        return _in_browser(args, root, sets)
    if args.artifact:
        options = {"mode": args.numerics} if args.numerics else {}
        card, upscale = artifact_upscaler(args.artifact, args.threads, **options)
        if args.scale is not None and card.scale != args.scale:
            raise UserError(f"{args.artifact}: artifact upscales x{card.scale}, but --scale {args.scale} was given")
        scale, label = card.scale, f"{args.artifact.name} ({card.format} {card.precision}, tile {tile_text(card.tile)})"
        label += f", {args.numerics} interpreter" if args.numerics else ""
    elif args.method:
        scale = args.scale or 4
        upscale, label = bicubic_upscaler(scale), "bicubic"
    else:
        if args.threads:
            torch.set_num_threads(args.threads)
        model = load_weights(args.weights, args.scale, float_weights=args.float_weights)
        scale = model.scale
        label = str(args.weights) + (" (float weights)" if args.float_weights else "")
        if tile:
            check_tile(tile, args.overlap)
            upscale = tiled_upscaler(torch_runner(model), scale, tile, args.overlap)
            label += f", tiled {tile_text(tile)}/{args.overlap}"
        else:
            upscale = model_upscaler(model)
    result = evaluate_sets(upscale, root, sets, scale)
    result["method"] = label
    print(format_table(result, label))
    cli.write_json(args.json, result)
    return 0


def _in_browser(args, root, sets) -> int:
    from .core.scoring import evaluate_sets, format_table
    from .pipelines.browser_page import BrowserPage, PageUpscaler, runtime_label
    from export.verify import artifact_upscaler

    card, native = artifact_upscaler(args.artifact, args.threads)
    if args.scale is not None and card.scale != args.scale:
        raise UserError(f"{args.artifact}: artifact upscales x{card.scale}, but --scale {args.scale} was given")
    with BrowserPage(args.artifact.parent, args.page_threads, args.accelerator) as page:
        upscale = PageUpscaler(page, args.artifact.name, native)
        result = evaluate_sets(upscale, root, sets, card.scale)
    label = f"{args.artifact.name} in the demo page ({runtime_label(upscale.accelerator, args.page_threads, page.adapter)})"
    result |= {"method": label, "file": args.artifact.name, "sha256": card.sha256, "accelerator": upscale.accelerator,
               "page_threads": args.page_threads, "agreement": upscale.agreement()}
    if page.adapter:
        result["adapter"] = page.adapter
    print(format_table(result, label))
    a = result["agreement"]
    print(f"pixels vs Python LiteRT: {a['differing_values']} of {a['values']} values differ, by at most "
          f"{a['max_level_difference']} level(s)")
    cli.write_json(args.json, result)
    return 0


if __name__ == "__main__":
    cli.run(main)
