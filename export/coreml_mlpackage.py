"""Core ML ML program (``.mlpackage``, iOS 17+) through coremltools, a structural check that runs anywhere, and a
runner: Core ML itself on macOS, the MIL interpreter elsewhere (Core ML prediction does not exist on Linux).

Both precisions go through ``torch.export`` and ``run_decompositions({})`` (coremltools refuses the training dialect).
FP16: the float deploy form with Core ML's FP16 compute precision. INT8 (W8A8): the folded PT2E graph, whose INT8
weights become ``constexpr_affine_dequantize`` and whose activation quantize/dequantize pairs stay in the program.
Inputs and outputs are float32 so apps fill and read them without half-float conversion.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from export.mil_interpreter import MilProgram
from seemore_edge.core.errors import UserError

SUFFIX = ".mlpackage"
PRECISIONS = ("fp16", "int8")
RUNTIME = "coreml"  # what a card's executed_by says when this runtime measured the file
PACKAGE = "coremltools"
INPUT, OUTPUT = "lr", "sr"
DEBUG_FILES = ("executorch_debug_handle_mapping.json",)  # written by coremltools for ExecuTorch; no app reads it


PASSES: dict = {}  # coremltools' output needs none; the debug file is not written into the package at all


def export(source, precision: str, tile: tuple[int, int], path: Path, passes: tuple[str, ...] | None = None) -> dict:
    import coremltools as ct

    if passes:
        raise UserError(f".mlpackage export has no passes (asked for {', '.join(passes)})")

    module = source.int8(fold_quantize=True) if precision == "int8" else source.fp32()
    example = torch.rand(1, 3, *tile)
    program = torch.export.export(module, (example,)).run_decompositions({})
    model = ct.convert(program, minimum_deployment_target=ct.target.iOS17, compute_precision=ct.precision.FLOAT16,
                       inputs=[ct.TensorType(name=INPUT, shape=example.shape, dtype=np.float32)],
                       outputs=[ct.TensorType(name=OUTPUT, dtype=np.float32)])
    # A package is a folder: build it beside the target, then swap it in, so no half-written package is left.
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        staged = tmp / path.name
        model.save(str(staged))
        for name in DEBUG_FILES:
            (staged / name).unlink(missing_ok=True)
        if path.exists():
            shutil.rmtree(path)
        staged.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return inspect(path)


def inspect(path: Path) -> dict:
    """What the package holds, read from its spec without Core ML: inputs and outputs, op types, INT8 weights and
    activation quantization, and any conv or linear whose weight is a plain float constant."""
    import coremltools as ct

    spec = ct.utils.load_spec(str(path))
    ops, producers = Counter(), {}
    program = spec.mlProgram
    for function in program.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                ops[op.type] += 1
                for out in op.outputs:
                    producers[out.name] = op.type
    float_weights = 0
    for function in program.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                if op.type in ("conv", "linear") and "weight" in op.inputs:
                    arg = op.inputs["weight"].arguments[0]
                    if producers.get(arg.name) not in ("constexpr_affine_dequantize", "dequantize",
                                                       "constexpr_blockwise_shift_scale"):
                        float_weights += 1
    weights = path / "Data" / "com.apple.CoreML" / "weights"

    def io(desc):
        return [{"name": d.name, "shape": list(d.type.multiArrayType.shape),
                 "dtype": ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(
                     d.type.multiArrayType.dataType).lower()} for d in desc]
    return {"backend": "Core ML ML program (iOS 17)", "inputs": io(spec.description.input),
            "outputs": io(spec.description.output), "ops": dict(sorted(ops.items())),
            "int8_weight_ops": ops["constexpr_affine_dequantize"] + ops["constexpr_blockwise_shift_scale"],
            "activation_quantize_ops": ops["quantize"], "float_weight_conv_or_linear": float_weights,
            "weights_bytes": sum(p.stat().st_size for p in weights.rglob("*") if p.is_file()) if weights.is_dir()
            else 0,
            "debug_files": [n for n in DEBUG_FILES if (path / n).exists()]}


FLOAT_RULE = ("ops that read a float tensor other than a constant or a dequantize's output (Core ML computes every op in "
              "FP16 by design; an op fed only by dequantized INT8 is one the quantize/dequantize pairs mark W8A8, and a "
              "relu, relu6 or clip reading such a conv is fused into it); quantize, dequantize, constants and the "
              "casts of the float32 input and output to and from FP16 are not counted")
_NOT_COMPUTE = ("const", "quantize", "dequantize")
# an activation Core ML folds into the op before it (ReLU6 reaches MIL as relu6 or as a clip to [0, 6])
_FUSES_AFTER = {kind: ("conv", "conv_transpose") for kind in ("relu", "relu6", "clip")}


def float_ops(path: Path) -> Counter:
    """What a ``.mlpackage`` leaves in float between its input and its output, by MIL op type, read from its spec."""
    import coremltools as ct

    program = ct.utils.load_spec(str(path)).mlProgram
    found = Counter()
    for function in program.functions.values():
        for block in function.block_specializations.values():
            producers = {out.name: op.type for op in block.operations for out in op.outputs}
            integer: set[str] = set()  # outputs of ops that read only INT8 or constants

            def quantized(name: str, reader: str) -> bool:
                kind = producers.get(name, "input")
                return (kind in ("dequantize", "const") or kind.startswith("constexpr_")
                        or (kind in _FUSES_AFTER.get(reader, ()) and name in integer))

            for op in block.operations:
                if op.type in _NOT_COMPUTE or op.type.startswith("constexpr_"):
                    continue
                read = [arg.name for binding in op.inputs.values() for arg in binding.arguments if arg.name]
                if op.type == "cast" and (op.inputs["x"].arguments[0].name not in producers
                                          or op.outputs[0].name in block.outputs):
                    continue  # the package's float32 input and output to and from Core ML's FP16
                if all(quantized(name, op.type) for name in read):
                    integer.update(out.name for out in op.outputs)
                else:
                    found[op.type] += 1
    return found


class Runner:
    """Maps a float32 1x3xThxTw LR tile to its SR tile: through Core ML itself on macOS (``compute_units``: "cpu",
    "gpu", "ane" or "all"), elsewhere through the MIL interpreter (export/mil_interpreter.py), whose time is not a
    Core ML latency. ``mode`` picks the interpreter's arithmetic ("float32" or "float16"; default: the package's)."""

    def __init__(self, path: Path, tile: tuple[int, int], threads: int | None = None, mode: str | None = None,
                 compute_units: str = "cpu"):
        self.tile = tile
        if sys.platform == "darwin" and mode is None:
            import coremltools as ct

            units = {"cpu": ct.ComputeUnit.CPU_ONLY, "gpu": ct.ComputeUnit.CPU_AND_GPU,
                     "ane": ct.ComputeUnit.CPU_AND_NE, "all": ct.ComputeUnit.ALL}
            if compute_units not in units:
                raise UserError(f"unknown compute units {compute_units!r}; available: {', '.join(units)}")
            model = ct.models.MLModel(str(path), compute_units=units[compute_units])
            self.executed_by, self.numerics, self.latency_note = "coreml", f"Core ML, {compute_units}", None
            self._predict = lambda x: model.predict({INPUT: x})[OUTPUT]
        else:
            program = MilProgram(path, mode)
            if threads:
                torch.set_num_threads(threads)
            self.executed_by, self.numerics = "mil-interpreter", f"MIL interpreter, {program.mode} arithmetic"
            self.latency_note = ("latency: the MIL interpreter's time is not a Core ML latency (Core ML runs only on "
                                 "macOS/iOS)")
            self._predict = lambda x: program(**{INPUT: x})[OUTPUT]

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        if lr.shape != (1, 3, *self.tile) or lr.dtype != np.float32:
            raise ValueError(f"this .mlpackage takes float32 tiles of 1x3x{self.tile[0]}x{self.tile[1]}, got {lr.dtype} "
                             f"{'x'.join(map(str, lr.shape))}")
        return np.asarray(self._predict(lr), np.float32)
