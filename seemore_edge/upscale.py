"""``python -m seemore_edge.upscale IN OUT``: upscale one photo of any size, tile by tile, as the phone apps do."""
from __future__ import annotations

import argparse
import os

import torch
from tqdm import tqdm

from . import cli
from .errors import UserError
from .evaluation import torch_runner
from .imageio import DEFAULT_MAX_PIXELS, check_writable, read_image, write_image
from .presets import check_scale, get_preset
from .tiling import DEFAULT_OVERLAP, DEFAULT_TILE, as_tile, make_grid, tile_text, upscale_tiled


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m seemore_edge.upscale", description=__doc__)
    ap.add_argument("input", type=cli.Path)
    ap.add_argument("output", type=cli.Path)
    cli.add_model_args(ap)
    ap.add_argument("--preset", help="check that the model is this preset")
    ap.add_argument("--scale", type=int, help="check that the model upscales by this factor")
    ap.add_argument("--tile", default=DEFAULT_TILE,
                    help="LR tile: a side (128) or height x width (180x320)")
    ap.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP, help="LR pixels shared by neighbouring tiles")
    ap.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="largest input accepted")
    ap.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    args = ap.parse_args(argv)
    args.tile = as_tile(args.tile)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.preset is not None:
        get_preset(args.preset)
    if args.scale is not None:
        check_scale(args.scale)
    same = args.input.resolve() == args.output.resolve() or (
        args.input.exists() and args.output.exists() and os.path.samefile(args.input, args.output))
    if same:
        raise UserError(f"{args.output}: is the input; choose another output path")
    check_writable(args.output)
    image = read_image(args.input, args.max_pixels)
    model = cli.model_from_args(args, args.scale)
    if args.preset is not None and get_preset(args.preset).name != model.preset.name:
        raise UserError(f"model is SeemoRe-{model.preset.name}, not {args.preset}")
    h, w = image.shape[:2]
    if min(h, w) < model.min_lr_size:
        raise UserError(f"{args.input}: {w}x{h} is below the model's minimum input of "
                        f"{model.min_lr_size}x{model.min_lr_size} pixels")
    if min(args.tile) < model.min_lr_size:
        raise UserError(f"--tile {tile_text(args.tile)} is below the model's minimum input of {model.min_lr_size} "
                        "pixels a side")
    grid = make_grid(h, w, args.tile, args.overlap)
    with tqdm(total=len(grid), desc=f"x{model.scale} {w}x{h}", unit="tile") as bar:
        sr = upscale_tiled(torch_runner(model), image, model.scale, args.tile, args.overlap, bar.update)
    write_image(args.output, sr)
    print(f"wrote {args.output} ({sr.shape[1]}x{sr.shape[0]})")
    return 0


if __name__ == "__main__":
    cli.run(main)
