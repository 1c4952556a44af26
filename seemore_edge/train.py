"""``python -m seemore_edge.train``: the paper's recipe, resumable, on CPU, one GPU, or several through torchrun.

Recipe (ARCHITECTURE.md): L1 + 0.1 FFT-L1, Adam 1e-3 (betas 0.9/0.99), lr halved at 50/80/90/95 % of the run, random
LR crops with flips and 90-degree rotations. Everything a run needs to continue exactly (weights, optimizer, scheduler,
step, all random states) is in ``<out>/last.pt.gz``, written atomically; Ctrl-C or SIGTERM finishes the current step,
saves and exits.
"""
from __future__ import annotations

from pathlib import Path

from . import cli
from .pipelines.settings import TrainConfig


def parse(argv) -> TrainConfig:
    d = TrainConfig()
    ap = cli.parser("train", __doc__, raw=True)
    ap.add_argument("--preset", default=d.preset)
    ap.add_argument("--scale", type=int, default=d.scale)
    ap.add_argument("--train-dir", type=Path, help="folder of HR images (default: scikit-image's photos)")
    ap.add_argument("--iters", type=int, default=d.iters)
    ap.add_argument("--minutes", type=float,
                    help="a wall-time budget instead of --iters: the speed of the first steps fixes the iteration count "
                         "that fits (schedule in fractions of it), and the final weights and card are saved within it")
    ap.add_argument("--init", help="start from these weights: a shipped name (T-x4) or a checkpoint file, ours or the "
                                   "authors' .pth (fresh optimizer; the card names it as parent)")
    ap.add_argument("--batch", type=int, default=d.batch, help="total over all processes")
    ap.add_argument("--patch", type=int, default=d.patch, help="LR crop size")
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--out", type=Path, default=d.out)
    ap.add_argument("--resume", action="store_true", help="continue the run in --out")
    ap.add_argument("--val-every", type=int, default=d.val_every)
    ap.add_argument("--ckpt-every", type=int, default=d.ckpt_every)
    ap.add_argument("--log-every", type=int, default=d.log_every)
    ap.add_argument("--val-sets", default=d.val_sets)
    ap.add_argument("--data-root", help="benchmark root for validation (default: $SEEMORE_DATA)")
    ap.add_argument("--threads", type=int, help="CPU threads per process (default: cores / processes)")
    ap.add_argument("--workers", type=int, help="processes making batches ahead (default: 0 on CPU, 6 on CUDA)")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--device", default=d.device, help="auto, cpu or cuda")
    args = vars(ap.parse_args(argv))
    args.pop("debug")
    if args["minutes"] is not None and args["minutes"] <= 0:
        ap.error("--minutes must be positive")
    return TrainConfig(**args)


def main(argv=None) -> int:
    config = parse(argv)
    from .pipelines.training_loop import train  # torch: after parsing, so --help answers at once

    return train(config)


if __name__ == "__main__":
    cli.run(main)
