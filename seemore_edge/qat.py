"""``python -m seemore_edge.qat``: the main job, reference -> fixed routing -> INT8 QAT -> export -> verify -> report.

The stages are in seemore_edge/pipelines/main_job.py: routing statistics, expert choice, the FP32 control and INT8 QAT
fine-tuning (distilled from the reference), conversion, export to .pte, .tflite and .mlpackage, each artifact scored
and timed in its own runtime, and ``report.json`` / ``report.md`` in ``--out``. A rerun reuses every stage whose
settings did not change.
"""
from __future__ import annotations

from pathlib import Path

from . import cli
from .core.datasets import DEFAULT_SETS, data_root
from .core.presets import check_scale
from .core.tiling import DEFAULT_TILE, as_tile
from .pipelines.settings import JobConfig


def main(argv=None) -> int:
    d = JobConfig(Path(), Path(), None, [])
    ap = cli.parser("qat", __doc__, raw=True)
    cli.add_weights(ap, default="T-x4", what="the FP32 dynamic-routing reference")
    ap.add_argument("--preset", help="check that the reference is this preset")
    ap.add_argument("--scale", type=int, help="check that the reference upscales by this factor")
    ap.add_argument("--train-dir", type=Path, help="HR images for calibration and fine-tuning "
                                                   "(default: scikit-image's photos)")
    ap.add_argument("--data-root", help="benchmark root (default: $SEEMORE_DATA; none: the sample photos)")
    ap.add_argument("--sets", help=f"sets to report (default {','.join(DEFAULT_SETS)} with a data root)")
    ap.add_argument("--iters", type=int, default=d.iters, help="fine-tuning iterations, for the control and for QAT")
    ap.add_argument("--batch", type=int, default=d.batch)
    ap.add_argument("--patch", type=int, default=d.patch, help="LR patch size")
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--calibration", type=int, default=d.calibration, help="images used to choose experts")
    ap.add_argument("--out", type=Path, default=Path("out/qat"))
    ap.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    ap.add_argument("--formats", default=",".join(d.formats), help="artifacts to export at the end ('' for none)")
    ap.add_argument("--precision", default=",".join(d.precisions), help="int8 and/or fp32 (fp16 for .mlpackage)")
    ap.add_argument("--tile", default=str(DEFAULT_TILE[0]),
                    help="LR tile of the exported artifacts: a side (128) or height x width (180x320); one tile for "
                         "every format, so the report compares them and eager PyTorch on equal work")
    ap.add_argument("--float-modules", default="",
                    help="deploy-form modules kept float beyond the default set, comma-separated "
                         "(T-x2-qat: conv_1,conv_2,upsampler.0)")
    ap.add_argument("--variant", choices=["faithful", "integer"], default=d.variant,
                    help="faithful: the deploy form as the reference computes it (LayerNorms, GELU, float residual "
                         "stream); integer: no float op between input and output (quant/integer_form.py), "
                         "distilled in FP32 first, shipped as T-x4-int")
    ap.add_argument("--float-iters", type=int,
                    help="with --variant integer: FP32 distillation iterations before QAT (default: --iters)")
    args = ap.parse_args(argv)
    if args.float_iters is not None and args.variant != "integer":
        raise cli.UserError("--float-iters is the integer variant's FP32 stage: it goes with --variant integer")
    if args.variant == "integer" and args.float_modules:
        raise cli.UserError("--float-modules keeps modules float; the integer variant keeps none")
    import torch  # after parsing (as in every tool): --help answers before torch loads

    from .core.checkpoints import resolve_weights
    from .pipelines.main_job import markdown, run_job

    tile = as_tile(args.tile)  # a malformed --tile fails here, before the run folder is written
    if args.scale is not None:
        check_scale(args.scale)
    if args.threads:
        torch.set_num_threads(args.threads)
    root = data_root(args.data_root)
    cfg = JobConfig(reference=resolve_weights(args.weights), out=args.out, root=root,
                    sets=cli.benchmark_sets(args.sets, root),
                    train_dir=args.train_dir, iters=args.iters, batch=args.batch, patch=args.patch, lr=args.lr,
                    calibration=args.calibration, formats=cli.split_list(args.formats),
                    precisions=cli.split_list(args.precision), tile=tile, threads=args.threads,
                    float_modules=tuple(cli.split_list(args.float_modules)), variant=args.variant,
                    float_iters=args.float_iters)
    print(markdown(run_job(cfg, preset=args.preset, scale=args.scale)))
    return 0


if __name__ == "__main__":
    cli.run(main)
