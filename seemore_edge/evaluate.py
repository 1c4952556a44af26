"""``python -m seemore_edge.evaluate``: PSNR/SSIM (Y, MATLAB protocol) of bicubic or a model on benchmark sets."""
from __future__ import annotations

import argparse

from . import cli
from .datasets import DEFAULT_SETS, SAMPLES, data_root
from .evaluation import (bicubic_upscaler, evaluate_sets, format_table, model_upscaler, tiled_upscaler,
                         torch_runner)
from .errors import UserError
from .presets import check_scale
from .tiling import DEFAULT_OVERLAP, as_tile, check_tile, tile_text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m seemore_edge.evaluate", description=__doc__)
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--method", choices=["bicubic"], help="a classical baseline")
    what.add_argument("--checkpoint", type=cli.Path, help="our .safetensors checkpoint or the authors' .pth")
    what.add_argument("--weights", help="a shipped model by name, e.g. T-x4 or T-x4-qat (INT8)")
    what.add_argument("--artifact", type=cli.Path,
                      help="an exported .pte/.tflite/.mlpackage, run in its own runtime, tiled as its card says")
    ap.add_argument("--scale", type=int, help="upscaling factor (default: a model's or artifact's own; 4 for bicubic)")
    ap.add_argument("--threads", type=int, help="runtime threads for --artifact")
    ap.add_argument("--sets",
                    help=f"comma-separated set names under the data root (default {','.join(DEFAULT_SETS)}); "
                         f"'{SAMPLES}' is scikit-image's bundled photos, used when there is no data root")
    ap.add_argument("--data-root", help="folder holding <Set>/HR/*.png (default: $SEEMORE_DATA)")
    ap.add_argument("--json", type=cli.Path, help="write the figures here")
    ap.add_argument("--float", dest="float_weights", action="store_true",
                    help="a QAT checkpoint's float weights without quantization: the model its FP32 artifacts hold")
    ap.add_argument("--tile",
                    help="run the model on LR tiles of this side (128) or shape (180x320, height x width), blended "
                         "as the artifacts and apps do (default: whole images)")
    ap.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP, help="tile overlap with --tile")
    args = ap.parse_args(argv)
    if args.tile is not None:
        args.tile = as_tile(args.tile)

    if args.scale is not None:
        check_scale(args.scale)
    cli.check_json_target(args.json)
    root = data_root(args.data_root)
    if args.sets:
        sets = [s for s in args.sets.split(",") if s]
    else:
        sets = list(DEFAULT_SETS) if root is not None else [SAMPLES]
    if args.artifact:
        from export.card import read_card
        from export.verify import score_artifact

        card = read_card(args.artifact)
        if args.scale is not None and card["scale"] != args.scale:
            raise UserError(f"{args.artifact}: artifact upscales x{card['scale']}, but --scale {args.scale} was given")
        result = score_artifact(args.artifact, root, sets, args.threads)
        result["method"] = str(args.artifact)
        print(format_table(result, f"{args.artifact.name} ({card['format']} {card['precision']}, tile {tile_text(card['tile'])})"))
        cli.write_json(args.json, result)
        return 0
    if args.method and (args.tile or args.float_weights):
        raise UserError("--tile and --float apply to models, not to --method bicubic")
    if args.tile is not None:
        check_tile(args.tile, args.overlap)
    if args.method:
        scale = args.scale or 4
        upscale, label = bicubic_upscaler(scale), "bicubic"
    else:
        model = cli.model_from_args(args, args.scale, float_weights=args.float_weights)
        scale = model.scale
        label = str(args.checkpoint or args.weights) + (" (float weights)" if args.float_weights else "")
        if args.tile:
            upscale = tiled_upscaler(torch_runner(model), scale, args.tile, args.overlap)
            label += f", tiled {tile_text(args.tile)}/{args.overlap}"
        else:
            upscale = model_upscaler(model)
    result = evaluate_sets(upscale, root, sets, scale)
    result["method"] = label
    print(format_table(result, label))
    cli.write_json(args.json, result)
    return 0


if __name__ == "__main__":
    cli.run(main)
