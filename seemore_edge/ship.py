"""``python -m seemore_edge.ship CHECKPOINT NAME``: make a trained checkpoint a shipped model, its card completed with
PSNR/SSIM measured here on the benchmark sets (maintainers' tool; users load the result with ``--weights NAME``)."""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from safetensors.torch import load_file

from . import cli
from .checkpoints import WEIGHTS_DIR, card_path, load_model, save_model
from .datasets import DEFAULT_SETS, data_root
from .errors import UserError
from .evaluation import evaluate_sets, format_table, model_upscaler


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m seemore_edge.ship", description=__doc__)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("name", help="e.g. T-x4")
    ap.add_argument("--data-root", help="benchmark root (default: $SEEMORE_DATA)")
    ap.add_argument("--note", default="", help="a sentence for the card (what is not reached, what comes next)")
    args = ap.parse_args(argv)
    root = data_root(args.data_root)
    if root is None:
        raise UserError("shipping needs the benchmark sets: pass --data-root or set SEEMORE_DATA")
    card = json.loads(card_path(args.checkpoint).read_text()) if card_path(args.checkpoint).exists() else {}
    t0 = time.perf_counter()
    from quant.qat_checkpoint import is_qat_checkpoint, load_qat

    if is_qat_checkpoint(args.checkpoint):
        return _ship_qat(args, root, card, load_qat(args.checkpoint), t0)
    model = load_model(args.checkpoint)
    result = evaluate_sets(model_upscaler(model), root, list(DEFAULT_SETS), model.scale)
    print(format_table(result, args.name))
    card.update(_measured(args, result, t0, ""))
    WEIGHTS_DIR.mkdir(exist_ok=True)
    target = WEIGHTS_DIR / f"{args.name}.safetensors"
    save_model(model, target, {k: v for k, v in card.items() if k not in ("preset", "scale", "routing", "params")})
    reloaded = load_file(target)
    if set(reloaded) != set(model.state_dict()):
        raise UserError(f"{target}: written tensors differ from the model's")
    print(f"shipped {target} and {card_path(target).name}")
    return 0


def _measured(args, result: dict, t0: float, what: str) -> dict:
    """The card fields every shipped model gets: its name, where it came from and what evaluate measured."""
    return {"name": args.name, "source": str(args.checkpoint),
            "metrics": {"protocol": f"Y channel, MATLAB bicubic LR, scale-pixel border; {what}"
                                    f"python -m seemore_edge.evaluate --weights {args.name}", **result["sets"]},
            "evaluated_on": f"{platform.node() or 'this machine'}, {time.strftime('%Y-%m-%d')}, "
                            f"{time.perf_counter() - t0:.0f} s",
            "note": args.note}


def _ship_qat(args, root, card: dict, qat, t0: float) -> int:
    """A QAT checkpoint ships as its own file (state + card); its metrics are the converted INT8 model's."""
    import shutil

    from quant.qat_checkpoint import load_qat as reload

    result = evaluate_sets(model_upscaler(qat.int8()), root, list(DEFAULT_SETS), qat.scale)
    print(format_table(result, args.name + " (INT8, PyTorch)"))
    card.update(_measured(args, result, t0, "converted INT8 graph in PyTorch; "))
    WEIGHTS_DIR.mkdir(exist_ok=True)
    target = WEIGHTS_DIR / f"{args.name}.safetensors"
    from .imageio import atomic_write

    atomic_write(target, lambda tmp: shutil.copyfile(args.checkpoint, tmp))
    atomic_write(card_path(target), lambda tmp: Path(tmp).write_text(json.dumps(card, indent=1) + "\n"))
    reload(target)  # the shipped file loads
    print(f"shipped {target} and {card_path(target).name}")
    return 0


if __name__ == "__main__":
    cli.run(main)
