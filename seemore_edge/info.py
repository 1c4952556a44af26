"""``python -m seemore_edge.info``: what a preset costs before anyone trains or ships it."""
from __future__ import annotations

from pathlib import Path

from . import cli

OUTPUT = (720, 1280)  # the paper's reference output size


def main(argv: list[str] | None = None) -> int:
    ap = cli.parser("info", __doc__)
    ap.add_argument("--preset", default="T", help="T, B or L")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    cli.check_json_target(args.json)
    from .core.checkpoints import build_model
    from .core.complexity import count_gmacs, count_params

    model = build_model(args.preset, args.scale)
    lr = (OUTPUT[0] // args.scale, OUTPUT[1] // args.scale)
    info = {"preset": model.preset.name, "scale": args.scale, "params": count_params(model),
            "gmacs_1280x720": round(count_gmacs(model, *lr), 3), "lr_input": list(lr),
            "min_lr_size": model.min_lr_size,
            "paper": {"params": model.preset.params.get(args.scale), "gmacs": model.preset.gmacs_720p.get(args.scale)}}
    print(f"SeemoRe-{info['preset']} x{args.scale}: {info['params']:,} parameters, "
          f"{info['gmacs_1280x720']:.2f} GMACs for a 1280x720 output ({lr[1]}x{lr[0]} LR), "
          f"minimum LR size {info['min_lr_size']}x{info['min_lr_size']}")
    if info["paper"]["params"]:
        print(f"paper: {info['paper']['params']:,} parameters, {info['paper']['gmacs']} GMACs")
    cli.write_json(args.json, info)
    return 0


if __name__ == "__main__":
    cli.run(main)
