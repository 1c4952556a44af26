"""The floor under a model's latency in a runtime: its convolutions alone, same shapes, same order, same weights,
exported and run exactly as its artifacts are, with every other op taken out.

No rewrite of the glue (GELU, LayerNorm arithmetic, residual adds, converts) can make the model faster than this; only
other convolution shapes or a faster CPU can. It is the per-runtime figure behind "what would close the gap": LiteRT's
Python wheel has no per-operator profiler, so this measures the convolutions' share there directly, and for
ExecuTorch it sits beside the ETDump's in-graph figure as a check.

Each convolution reads the latest tensor of the shape it read in the model (the input for the first); the tensors no
convolution reads (the LayerNorm statistics, the context branch's small maps, the last conv's output) are the
skeleton's outputs, so the exporter keeps every convolution.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from export import backend
from export.throughput import PtqSource
from quant.quantizer import in_modules
from seemore_edge.core.tiling import tile_text


def conv_kind(conv: nn.Conv2d) -> str:
    """The XNNPACK kernel family a convolution lands in: 1x1 ones run as GEMMs ("Fully Connected"), depthwise ones as
    DWConv, the other dense ones as IGEMM."""
    if conv.groups > 1 and conv.groups == conv.in_channels:
        return "depthwise"
    return "1x1" if conv.kernel_size == (1, 1) and conv.groups == 1 else "dense kxk"


class ConvSkeleton(nn.Module):
    """``float_modules``: module paths of ``model`` whose convolutions its INT8 artifacts run in float (the final
    LayerNorm's statistics, a model's own ``float_modules``); the skeleton keeps them float too (``float_convs``)."""

    def __init__(self, model: nn.Module, tile: tuple[int, int], float_modules: tuple[str, ...] = ()):
        super().__init__()
        order: list[tuple[nn.Conv2d, tuple[int, ...]]] = []
        names = {id(m): name for name, m in model.named_modules()}

        def record(conv, inputs, _):
            order.append((conv, tuple(inputs[0].shape[1:])))
        hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, nn.Conv2d)]
        try:
            with torch.no_grad():
                model(torch.rand(1, 3, *tile))
        finally:
            for h in hooks:
                h.remove()
        self.convs = nn.ModuleList(copy.deepcopy(conv) for conv, _ in order)
        self.float_convs = [i for i, (conv, _) in enumerate(order) if in_modules(names[id(conv)], float_modules)]
        shapes = [(3, *tile)]   # shape of every tensor the skeleton makes, the input first
        latest = {shapes[0]: 0}
        self.reads: list[int] = []
        with torch.no_grad():
            for conv, shape in order:
                if shape not in latest:
                    raise ValueError(f"no earlier convolution makes the {shape} input of {conv}")
                self.reads.append(latest[shape])
                out = tuple(conv(torch.zeros(1, *shape)).shape[1:])
                latest[out] = len(shapes)
                shapes.append(out)
        read = set(self.reads)
        self.outputs = [i for i in range(1, len(shapes)) if i not in read]
        self.macs_by_kind: dict[str, int] = {}
        for conv, out in zip(self.convs, shapes[1:]):
            kind = conv_kind(conv)
            self.macs_by_kind[kind] = self.macs_by_kind.get(kind, 0) + conv.weight[0].numel() * out[0] * out[1] * out[2]
        self.macs = sum(self.macs_by_kind.values())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        made = [x]
        for conv, i in zip(self.convs, self.reads):
            made.append(conv(made[i]))
        return tuple(made[i] for i in self.outputs)


def export_floors(model: nn.Module, tile: tuple[int, int], folder, formats: list[str],
                  float_modules: tuple[str, ...] = ()) -> dict:
    """INT8 skeleton artifacts of ``model`` for one ``tile`` call, format -> (path, skeleton); reused when there."""
    skeleton = ConvSkeleton(model, tile, float_modules)
    source, made = PtqSource(skeleton, tile, [f"convs.{i}" for i in skeleton.float_convs]), {}
    for fmt in formats:
        path = folder / f"floor-int8-{tile_text(tile)}{backend(fmt).SUFFIX}"
        if not path.exists():
            backend(fmt).export(source, "int8", tile, path)
        made[fmt] = (path, skeleton)
    return made
