"""python -m seemore_edge.export: a fixed-routing checkpoint to .pte, .tflite and .mlpackage, each measured in its
own runtime and described by a card beside it (<file>.json).

INT8 needs a QAT checkpoint (the shipped T-x4-qat or T-x2-qat, or qat.safetensors from python -m seemore_edge.qat);
FP32 works from either. For .mlpackage the float precision is Core ML's FP16 (--precision fp32 asks for it).
Without --tile each format gets its photo tile, the one its runtime upscaled photos fastest with per output pixel
(PHOTO_TILES in export/__init__.py), so the files the apps and the demo load are the fast ones.
"""
from __future__ import annotations

from pathlib import Path

from . import cli
from .core.datasets import DEFAULT_SETS, SAMPLES, data_root
from .core.errors import UserError
from .core.tiling import DEFAULT_OVERLAP, as_tile, check_tile
from export import BACKENDS, photo_tile


def main(argv: list[str] | None = None) -> int:
    ap = cli.parser("export", __doc__, raw=True)
    ap.add_argument("--weights", required=True,
                    help="a fixed-routing model: a shipped QAT name (T-x4-qat, T-x2-qat), a qat.safetensors of the main "
                         "job, or a fixed-routing FP32 checkpoint (FP32 artifacts only); the dynamic-routing "
                         "references (T-x4, an authors' .pth) go through python -m seemore_edge.qat first")
    ap.add_argument("--formats", default="pte,tflite,mlpackage",
                    help="comma-separated, of " + ", ".join(BACKENDS) + " (default: all three)")
    ap.add_argument("--precision", default="int8,fp32",
                    help="int8 and/or fp32 (fp16 for .mlpackage; default int8,fp32)")
    ap.add_argument("--tile", help="LR tile the artifacts take: a side (128) or height x width (180x320: a 720p frame "
                                   "at x4); default: each format's photo tile (" +
                                   ", ".join(f"{f} {photo_tile(f)[0]}" for f in BACKENDS) + ")")
    ap.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP, help=f"tile overlap the card tells apps to use (default {DEFAULT_OVERLAP})")
    ap.add_argument("--out", type=Path, default=Path("out/export"),
                    help="folder for the artifacts and their cards, created (default out/export)")
    ap.add_argument("--data-root", help="benchmark root for runtime PSNR (default: $SEEMORE_DATA)")
    ap.add_argument("--sets", help=f"sets to score (default {','.join(DEFAULT_SETS)}; {SAMPLES} without data)")
    ap.add_argument("--threads", type=int, help="runtime threads for latency and scoring (default: all cores)")
    args = ap.parse_args(argv)
    tile = as_tile(args.tile) if args.tile is not None else None
    formats, precisions = cli.split_list(args.formats), cli.split_list(args.precision)
    for fmt in formats:
        if fmt not in BACKENDS:
            raise UserError(f"unknown format {fmt!r}; available: {', '.join(BACKENDS)}")
    for p in precisions:
        if p not in ("int8", "fp32", "fp16"):
            raise UserError(f"unknown precision {p!r}; available: int8, fp32 (fp16 for .mlpackage)")
    for fmt_tile in [tile] if tile else [photo_tile(fmt) for fmt in formats]:
        check_tile(fmt_tile, args.overlap)
    root = data_root(args.data_root)
    sets = cli.benchmark_sets(args.sets, root)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {args.out}: not writable ({e.strerror})") from None
    from .pipelines.artifact_set import ArtifactSet, export_set, summary_line  # torch: after the checks above

    plan = ArtifactSet(args.weights, formats, precisions, tile, args.overlap, args.out, root, sets, args.threads)
    for card in export_set(plan, announce=lambda path: print(f"{path}: exporting ...", flush=True)):
        print(summary_line(card))
    return 0


if __name__ == "__main__":
    cli.run(main)
