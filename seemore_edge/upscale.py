"""``python -m seemore_edge.upscale IN OUT``: upscale photos of any size, tile by tile, as the phone apps do.

IN and OUT are two image files, or two folders (every image in IN is written to OUT as PNG under its own name).
``--weights`` runs a model in PyTorch; ``--artifact`` runs an exported file in its own runtime with its card's tile,
overlap and scale: on a desktop, exactly the pixels the phone computes (``evaluate --artifact`` scores the same)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from . import cli
from .core.datasets import image_files
from .core.errors import UserError
from .core.imageio import DEFAULT_MAX_PIXELS, check_writable, read_image, write_image
from .core.presets import check_scale, get_preset
from .core.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, as_tile, make_grid, tile_text


def main(argv: list[str] | None = None) -> int:
    ap = cli.parser("upscale", __doc__, raw=True)
    ap.add_argument("input", type=Path, help="an image, or a folder of images")
    ap.add_argument("output", type=Path, help="the image to write, or a folder (created) for a folder input")
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--weights", help="a model: a shipped name (T-x4, T-x4-qat) or a checkpoint file")
    what.add_argument("--artifact", type=Path, help="an exported .pte/.tflite/.mlpackage with its card")
    ap.add_argument("--preset", help="check that the model is this preset")
    ap.add_argument("--scale", type=int, help="check that the model upscales by this factor")
    ap.add_argument("--tile", help=f"LR tile of --weights: a side or height x width (default {DEFAULT_TILE[0]}; an "
                                   "artifact's is its card's)")
    ap.add_argument("--overlap", type=int, help=f"LR pixels shared by neighbouring tiles (default {DEFAULT_OVERLAP})")
    ap.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="largest input accepted")
    ap.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    args = ap.parse_args(argv)
    import torch  # after parsing (as in every tool): --help answers before torch loads
    from tqdm import tqdm

    from .core.scoring import tiled_upscaler, torch_runner
    from .pipelines.models import load_weights
    from export.verify import artifact_upscaler

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.preset is not None:
        get_preset(args.preset)
    if args.scale is not None:
        check_scale(args.scale)
    pairs = _pairs(args.input, args.output)
    if args.artifact:
        if args.tile or args.overlap is not None:
            raise UserError("--tile and --overlap are the artifact card's; they apply to --weights")
        if args.artifact.suffix == ".mlpackage":
            print(f"note: {args.artifact.name} runs in our MIL interpreter here (Core ML runs only on macOS and iOS): it "
                  "checks the package's numerics, op by op in PyTorch, and is slow and memory-hungry on a whole photo; "
                  "for Core ML's speed run the package on a Mac or an iPhone", file=sys.stderr, flush=True)
        card, upscale = artifact_upscaler(args.artifact, args.threads)
        scale, tile, overlap, min_side = card.scale, tuple(card.tile), card.overlap, 1
        preset = card.preset
    else:
        model = load_weights(args.weights, args.scale)
        tile = as_tile(args.tile or DEFAULT_TILE)
        overlap = DEFAULT_OVERLAP if args.overlap is None else args.overlap
        make_grid(*tile, tile, overlap)  # a bad overlap fails here, before any image is read
        scale, min_side, preset = model.scale, model.min_lr_size, model.preset.name
        if min(tile) < min_side:
            raise UserError(f"--tile {tile_text(tile)} is below the model's minimum input of {min_side} pixels a side")
        upscale = tiled_upscaler(torch_runner(model), scale, tile, overlap)
    if args.preset is not None and get_preset(args.preset).name != preset:
        raise UserError(f"model is SeemoRe-{preset}, not {args.preset}")
    if args.scale is not None and args.scale != scale:
        raise UserError(f"model upscales x{scale}, not x{args.scale}")
    for src, dst in pairs:
        image = read_image(src, args.max_pixels)
        h, w = image.shape[:2]
        if min(h, w) < min_side:
            raise UserError(f"{src}: {w}x{h} is below the model's minimum input of {min_side}x{min_side} pixels")
        with tqdm(total=len(make_grid(h, w, tile, overlap)), desc=f"x{scale} {src.name} {w}x{h}", unit="tile") as bar:
            sr = upscale(image, bar.update)
        write_image(dst, sr)
        print(f"wrote {dst} ({sr.shape[1]}x{sr.shape[0]})")
    return 0


def _pairs(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    """(input, output) files, checked before any work: a folder maps to a folder, and nothing overwrites an input."""
    if src.is_dir():
        files = image_files(src)
        if not files:
            raise UserError(f"{src}: no images in this folder")
        if dst.exists() and not dst.is_dir():
            raise UserError(f"{dst}: a folder input needs a folder output")
        if dst.resolve() == src.resolve():
            raise UserError(f"{dst}: is the input folder; choose another output folder")
        try:
            dst.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"{dst}: cannot create ({e.strerror})") from None
        pairs = [(f, dst / (f.stem + ".png")) for f in files]
    else:
        same = src.resolve() == dst.resolve() or (src.exists() and dst.exists() and os.path.samefile(src, dst))
        if same:
            raise UserError(f"{dst}: is the input; choose another output path")
        pairs = [(src, dst)]
    for _, out in pairs:
        check_writable(out)
    return pairs


if __name__ == "__main__":
    cli.run(main)
