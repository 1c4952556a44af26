"""Where a ``.pte``'s time goes: ExecuTorch's ETDump of XNNPACK's own per-operator timings, grouped by kernel.

The pip runtime records one event per XNNPACK operator and run when loaded with ``enable_etdump``; the devtools
Inspector reads them back. Kernel names say the arithmetic (``QC8``/``QS8``: INT8; ``F32``: float); ``Convert`` is a
quantize or dequantize; elementwise kernels (Add, Multiply, GELU, ...) do not say whether they run INT8 or float.
"""
from __future__ import annotations

import re
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from export.private_hooks import executorch_threads, load_pte_with_etdump

WARMUP = 2


def profile(path: Path, tile: tuple[int, int], threads: int, runs: int = 10) -> dict:
    """Median time per run of every XNNPACK kernel kind for one input of ``tile`` = (height, width), slowest first,
    and the median wall time of the same calls (``call_ms``): what the kernels' sum leaves out (handing each kernel
    to the thread pool and waiting for it, copying the input and output, ETDump's own records) is a cost that only
    fewer kernels reduce."""
    from executorch.devtools import Inspector
    executorch_threads(threads)
    module = load_pte_with_etdump(str(path))
    x = torch.rand(1, 3, *tile)
    calls = []
    for _ in range(WARMUP + runs):
        t0 = time.perf_counter()
        module.forward([x])
        calls.append((time.perf_counter() - t0) * 1e3)
    with tempfile.TemporaryDirectory() as tmp:
        etdump = Path(tmp) / "run.etdump"
        module.write_etdump_result_to_file(str(etdump))
        frame = Inspector(etdump_path=str(etdump)).to_dataframe()
    ops = frame[(frame.event_block_name == "Execute") & frame.is_delegated_op.astype(bool)]
    kinds: dict[str, dict] = defaultdict(lambda: {"ops": 0, "ms": 0.0})
    for name, raw in zip(ops.event_name, ops.raw):
        kind = re.sub(r" #\d+$", "", name)
        kinds[kind]["ops"] += 1
        kinds[kind]["ms"] += float(np.median(raw[WARMUP:] if len(raw) > WARMUP else raw))
    total = sum(k["ms"] for k in kinds.values())
    table = [{"kernel": name, "ops": k["ops"], "ms": round(k["ms"], 3), "pct": round(100 * k["ms"] / total, 1)}
             for name, k in sorted(kinds.items(), key=lambda kv: -kv[1]["ms"])]
    return {"file": path.name, "tile": list(tile), "threads": threads, "runs": runs, "ops": int(len(ops)),
            "total_ms": round(total, 2), "call_ms": round(float(np.median(calls[WARMUP:])), 2), "kernels": table}


def summary(table: list[dict]) -> dict:
    """Time by what the kernel does: the MACs (convs), the INT8/float conversions, and the elementwise rest."""
    groups = {"conv (IGEMM, GEMM, depthwise)": ("Convolution", "Fully Connected"), "quantize/dequantize": ("Convert",)}
    out = defaultdict(float)
    for row in table:
        group = next((g for g, prefixes in groups.items() if row["kernel"].startswith(prefixes)), "elementwise/other")
        out[group] += row["pct"]
    return {k: round(v, 1) for k, v in out.items()}


def conv_family(kernel: str) -> str | None:
    """The convolution family (``export.conv_floor.conv_kind``'s names) an XNNPACK kernel computes; None for the
    rest. XNNPACK runs 1x1 convolutions as GEMMs ("Fully Connected"), other dense ones as IGEMM."""
    if "DWConv" in kernel:
        return "depthwise"
    if "IGEMM" in kernel:
        return "dense kxk"
    return "1x1" if kernel.startswith("Fully Connected") or kernel.endswith(" GEMM") else None
