"""What every ``python -m seemore_edge.<tool>`` shares: one vocabulary of options, one-line errors, atomic JSON.

A user's mistake (:class:`UserError`) ends a tool with ``<tool>: error: <one line>`` and exit status 2. Anything else
is a bug in this code and says so, with exit status 1 and the way to see its traceback (``--debug``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from .core.datasets import DEFAULT_SETS, SAMPLES, count
from .core.errors import UserError
from .core.imageio import atomic_write
from .core.records import strict_json


def parser(prog: str, doc: str | None, raw: bool = False) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=f"python -m seemore_edge.{prog}", description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter if raw else
                                 argparse.HelpFormatter)
    ap.add_argument("--debug", action="store_true", help="on an internal error, show its traceback")
    return ap


def run(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    prog = Path(sys.argv[0]).stem if argv is None else "seemore_edge"
    try:
        code = main(argv)
    except UserError as e:
        print(f"{prog}: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:
        if "--debug" in args:
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"{prog}: internal error (a bug, not your input): {type(e).__name__}: {first}; rerun with --debug for "
              "the traceback", file=sys.stderr)
        sys.exit(1)
    sys.exit(code or 0)


def add_weights(ap: argparse.ArgumentParser, required: bool = True, default: str | None = None,
                flag: str = "--weights", what: str = "the model") -> None:
    ap.add_argument(flag, required=required and default is None, default=default,
                    help=f"{what}: a shipped name (T-x4, T-x4-qat, T-x2) or a checkpoint file (ours or the authors' "
                         ".pth)" + (f"; default {default}" if default else ""))


# What runs a model in the demo page: LiteRT.js on WASM (the CPU), or on WebGPU (here: Chromium's software adapter).
PAGE_ACCELERATORS = ("wasm", "webgpu")


def add_page_accelerator(ap: argparse.ArgumentParser, what: str, many: bool = False) -> None:
    ap.add_argument("--accelerator", default="wasm", choices=None if many else PAGE_ACCELERATORS,
                    help=f"{what}: LiteRT.js on wasm (default) or webgpu" + (" (comma-separated: both)" if many else "")
                         + "; webgpu starts Chromium with its software adapter (SwiftShader: the WebGPU shaders a "
                           "phone's GPU runs, on this CPU; its times are not a GPU's)")


def page_accelerators(text: str) -> list[str]:
    chosen = split_list(text)
    wrong = [a for a in chosen if a not in PAGE_ACCELERATORS]
    if wrong or not chosen:
        raise UserError(f"--accelerator {text}: choose from {', '.join(PAGE_ACCELERATORS)}")
    return list(dict.fromkeys(chosen))


def split_list(text: str | None) -> list[str]:
    return [s for s in (text or "").split(",") if s]


def benchmark_sets(text: str | None, root: Path | None, default: tuple[str, ...] = DEFAULT_SETS) -> list[str]:
    """The sets a tool scores: ``text`` (comma-separated) or ``default``, the embedded samples without a data root.
    Each is looked up now, so a missing set is one error line before minutes of work, not after them."""
    sets = split_list(text) or (list(default) if root is not None else [SAMPLES])
    for name in sets:
        count(root, name)
    return sets


def write_json(path: Path | None, obj: dict) -> None:
    if path is None:
        return
    path = Path(path)
    if not path.parent.is_dir():
        raise UserError(f"{path}: folder {path.parent} does not exist")
    atomic_write(path, lambda tmp: Path(tmp).write_text(strict_json(obj)))


def check_json_target(path: Path | None) -> None:
    """Fail before a long run rather than lose its figures at the end."""
    if path is not None and not Path(path).parent.is_dir():
        raise UserError(f"--json {path}: folder {Path(path).parent} does not exist")
