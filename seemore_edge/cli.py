"""What every ``python -m seemore_edge.<tool>`` shares: one-line errors, model options, atomic JSON."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

from .checkpoints import load_model, resolve_weights
from .errors import UserError
from .imageio import atomic_write


def run(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> None:
    """Run a tool; bad input ends it with ``<tool>: error: <one line>`` on stderr and exit status 2."""
    try:
        code = main(argv)
    except (UserError, ValueError) as e:
        prog = Path(sys.argv[0]).stem if argv is None else "seemore_edge"
        print(f"{prog}: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)


def add_model_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--checkpoint", type=Path, help="our .safetensors checkpoint or the authors' .pth")
    group.add_argument("--weights", help="a shipped model by name, e.g. T-x4")


def model_path(args: argparse.Namespace) -> Path:
    return args.checkpoint if args.checkpoint is not None else resolve_weights(args.weights)


def model_from_args(args: argparse.Namespace, scale: int | None = None, float_weights: bool = False):
    """The model to run: an FP32 checkpoint as a SeemoRe, a QAT checkpoint (T-x4-qat) as its converted INT8 graph, or
    with ``float_weights`` as its deploy form carrying the trained float weights (what its FP32 artifacts hold)."""
    from quant.qat_checkpoint import is_qat_checkpoint, load_qat

    path = model_path(args)
    if is_qat_checkpoint(path):
        qat = load_qat(path, scale=scale)
        return qat.fp32() if float_weights else qat.int8_model()
    if float_weights:
        raise UserError(f"{path}: --float takes a QAT checkpoint (e.g. --weights T-x4-qat); this one is float already")
    return load_model(path, scale=scale)


def write_json(path: Path | None, obj: dict) -> None:
    if path is None:
        return
    path = Path(path)
    if not path.parent.is_dir():
        raise UserError(f"{path}: folder {path.parent} does not exist")
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=1) + "\n"))


def check_json_target(path: Path | None) -> None:
    """Fail before a long run rather than lose its figures at the end."""
    if path is not None and not Path(path).parent.is_dir():
        raise UserError(f"--json {path}: folder {Path(path).parent} does not exist")
