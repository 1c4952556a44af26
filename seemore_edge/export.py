"""``python -m seemore_edge.export``: any fixed-routing checkpoint to ``.pte``, ``.tflite`` and ``.mlpackage``, each
measured in its own runtime and described by a card beside it (``<file>.json``).

INT8 needs a QAT checkpoint (the shipped ``T-x4-qat`` or ``qat.safetensors`` from ``python -m seemore_edge.qat``);
FP32 works from either. For ``.mlpackage`` the float precision is Core ML's FP16 (``--precision fp32`` asks for it).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from . import cli
from .checkpoints import load_model
from .datasets import DEFAULT_SETS, SAMPLES, data_root
from .errors import UserError
from .tiling import DEFAULT_OVERLAP, DEFAULT_TILE, as_tile, check_tile, tile_text


def load_source(path: Path):
    """(source, meta) for ``export.verify``: a QAT checkpoint gives both precisions, an FP32 fixed-routing one float."""
    from export import FloatSource
    from quant.qat_checkpoint import is_qat_checkpoint, load_qat

    if is_qat_checkpoint(path):
        qat = load_qat(path)
        return qat, {"preset": qat.preset, "scale": qat.scale, "routing": {"type": "fixed",
                                                                           "experts": list(qat.experts)}}
    model = load_model(path)
    source = FloatSource(model)
    return source, {"preset": model.preset.name, "scale": model.scale,
                    "routing": {"type": "fixed", "experts": list(model.experts)}}


def main(argv: list[str] | None = None) -> int:
    from export import BACKENDS
    from export.verify import artifact_name, artifact_plan, export_and_verify

    ap = argparse.ArgumentParser(prog="python -m seemore_edge.export", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_model_args(ap)
    ap.add_argument("--formats", default="pte,tflite,mlpackage")
    ap.add_argument("--precision", default="int8,fp32", help="int8 and/or fp32 (fp16 for .mlpackage)")
    ap.add_argument("--tile", default=DEFAULT_TILE,
                    help="LR tile the artifacts take: a side (128) or height x width (180x320: a 720p frame at x4)")
    ap.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP, help="tile overlap the card tells apps to use")
    ap.add_argument("--out", type=Path, default=Path("out/export"))
    ap.add_argument("--data-root", help="benchmark root for runtime PSNR (default: $SEEMORE_DATA)")
    ap.add_argument("--sets", help=f"sets to score (default {','.join(DEFAULT_SETS)}; {SAMPLES} without data)")
    ap.add_argument("--threads", type=int, help="runtime threads for latency and scoring")
    args = ap.parse_args(argv)
    args.tile = as_tile(args.tile)
    formats = [f for f in args.formats.split(",") if f]
    precisions = [p for p in args.precision.split(",") if p]
    for fmt in formats:
        if fmt not in BACKENDS:
            raise UserError(f"unknown format {fmt!r}; available: {', '.join(BACKENDS)}")
    for p in precisions:
        if p not in ("int8", "fp32", "fp16"):
            raise UserError(f"unknown precision {p!r}; available: int8, fp32 (fp16 for .mlpackage)")
    check_tile(args.tile, args.overlap)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {args.out}: not writable ({e.strerror})") from None
    root = data_root(args.data_root)
    sets = [s for s in args.sets.split(",") if s] if args.sets else (list(DEFAULT_SETS) if root else [SAMPLES])
    path = cli.model_path(args)
    source, meta = load_source(path)
    name = args.weights or path.stem
    meta = {"name": name, "source": str(args.weights or path), **meta}
    for fmt, precision in artifact_plan(formats, precisions):
        target = args.out / artifact_name(name, fmt, precision, args.tile)
        print(f"{target}: exporting ...", flush=True)
        card = export_and_verify(source, meta, fmt, precision, args.tile, args.overlap, target, root, sets,
                                 args.threads)
        print(summary_line(card))
    return 0


def summary_line(card: dict) -> str:
    size = f"{card['size_bytes'] / 1024:.0f} KB"
    if card.get("psnr") is None:
        return f"  {card['file']}: {size}, not run here ({card.get('not_measured', '')})"
    psnr = ", ".join(f"{s} {r['psnr']:.2f}" for s, r in card["psnr"].items())
    return (f"  {card['file']}: {size}, {card['audit'].get('partitions', '-')} partition(s), tile {tile_text(card['tile'])} "
            f"{card['latency']['median_ms']:.1f} ms, PSNR {psnr}")


if __name__ == "__main__":
    cli.run(main)
