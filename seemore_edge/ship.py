"""``python -m seemore_edge.ship CHECKPOINT NAME``: make a trained checkpoint a shipped model, its card completed with
PSNR/SSIM measured here on the benchmark sets (maintainers' tool; users load the result with ``--weights NAME``). A
shipped FP32 reference is replaced only by weights that score higher on Set5, Set14 and BSD100 (``--force``: anyway)."""
from __future__ import annotations

from pathlib import Path

from . import cli
from .core.datasets import data_root
from .core.errors import UserError


def main(argv: list[str] | None = None) -> int:
    ap = cli.parser("ship", __doc__)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("name", help="e.g. T-x4")
    ap.add_argument("--data-root", help="benchmark root (default: $SEEMORE_DATA)")
    ap.add_argument("--into", type=Path, help="weights folder (default: the package's own, seemore_edge/weights)")
    ap.add_argument("--note", default="", help="a sentence for the card (what is not reached, what comes next)")
    ap.add_argument("--force", action="store_true", help="replace a shipped FP32 reference even where the new weights "
                                                         "do not score higher on Set5, Set14 and BSD100")
    args = ap.parse_args(argv)
    root = data_root(args.data_root)
    if root is None:
        raise UserError("shipping needs the benchmark sets: pass --data-root or set SEEMORE_DATA")
    if not args.checkpoint.is_file():
        raise UserError(f"{args.checkpoint}: no such checkpoint")
    from .core.checkpoints import WEIGHTS_DIR  # torch: after the checks, so --help and mistakes answer at once
    from .pipelines.shipping import ship

    ship(args.checkpoint, args.name, root, args.note, args.into or WEIGHTS_DIR, args.force)
    return 0


if __name__ == "__main__":
    cli.run(main)
