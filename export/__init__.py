"""Export to ExecuTorch (``.pte``), LiteRT (``.tflite``) and Core ML (``.mlpackage``) behind one small interface.

A *source* is anything with ``fp32()`` (the float deploy-form module) and ``int8(fold_quantize)`` (the converted PT2E
graph): a ``quant.int8_checkpoint.QatModel``, or ``FloatSource`` for a fixed-routing FP32 checkpoint. Each backend module
has ``SUFFIX``, ``PRECISIONS``, ``PACKAGE``, ``RUNTIME``, ``export(source, precision, tile, path, passes) -> audit``,
``PASSES`` (named optional passes over the converted file), ``Runner(path, tile, threads)``, a callable
from a float32 1x3xThxTw LR tile to its SR tile; ``tile`` is the LR (height, width) of ``seemore_edge.core.tiling``.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

from seemore_edge.core.errors import UserError

BACKENDS = {"pte": "export.executorch_pte", "tflite": "export.litert_tflite", "mlpackage": "export.coreml_mlpackage"}
# The LR tile each format is exported at when none is asked for: the one its runtime upscaled photos fastest with per
# output pixel in the tile sweeps on INT8 dot-product hosts, the phones' kind (docs/bench/tile_sweep.json and its
# repeat; tests/test_bench.py holds these to both). .pte: no bigger tile beat 128 by more than noise (192 lost on the
# medians both times, 256 lost both times). .tflite: 256 beat 128 by 1.19x and 1.28x on the medians, and by 1.17x in
# the demo page (LiteRT.js WASM); the 128 tile computes 1.60x a 640x480 photo's pixels through its overlaps, the 256
# tile 1.28x. .mlpackage: no Core ML runtime here to sweep it. Kept here, not in the backends, so that asking costs
# no import of torch or a runtime.
PHOTO_TILES = {"pte": (128, 128), "tflite": (256, 256), "mlpackage": (128, 128)}
_IMPORTS = {"executorch": "executorch", "litert-torch": "litert_torch", "coremltools": "coremltools"}


def _module(fmt: str):
    if fmt not in BACKENDS:
        raise UserError(f"unknown format {fmt!r}; available: {', '.join(BACKENDS)}")
    return importlib.import_module(BACKENDS[fmt])


def backend(fmt: str):
    module = _module(fmt)
    if importlib.util.find_spec(_IMPORTS[module.PACKAGE]) is None:
        raise UserError(f"{fmt} needs the {module.PACKAGE} package: pip install -e . (or pip install "
                        f"{module.PACKAGE}; versions pinned in pyproject.toml)")
    return module


def photo_tile(fmt: str) -> tuple[int, int]:
    """The tile a format is exported at when no tile is asked for."""
    if fmt not in PHOTO_TILES:
        raise UserError(f"unknown format {fmt!r}; available: {', '.join(BACKENDS)}")
    return PHOTO_TILES[fmt]


def format_of(path: Path) -> str:
    for fmt, name in BACKENDS.items():
        if path.name.endswith(importlib.import_module(name).SUFFIX):
            return fmt
    raise UserError(f"{path}: not an artifact (expected one of .pte, .tflite, .mlpackage)")


def export_artifact(source, fmt: str, precision: str, tile: tuple[int, int], path: Path,
                    passes: tuple[str, ...] | None = None) -> dict:
    """Write one artifact atomically and return its audit; a backend's failure becomes one line naming what failed.
    ``passes``: the backend's named post-conversion passes to apply (None: all of them, the default)."""
    module = backend(fmt)
    if precision not in module.PRECISIONS:
        raise UserError(f"{fmt} is exported in {' or '.join(module.PRECISIONS)}, not {precision}")
    try:
        return module.export(source, precision, tile, Path(path), passes)
    except UserError:
        raise
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{fmt} {precision} export failed: {first}") from e


def float_ops(path: Path) -> dict:
    """The graph audit every artifact card carries: what the file computes in float between its input's quantize and
    its output's dequantize, by kind, read from the artifact itself (each backend's ``float_ops`` and its rule). An
    integer-only accelerator (an NPU's INT8 path) runs a graph whole only where the total is 0; each float island
    is a hand-back to the CPU."""
    module = backend(format_of(Path(path)))
    found = module.float_ops(Path(path))
    return {"total": int(sum(found.values())), "by_kind": dict(sorted(found.items())), "rule": module.FLOAT_RULE}


def resolve_threads(threads: int | None) -> int:
    """``None`` means all cores, in every runtime: LiteRT's interpreter left to itself runs its delegate on one
    thread while ExecuTorch's pool takes every core, which made the main job's table compare 1 thread to 2."""
    return threads or os.cpu_count() or 1


def load_runner(path: Path, tile: tuple[int, int], threads: int | None = None, **options):
    """The artifact's runner; ``options`` go to the backend's Runner (Core ML: ``mode``, ``compute_units``)."""
    return backend(format_of(Path(path))).Runner(Path(path), tile, resolve_threads(threads), **options)


class FloatSource:
    """A fixed-routing FP32 checkpoint as an export source: float formats only (INT8 needs a QAT checkpoint)."""

    def __init__(self, model):
        if model.routing != "fixed":
            raise UserError("export needs a fixed-routing model (the router is data-dependent control flow): run "
                            "python -m seemore_edge.qat, then export its output or the shipped T-x4-qat")
        self.model = model

    def fp32(self):
        from quant.deploy_form import to_deploy_form  # torch: imported on use, so the tools' --help answers at once

        return to_deploy_form(self.model)

    def int8(self, fold_quantize: bool = True):
        raise UserError("INT8 export needs a QAT checkpoint (python -m seemore_edge.qat writes one; shipped: T-x4-qat)")
