"""ExecuTorch with the XNNPACK delegate: export, lower and serialise, each a visible step, and a runner for the file."""
from __future__ import annotations

import hashlib
import importlib
import subprocess
import sys
import tempfile
import types
from collections import Counter
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import torch

from export.private_hooks import executorch_threads, need
from export.shared_flatbuffer import pack_shared
from seemore_edge.core.errors import UserError
from seemore_edge.core.imageio import atomic_write

SUFFIX = ".pte"
PRECISIONS = ("fp32", "int8")
RUNTIME = "executorch"  # what a card's executed_by says when this runtime measured the file
PACKAGE = "executorch"

def export(source, precision: str, tile: tuple[int, int], path: Path, passes: tuple[str, ...] | None = None) -> dict:
    """Write the FP32 deploy form or the folded INT8 graph as a ``.pte`` for one LR input of ``tile`` = (height, width),
    with the size ``passes`` named (all by default; any subset gives a file that computes the same).

    Returns the delegation audit: partitions and, per op type, how many nodes XNNPACK took and how many it left.
    """
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower

    module = source.int8(fold_quantize=True) if precision == "int8" else source.fp32()
    example = torch.rand(1, 3, *tile)
    program = torch.export.export(module, (example,))                                        # 1. export
    partitioner = XnnpackPartitioner(configs=partitioner_configs(getattr(source, "variant", "faithful") == "integer"))
    passes = tuple(PASSES) if passes is None else tuple(passes)
    unknown = sorted(set(passes) - set(PASSES))
    if unknown:
        raise UserError(f"unknown .pte pass {unknown[0]!r}; available: {', '.join(PASSES)}")
    with ExitStack() as stack:
        stack.enter_context(int8_resize())
        for name in passes:
            stack.enter_context(PASSES[name]())
        lowered = to_edge_transform_and_lower(program, partitioner=[partitioner])                # 2. lower
    # 16-byte alignment instead of 128 for the weight, bias and scale buffers: XNNPACK copies them into its own packed
    # layout at load anyway, so the padding would only make the file bigger.
    config = ExecutorchBackendConfig(segment_alignment=16, constant_tensor_alignment=16, delegate_alignment=16)
    buffer = lowered.to_executorch(config).buffer                                             # 3. serialise
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(buffer))
    info = get_delegation_info(lowered.exported_program().graph_module)
    table = info.get_operator_delegation_dataframe()
    ops = {row.op_type: {"delegated": int(row.occurrences_in_delegated_graphs),
                         "not_delegated": int(row.occurrences_in_non_delegated_graphs)}
           for row in table.itertuples() if row.op_type != "Total"}
    left = {op: n["not_delegated"] for op, n in ops.items() if n["not_delegated"] and op != "getitem"}
    return {"backend": "XNNPACK", "partitions": int(info.num_delegated_subgraphs), "ops": ops,
            "not_delegated": left, "passes": list(passes)}


def partitioner_configs(integer: bool = False) -> list:
    """XNNPACK's partitioner configs, with GELU and rsqrt (and in the ``integer`` form the bilinear resize) also taken
    between INT8 quantize/dequantize pairs.

    ExecuTorch lists all three as FP32-only, so a quantized GELU became INT8 -> float convert, float GELU, float -> INT8
    convert, a third of the XNNPACK nodes of SeemoRe-T's INT8 graph. XNNPACK runs a unary op on
    QS8 tensors as a 256-entry lookup table of the float function on the dequantized input, requantized: the very
    values the PyTorch graph computes (dequantize, float op, quantize), in one byte-wide pass (test_export compares
    the two lowerings' outputs). XNNPACK's resize has an INT8 kernel of its own, which takes one grid for input and
    output: the integer form (quant/integer_form.py) quantizes its resize so; the faithful model's float resize sits
    between two different grids, and XNNPACK keeps taking it in float there."""
    from executorch.backends.xnnpack.partition.config import ALL_PARTITIONER_CONFIGS
    from executorch.backends.xnnpack.partition.config.generic_node_configs import (GeluConfig,
                                                                                   ReciprocalSquareRootConfig,
                                                                                   UpsampleBilinear2dConfig)
    from executorch.backends.xnnpack.partition.config.xnnpack_config import ConfigPrecisionType

    def also_int8(config):
        class AlsoInt8(config):
            def supported_precision_types(self):
                return [ConfigPrecisionType.FP32, ConfigPrecisionType.STATIC_QUANT]
        AlsoInt8.__name__ = f"Int8{config.__name__}"
        return AlsoInt8
    int8_too = (GeluConfig, ReciprocalSquareRootConfig) + ((UpsampleBilinear2dConfig,) if integer else ())
    return [also_int8(c) if c in int8_too else c for c in ALL_PARTITIONER_CONFIGS]


@contextmanager
def int8_resize():
    """The bilinear resize serialised on its INT8 grids when the graph quantizes it (the integer form does).

    ExecuTorch's visitor for it defines its output without quantization parameters, so an INT8 resize (which
    partitioner_configs lets XNNPACK take) fed an INT8 add a float tensor, and XNNPACK refused the add at load. Here
    the visitor first defines its input and output with the parameters of the dequantize before it and the quantize
    after it, as the visitors of add or multiply do; a float resize finds none and stays as it was."""
    importlib.import_module("executorch.backends.xnnpack.operators")  # registers every visitor
    from executorch.backends.xnnpack.operators.quant_params import QuantParams

    visitor = need("executorch-node-visitors")["aten.upsample_bilinear2d.vec"]
    float_define = visitor.define_node

    def define_node(self, node, xnn_graph, vals_to_ids, debug_handle):
        source = node.args[0]
        self.define_tensor(source, xnn_graph, vals_to_ids, True,
                           quant_params=QuantParams.from_inputs(source, self._exported_program))
        self.define_tensor(node, xnn_graph, vals_to_ids, True, quant_params=QuantParams.from_outputs(node))
        return float_define(self, node, xnn_graph, vals_to_ids, debug_handle)

    visitor.define_node = define_node
    try:
        yield
    finally:
        visitor.define_node = float_define


# The lowering's size passes, each optional and named (export --help lists them; cards record which ran). Each
# replaces one function of ExecuTorch's XNNPACK serialiser for the length of one lowering, through the private names
# export/private_hooks.py checks against the installed version. test_export measures what each one saves.

@contextmanager
def number_constants():
    """Constant names: XNNPACK names every constant (each weight and bias) by its SHA-256
    in hex, stored twice, in the delegate's graph and in the program's named-data table. The runtime only matches
    names, so each distinct digest is numbered instead (hex, in order of first use): equal data still share a name and
    different data never do."""
    node_visitor = importlib.import_module("executorch.backends.xnnpack.operators.node_visitor")
    need("pass number-constants")
    numbers: dict[str, str] = {}

    class Numbered:
        def __init__(self, data: bytes):
            self._digest = hashlib.sha256(data).hexdigest()

        def hexdigest(self) -> str:
            return numbers.setdefault(self._digest, format(len(numbers), "x"))

    saved = node_visitor.hashlib
    node_visitor.hashlib = types.SimpleNamespace(sha256=Numbered)
    try:
        yield
    finally:
        node_visitor.hashlib = saved


@contextmanager
def share_vectors():
    """Shared vectors: ExecuTorch writes the delegate's FlatBuffer through flatc from JSON, one vector per use; about
    1,000 tensor values of SeemoRe-T repeat a handful of shapes. The graph is read back and written again with each
    distinct vector and string stored once (a FlatBuffer may point any number of tables at one vector)."""
    serialize = importlib.import_module("executorch.backends.xnnpack.serialization.xnnpack_graph_serialize")
    flatc_json_to_binary = need("pass share-vectors")
    with xnnpack_bindings() as (graph_type, _):
        def shared(graph) -> bytes:
            data = flatc_json_to_binary(graph)
            return pack_shared(graph_type.InitFromPackedBuf(data, 0), b"XN01", len(data))

        serialize.convert_to_flatbuffer = shared
        try:
            yield
        finally:
            serialize.convert_to_flatbuffer = flatc_json_to_binary


@contextmanager
def inline_channel_scales():
    """Per-channel weight scales inline: ExecuTorch stores each conv's scales as a named constant of their own, with a
    segment entry, a named-data entry, a constant-data entry and alignment padding for each of the model's small
    arrays. The schema also takes them inline in the tensor's quantization parameters, which the runtime reads when no
    buffer index is set; same floats, same kernels."""
    from executorch.backends.xnnpack.serialization.xnnpack_graph_schema import PerChannelQuant

    visitor = importlib.import_module("executorch.backends.xnnpack.operators.node_visitor").NodeVisitor
    buffered_quant_params = need("pass inline-channel-scales")

    def inline_quant_params(self, quant_params, xnn_graph, external_tag=None):
        if not quant_params.per_channel or quant_params.per_channel_group:
            return buffered_quant_params(self, quant_params, xnn_graph, external_tag)
        scale = quant_params.scale.detach().to(torch.float32).flatten()
        return PerChannelQuant(scale=scale.tolist(), channel_dim=quant_params.axis, scale_buffer_idx=0,
                               num_scales=scale.numel())

    visitor.get_quant_params = inline_quant_params
    try:
        yield
    finally:
        visitor.get_quant_params = buffered_quant_params


PASSES = {"number-constants": number_constants, "share-vectors": share_vectors,
          "inline-channel-scales": inline_channel_scales}


@contextmanager
def xnnpack_bindings():
    """(``XNNGraphT``, {node union tag: node kind}) for the installed XNNPACK schema, generated into a temporary
    folder and unloaded on exit, so no stale bindings outlive the call."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            graph_type = _xnnpack_graph_type(Path(folder))
            unions = sys.modules["fb_xnnpack.XNodeUnion"].XNodeUnion
            yield graph_type, {v: k for k, v in vars(unions).items() if not k.startswith("_")}
        finally:
            for name in [m for m in sys.modules if m == "fb_xnnpack" or m.startswith("fb_xnnpack.")]:
                del sys.modules[name]


def _xnnpack_graph_type(folder: Path):
    """``XNNGraphT`` (FlatBuffers' Python object API) for the XNNPACK schema of the installed ExecuTorch, generated
    into ``folder`` by the flatc that ExecuTorch bundles. flatc 24.3 spells the union helpers two ways; the calls are
    pointed at the names it defines."""
    schema = folder / "schema.fbs"
    schema.write_bytes(need("xnnpack-schema")())
    subprocess.run([need("executorch-flatc")(), "--python", "--gen-object-api", "-o", str(folder), str(schema)], check=True,
                   capture_output=True)
    sys.path.insert(0, str(folder))
    try:
        for union, defined in [("XNodeUnion", "XnodeUnionCreator"), ("XValueUnion", "XvalueUnionCreator"),
                               ("XNNQuantParams", "XnnquantParamsCreator")]:
            module = importlib.import_module(f"fb_xnnpack.{union}")
            setattr(module, f"{union}Creator", getattr(module, defined))
        return importlib.import_module("fb_xnnpack.XNNGraph").XNNGraphT
    finally:
        sys.path.remove(str(folder))


FLOAT_RULE = ("XNNPACK nodes of every delegated graph with a float (fp32, fp16, bf16) input or output value, and every "
              "kernel the program runs outside XNNPACK; the Convert of the model's input and the Convert to its output "
              "are the boundary, not counted")


def float_ops(path: Path) -> Counter:
    """What a ``.pte`` computes in float between its input and its output, by XNNPACK node kind (read from the
    serialised XNNPACK graphs, the nodes the runtime builds its operators from), plus any kernel left outside the
    delegate as ``<op> (not delegated)``. Inside an INT8 graph each float island shows as Converts around float
    nodes."""
    program = need("executorch-read-pte")(Path(path).read_bytes()).program
    header_type = need("xnnpack-header")
    found = Counter()
    with xnnpack_bindings() as (graph_type, node_kinds):
        for plan in program.execution_plan:
            for delegate in plan.delegates:
                if delegate.id != "XnnpackBackend":
                    found[f"{delegate.id} (not XNNPACK)"] += 1
                    continue
                blob = program.backend_delegate_data[delegate.processed.index].data
                header = header_type.from_bytes(blob[:header_type.EXPECTED_LENGTH])
                graph = graph_type.InitFromPackedBuf(
                    blob[header.flatbuffer_offset:header.flatbuffer_offset + header.flatbuffer_size], 0)
                found += _float_nodes(graph, node_kinds)
            for chain in plan.chains:
                for instruction in chain.instructions:
                    if hasattr(instruction.instr_args, "op_index"):
                        found[f"{plan.operators[instruction.instr_args.op_index].name} (not delegated)"] += 1
    return found


def _float_nodes(graph, node_kinds: dict) -> Counter:
    from executorch.backends.xnnpack.serialization.xnnpack_graph_schema import XNNDatatype

    kinds = (XNNDatatype.xnn_datatype_fp32, XNNDatatype.xnn_datatype_fp16, XNNDatatype.xnn_datatype_pfp32,
             XNNDatatype.xnn_datatype_bf16)
    tensors = [getattr(v.xvalueUnion, "tensorValue", v.xvalueUnion) for v in graph.xvalues]
    floats = {t.idOut for t in tensors if t.datatype in kinds}
    inputs, outputs = set(graph.inputIds), set(graph.outputIds)
    found = Counter()
    for node in graph.xnodes:
        kind = node_kinds[node.xnodeUnionType].removeprefix("XNN")
        fields = vars(node.xnodeUnion)
        ids = [v for k, v in fields.items() if k.endswith("Id") and isinstance(v, int)]
        ids += [int(i) for k, v in fields.items() if k.endswith("Ids") and v is not None for i in v]
        if not floats.intersection(ids):
            continue
        if kind == "Convert" and (fields["inputId"] in inputs or fields["outputId"] in outputs):
            continue
        found[kind] += 1
    return found


class Runner:
    """Maps a float32 1x3xThxTw LR tile in [0, 1] to its SR tile through the ExecuTorch runtime."""

    def __init__(self, path: Path, tile: tuple[int, int], threads: int | None = None):
        from executorch.runtime import Runtime

        if threads:  # ExecuTorch's own pool, which the XNNPACK delegate runs on (default: one thread per core)
            executorch_threads(threads)
        self.tile = tile
        self.method = Runtime.get().load_program(str(path)).load_method("forward")

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        if lr.shape != (1, 3, *self.tile) or lr.dtype != np.float32:
            raise ValueError(f"this .pte takes float32 tiles of 1x3x{self.tile[0]}x{self.tile[1]}, got {lr.dtype} "
                             f"{'x'.join(map(str, lr.shape))}")
        return self.method.execute([torch.from_numpy(lr)])[0].numpy()
