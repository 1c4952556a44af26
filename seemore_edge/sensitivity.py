"""``python -m seemore_edge.sensitivity --weights T-x4-qat``: where a QAT model loses its PSNR to INT8, one group of
fake quantizers switched off at a time (seemore_edge/pipelines/quantizer_ablation.py)."""
from __future__ import annotations

from pathlib import Path

from . import cli
from .core.datasets import data_root
from .core.errors import UserError


def main(argv: list[str] | None = None) -> int:
    ap = cli.parser("sensitivity", __doc__, raw=True)
    cli.add_weights(ap, what="a QAT model")
    ap.add_argument("--sets", default=None, help="comma-separated sets (default Set5; samples without a data root)")
    ap.add_argument("--data-root", help="benchmark root (default: $SEEMORE_DATA)")
    ap.add_argument("--threads", type=int, help="CPU threads")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    cli.check_json_target(args.json)
    import torch  # after parsing (as in every tool): --help answers before torch loads

    from .core.checkpoints import resolve_weights
    from .pipelines.quantizer_ablation import ablate, format_ablation
    from quant.int8_checkpoint import is_qat_checkpoint, load_qat

    if args.threads:
        torch.set_num_threads(args.threads)
    path = resolve_weights(args.weights)
    if not is_qat_checkpoint(path):
        raise UserError(f"{path}: sensitivity needs a QAT checkpoint (e.g. --weights T-x4-qat)")
    root = data_root(args.data_root)
    result = ablate(load_qat(path), root, cli.benchmark_sets(args.sets, root, ("Set5",)))
    print(format_ablation(result))
    cli.write_json(args.json, {"weights": str(args.weights), **result})
    return 0


if __name__ == "__main__":
    cli.run(main)
