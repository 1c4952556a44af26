"""This CPU's throughput limit through each runtime: two dense 3x3 convolutions (256 channels, 96x96) exported and run
exactly as the model's artifacts are, in FP32 and INT8. A contender's GMAC/s over this figure says how much of the
machine its runtime actually uses; the rest is memory traffic, small-channel ops and glue.

Beside it, the depthwise reference: XNNPACK's INT8 depthwise kernels on a well-shaped case, four 3x3 depthwise
convolutions on 64 channels (whole 32- and 16-channel tiles, the 9-tap kernel most of the model's depthwise convs run
in) at the frame's 180x320. A depthwise conv does 9 MACs per loaded value where a dense one does hundreds, so its rate
sits far below the dense limit; it is a point of comparison for the model's depthwise figures, not a bound (the
model's mix of 9-, 2- and 16-tap convs on 36 channels has run faster than it)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from export import backend
from quant.quantizer import in_modules, module_path, partly_float_quantizer

CHANNELS, SIDE = 256, 96
# A 1x1 conv widens the 3-channel tile the backends export (0.07% of the MACs), then the two dense convs.
GMACS = (3 * CHANNELS + 2 * CHANNELS * CHANNELS * 9) * SIDE * SIDE / 1e9


class DenseConvs(nn.Module):
    def __init__(self):
        super().__init__()
        self.widen = nn.Conv2d(3, CHANNELS, 1)
        self.a = nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1)
        self.b = nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1)

    def forward(self, x):
        return self.b(self.a(self.widen(x)))


DW_CHANNELS, DW_TILE, DW_CONVS = 64, (180, 320), 4
DW_GMACS = (3 * DW_CHANNELS + DW_CONVS * DW_CHANNELS * 9) * DW_TILE[0] * DW_TILE[1] / 1e9


class DepthwiseConvs(nn.Module):
    def __init__(self):
        super().__init__()
        self.widen = nn.Conv2d(3, DW_CHANNELS, 1)
        self.convs = nn.Sequential(*(nn.Conv2d(DW_CHANNELS, DW_CHANNELS, 3, padding=1, groups=DW_CHANNELS)
                                     for _ in range(DW_CONVS)))

    def forward(self, x):
        return self.convs(self.widen(x))


# kind -> (module, tile, GMACs per call, file stem, precisions); the depthwise reference is read against INT8 only
LIMITS = {"dense": (DenseConvs, (SIDE, SIDE), GMACS, "limit", ("fp32", "int8")),
          "depthwise": (DepthwiseConvs, DW_TILE, DW_GMACS, "dwlimit", ("int8",))}


class PtqSource:
    """An export source (see export/__init__.py) for a module with no trained quantization: INT8 by post-training
    quantization on one random input, with the quantizer the model's QAT used. For throughput only: these artifacts
    are timed, never scored. ``float_modules``: submodules left unquantized."""

    def __init__(self, model: nn.Module, tile: tuple[int, int], float_modules: list[str] = ()):
        self.model, self.tile, self.float_modules = model.eval(), tile, list(float_modules)

    def fp32(self):
        return self.model

    def int8(self, fold_quantize: bool = True):
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import get_symmetric_quantization_config

        x = torch.rand(1, 3, *self.tile)
        graph = torch.export.export(self.model, (x,)).module()
        quantizer = partly_float_quantizer(lambda node: in_modules(module_path(node)[0], self.float_modules),
                                           get_symmetric_quantization_config(is_per_channel=True))
        prepared = prepare_pt2e(graph, quantizer)
        prepared(x)
        return convert_pt2e(prepared, fold_quantize=fold_quantize)


def export_limits(folder: Path, formats: list[str]) -> dict[tuple[str, str, str], Path]:
    """The limit artifacts, (kind, format, precision) -> path, in ``folder`` (reused when already there)."""
    made = {}
    for kind, (module, tile, _, stem, precisions) in LIMITS.items():
        torch.manual_seed(0)
        source = PtqSource(module(), tile)
        for fmt in formats:
            for precision in precisions:
                path = folder / f"{stem}-{precision}{backend(fmt).SUFFIX}"
                if not path.exists():
                    backend(fmt).export(source, precision, tile, path)
                made[(kind, fmt, precision)] = path
    return made


# Instructions that give a CPU its INT8 speed: XNNPACK's INT8 GEMMs use them when present and fall back to 16-bit
# multiply-adds (x86 AVX2) otherwise, where INT8 is hardly faster than FP32. Phones from 2018 on have ARM's dotprod.
INT8_DOT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")


def cpu_features() -> dict:
    """This CPU's name, SIMD width and INT8 dot-product instructions, from /proc/cpuinfo (empty where there is none)."""
    info = Path("/proc/cpuinfo")
    text = info.read_text() if info.exists() else ""
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith(("model name", "Hardware"))), "unknown")
    flags = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags |= set(line.split(":", 1)[1].split())
    simd = [f for f in ("avx2", "fma", "avx512f", "asimd", "sve") if f in flags]
    return {"cpu": name, "simd": simd, "int8_dot_product": [f for f in INT8_DOT_FLAGS if f in flags]}
