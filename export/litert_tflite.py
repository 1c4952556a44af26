"""LiteRT (TFLite) through litert-torch, and a runner on ``ai_edge_litert``'s interpreter with its XNNPACK delegate.

INT8: litert-torch turns the quantize/dequantize pairs of a PT2E graph into INT8 kernels ("STATIC" mode) when the
weights keep their own quantize/dequantize (``fold_quantize=False``); the quantizer handed to it only selects that
mode. When the model begins or ends in an INT8 op (the integer T-x4-int, at both ends) the converter leaves that
input or output INT8 with its scale and zero point (the first quantize or the last dequantize dropped); the
``float-io`` pass gives them back, as the ``.pte`` has them, because LiteRT.js has no INT8 tensors. The runner and the
card still take INT8 ends with their parameters (a file exported without the pass); the shipped T-x4-qat ends in a
float add (its residual stream is float), so its output is float32 either way.

LiteRT's XNNPACK delegate takes GELU and RSQRT in float only; the converter's INT8 ones ran in LiteRT's own kernels
and cut the graph into 61 partitions. :func:`float_where_xnnpack_needs_it` wraps them in dequantize/quantize so the
whole graph is one partition (tests/test_private_hooks.py shows the partitions it removes; the bench, its speed).
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from export.private_hooks import litert_ops
from export.shared_flatbuffer import pack_shared
from quant.integer_form import pixel_shuffles_back
from seemore_edge.core.errors import UserError
from seemore_edge.core.imageio import atomic_write

SUFFIX = ".tflite"
PRECISIONS = ("fp32", "int8")
RUNTIME = "litert"  # what a card's executed_by says when this runtime measured the file
PACKAGE = "litert-torch"
# LiteRT-Torch prints a line per conversion stage, and its MLIR converter logs C++ INFO lines ("Remove trivial
# rescale op", op counts) that ask the user to fix a graph they did not write; our own "exporting <file> ..." line says
# what runs. A user who wants them back sets these variables.
QUIET = {"LITERT_TORCH_SHOW_PROGRESS": "n", "TF_CPP_MIN_LOG_LEVEL": "2"}


def export(source, precision: str, tile: tuple[int, int], path: Path, passes: tuple[str, ...] | None = None) -> dict:
    """Convert, then apply the named ``passes`` to the FlatBuffer (all by default; each is optional, and the file
    computes the same without it, only larger or in more delegate partitions)."""
    passes = tuple(PASSES) if passes is None else tuple(passes)
    unknown = sorted(set(passes) - set(PASSES))
    if unknown:
        raise UserError(f"unknown .tflite pass {unknown[0]!r}; available: {', '.join(PASSES)}")
    content = apply_passes(convert(source, precision, tile), passes)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(content))
    return audit(path) | {"passes": list(passes)}


def convert(source, precision: str, tile: tuple[int, int]) -> bytes:
    """The FlatBuffer LiteRT-Torch writes for one LR input of ``tile``, before any of our passes."""
    for key, value in QUIET.items():
        os.environ.setdefault(key, value)
    import litert_torch

    example = torch.rand(1, 3, *tile)
    if precision == "int8":
        from litert_torch.quantize import pt2e_quantizer
        from litert_torch.quantize.quant_config import QuantConfig

        static = pt2e_quantizer.PT2EQuantizer().set_global(
            pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True))
        graph = pixel_shuffles_back(source.int8(fold_quantize=False))
        for module in graph.modules():  # the converted graph computes eval semantics already (it holds no dropout or
            module.training = False     # batch-norm state); only its flag said training, and LiteRT-Torch warned
        model = litert_torch.convert(graph, (example,), quant_config=QuantConfig(pt2e_quantizer=static))
    else:
        model = litert_torch.convert(source.fp32(), (example,))
    return model.model_content()


def apply_passes(content: bytes, passes: tuple[str, ...]) -> bytes:
    for name in passes:
        content = PASSES[name](content)
    return content


FLOAT_ONLY_IN_XNNPACK = ("GELU", "RSQRT")


def float_where_xnnpack_needs_it(content: bytes) -> bytes:
    """Each INT8 op that LiteRT's XNNPACK delegate takes only in float becomes dequantize, the float op, quantize.

    The float op computes what the INT8 kernel's lookup table tabulates (the same op and options, on the same
    dequantized values), and the quantize lands on the same output grid, so the numbers change by rounding only; the
    graph stays in one delegate partition instead of leaving XNNPACK, and its threads, for each of these ops."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    ops = schema.BuiltinOperator

    def code_of(builtin: int) -> int:
        return _opcode(model, builtin)

    float_only = {getattr(ops, name) for name in FLOAT_ONLY_IN_XNNPACK}
    for graph in model.subgraphs:
        def float_twin(index: int) -> int:
            twin = schema.TensorT()
            twin.shape, twin.type, twin.buffer = graph.tensors[index].shape, schema.TensorType.FLOAT32, 0
            graph.tensors.append(twin)
            return len(graph.tensors) - 1

        def op(builtin: int, inputs: list[int], outputs: list[int]):
            new = schema.OperatorT()
            new.opcodeIndex, new.inputs, new.outputs = code_of(builtin), inputs, outputs
            return new

        rewritten = []
        for node in graph.operators:
            code = model.operatorCodes[node.opcodeIndex]
            if (max(code.builtinCode, code.deprecatedBuiltinCode) not in float_only
                    or graph.tensors[node.inputs[0]].type != schema.TensorType.INT8):
                rewritten.append(node)
                continue
            (q_in,), (q_out,) = node.inputs, node.outputs
            f_in, f_out = float_twin(q_in), float_twin(q_out)
            node.inputs, node.outputs = [f_in], [f_out]
            rewritten += [op(ops.DEQUANTIZE, [q_in], [f_in]), node, op(ops.QUANTIZE, [f_out], [q_out])]
        graph.operators = rewritten
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _opcode(model, builtin: int) -> int:
    """The index of ``builtin`` in the model's operator codes, added when the model has none."""
    from ai_edge_litert import schema_py_generated as schema

    for i, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return i
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def float_io(content: bytes) -> bytes:
    """An INT8 input enters the graph through one QUANTIZE from a float32 tensor, an INT8 output leaves it through one
    DEQUANTIZE into one, as the ``.pte``'s do.

    LiteRT.js (2.5) has tensors of float32, int32 and uint8 only, so the browser could not feed or read the integer
    model's INT8 ends ("Element type INT8 is not supported"), and the card promises every app a float32 input. The
    two ops compute what a runner would with the tensors' own scale and zero point, are the boundary the float-op
    audit leaves out (FLOAT_RULE), and XNNPACK takes them in the same partition. Float ends are left as they are."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    for g, graph in enumerate(model.subgraphs):
        def float_end(index: int) -> int:
            quantized = graph.tensors[index]
            end = schema.TensorT()
            end.shape, end.shapeSignature, end.type, end.buffer, end.name = (
                quantized.shape, quantized.shapeSignature, schema.TensorType.FLOAT32, 0, quantized.name)
            graph.tensors.append(end)
            return len(graph.tensors) - 1

        def op(builtin: int, inputs: list[int], outputs: list[int]):
            new = schema.OperatorT()
            new.opcodeIndex, new.inputs, new.outputs = _opcode(model, builtin), inputs, outputs
            return new

        def rename(side: str, old: int, new: int) -> None:
            for signature in model.signatureDefs or []:
                if signature.subgraphIndex == g:
                    for entry in getattr(signature, side):
                        if entry.tensorIndex == old:
                            entry.tensorIndex = new

        for k, index in enumerate(graph.inputs):
            if graph.tensors[index].type == schema.TensorType.INT8:
                graph.inputs[k] = float_end(index)
                graph.operators.insert(0, op(schema.BuiltinOperator.QUANTIZE, [graph.inputs[k]], [index]))
                rename("inputs", index, graph.inputs[k])
        for k, index in enumerate(graph.outputs):
            if graph.tensors[index].type == schema.TensorType.INT8:
                graph.outputs[k] = float_end(index)
                graph.operators.append(op(schema.BuiltinOperator.DEQUANTIZE, [index], [graph.outputs[k]]))
                rename("outputs", index, graph.outputs[k])
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def strip_names(content: bytes) -> bytes:
    """Tensor names: the converter names each tensor after the PyTorch ops behind it, a large part of a small INT8
    file. Inputs and outputs keep their signature names (the signature table stays); runners and apps
    address tensors by index."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    model.description = None
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            tensor.name = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def share_vectors(content: bytes) -> bytes:
    """Repeats written once (:func:`pack_shared`): every per-channel INT8 tensor carries int64 zero points, one per
    channel and all 0 (symmetric weights), and most activations share a shape."""
    from ai_edge_litert.tools import flatbuffer_utils

    return pack_shared(flatbuffer_utils.convert_bytearray_to_object(bytearray(content)), b"TFL3", len(content))


# Applied in this order; float-gelu-rsqrt changes nothing in a float model (it rewrites INT8 GELU/RSQRT only),
# float-io nothing in a model whose ends are float already (the faithful T-x4-qat's).
PASSES = {"float-gelu-rsqrt": float_where_xnnpack_needs_it, "float-io": float_io,
          "strip-names": strip_names, "share-vectors": share_vectors}


def _interpreter(path: Path, delegate: bool, threads: int | None = None):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if delegate else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = Interpreter(model_path=str(path), experimental_op_resolver_type=resolver, num_threads=threads)
    it.allocate_tensors()
    return it


def audit(path: Path) -> dict:
    """Ops by type and the dtype they compute in (before delegation), and how many XNNPACK partitions the default
    delegate makes of them (1 = the whole graph in one delegate)."""
    plain = _interpreter(path, delegate=False)
    tensors = {t["index"]: t for t in plain.get_tensor_details()}

    def dtype(op) -> str:
        outs = [tensors[i]["dtype"].__name__ for i in op["outputs"] if i in tensors]
        return outs[0] if outs else "-"
    ops = litert_ops(plain)
    table = Counter(f"{op['op_name']} {dtype(op)}" for op in ops)
    delegated = _interpreter(path, delegate=True)
    partitions = sum(op["op_name"] == "DELEGATE" for op in litert_ops(delegated))
    def end(details: dict) -> dict:
        return {"dtype": details["dtype"].__name__, "scale": float(details["quantization"][0]),
                "zero_point": int(details["quantization"][1])}
    return {"backend": "XNNPACK (LiteRT default delegate)", "partitions": int(partitions),
            "ops": dict(sorted(table.items())), "input": end(plain.get_input_details()[0]),
            "output": end(plain.get_output_details()[0])}


FLOAT_RULE = ("ops of the main subgraph with a FLOAT32/FLOAT16 input or output tensor, before delegation; the "
              "QUANTIZE of the model's input and the DEQUANTIZE of its output are the boundary, not counted")


def float_ops(path: Path) -> Counter:
    """What a ``.tflite`` computes in float between its input and its output, by op (read from the FlatBuffer's op
    codes and tensor types). Inside an INT8 graph each float island shows as its DEQUANTIZE, its float ops and its
    QUANTIZE: the conversions an integer-only accelerator would hand back to the CPU."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    floats = (schema.TensorType.FLOAT32, schema.TensorType.FLOAT16)
    graph = model.subgraphs[0]
    inputs, outputs = set(graph.inputs), set(graph.outputs)
    found = Counter()
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        touched = [i for i in [*op.inputs, *op.outputs] if i >= 0]
        if not any(graph.tensors[i].type in floats for i in touched):
            continue
        if (name == "QUANTIZE" and op.inputs[0] in inputs) or (name == "DEQUANTIZE" and op.outputs[0] in outputs):
            continue
        found[name] += 1
    return found


class Runner:
    """Maps a float32 1x3xThxTw LR tile in [0, 1] to its float32 SR tile; INT8 inputs and outputs are (de)quantized with
    the model's own parameters."""

    def __init__(self, path: Path, tile: tuple[int, int], threads: int | None = None):
        self.tile = tile
        self.it = _interpreter(path, delegate=True, threads=threads)
        self.inp = self.it.get_input_details()[0]
        self.out = self.it.get_output_details()[0]

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        if lr.shape != (1, 3, *self.tile) or lr.dtype != np.float32:
            raise ValueError(f"this .tflite takes float32 tiles of 1x3x{self.tile[0]}x{self.tile[1]}, got {lr.dtype} "
                             f"{'x'.join(map(str, lr.shape))}")
        if self.inp["dtype"] != np.float32:  # an INT8 input (the converter folds a leading quantize into it)
            scale, zero = self.inp["quantization"]
            info = np.iinfo(self.inp["dtype"])
            lr = np.clip(np.round(lr / scale) + zero, info.min, info.max).astype(self.inp["dtype"])
        self.it.set_tensor(self.inp["index"], lr)
        self.it.invoke()
        y = self.it.get_tensor(self.out["index"])
        if y.dtype != np.float32:
            scale, zero = self.out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        return y
