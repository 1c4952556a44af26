"""ExecuTorch with the XNNPACK delegate: export, lower and serialise, each a visible step, and a runner for the file."""
from __future__ import annotations

import hashlib
import types
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from seemore_edge.imageio import atomic_write

SUFFIX = ".pte"
PRECISIONS = ("fp32", "int8")
PACKAGE = "executorch"


def export(source, precision: str, tile: int, path: Path) -> dict:
    """Write the FP32 deploy form or the folded INT8 graph as a ``.pte`` for one ``tile`` x ``tile`` LR input.

    Returns the delegation audit: partitions and, per op type, how many nodes XNNPACK took and how many it left.
    """
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower

    module = source.int8(fold_quantize=True) if precision == "int8" else source.fp32()
    example = torch.rand(1, 3, tile, tile)
    program = torch.export.export(module, (example,))                                        # 1. export
    with short_constant_keys():
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])    # 2. lower
    # 16-byte alignment instead of 128 for the ~600 weight, bias and scale buffers: about 50 KB less padding for
    # SeemoRe-T, and XNNPACK copies them into its own packed layout at load anyway.
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
            "not_delegated": left}


@contextmanager
def short_constant_keys(digits: int = 16):
    """XNNPACK names every constant (weights, biases, per-channel scales: ~650 in SeemoRe-T) by its SHA-256 in hex, and
    the name is stored twice, in the delegate's graph and in the program's named-data table. The first ``digits`` hex
    digits (64 bits) name them just as uniquely, and the runtime only matches names: 68 KB less of a 565 KB INT8 file
    (a one-off check; test_export checks the names and that the file still loads and matches). Scoped to the
    lowering, so nothing else sees the shortened hash."""
    from executorch.backends.xnnpack.operators import node_visitor

    class ShortHash:
        def __init__(self, data: bytes):
            self._hash = hashlib.sha256(data)

        def hexdigest(self) -> str:
            return self._hash.hexdigest()[:digits]

    saved = node_visitor.hashlib
    node_visitor.hashlib = types.SimpleNamespace(sha256=ShortHash)
    try:
        yield
    finally:
        node_visitor.hashlib = saved


class Runner:
    """Maps a float32 1x3xTxT LR tile in [0, 1] to its SR tile through the ExecuTorch runtime."""

    def __init__(self, path: Path, tile: int, threads: int | None = None):
        from executorch.runtime import Runtime

        if threads:  # ExecuTorch's own pool, which the XNNPACK delegate runs on (default: one thread per core)
            from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

            _unsafe_reset_threadpool(threads)
        self.tile = tile
        self.method = Runtime.get().load_program(str(path)).load_method("forward")

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        if lr.shape != (1, 3, self.tile, self.tile) or lr.dtype != np.float32:
            raise ValueError(f"this .pte takes float32 tiles of 1x3x{self.tile}x{self.tile}, got {lr.dtype} "
                             f"{'x'.join(map(str, lr.shape))}")
        return self.method.execute([torch.from_numpy(lr)])[0].numpy()
