"""From dynamic routing to fixed experts: what the reference's routers choose, and the edge model that hard-wires it.

A phone runtime wants one static graph; the router's top-1 choice is data-dependent control flow. The edge model keeps
one expert per residual group and folds the routing weight (a softmax probability in the reference) into that expert's
last convolution as a constant.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
from tqdm import tqdm

from seemore_edge.core.model import SeemoRe

_EXPERT_KEY = re.compile(r"body\.(\d+)\..*\.moe_layer\.experts\.(\d+)\.(conv_\d)\.(weight|bias)$")


@dataclass
class RouteStats:
    counts: np.ndarray  # (groups, experts): images routed to each expert
    weight_sum: np.ndarray  # (groups, experts): sum of the routing probability over those images

    @property
    def mean_weight(self) -> np.ndarray:
        return np.divide(self.weight_sum, self.counts, out=np.full(self.counts.shape, np.nan), where=self.counts > 0)

    def most_frequent(self) -> tuple[int, ...]:
        return tuple(int(i) for i in self.counts.argmax(axis=1))

    def to_json(self) -> dict:
        return {"counts": self.counts.tolist(), "mean_weight": np.round(self.mean_weight, 5).tolist()}


@torch.no_grad()
def collect_routes(model: SeemoRe, images: Iterable[torch.Tensor], total: int | None = None) -> RouteStats:
    """Route each LR image (1x3xHxW float) through the dynamic model and count every group's top-1 choice."""
    if model.routing != "dynamic":
        raise ValueError("routing statistics need the dynamic-routing reference")
    model.eval()
    n_groups, n_experts = model.preset.groups, len(model.preset.expert_ranks)
    counts, weight_sum = np.zeros((n_groups, n_experts), np.int64), np.zeros((n_groups, n_experts))
    for image in tqdm(images, total=total, desc="routing statistics", unit="img", leave=False):
        model(image)
        for g, layer in enumerate(model.moe_layers()):
            for e, w in zip(layer.last_routes.tolist(), layer.last_weights.tolist()):
                counts[g, e] += 1
                weight_sum[g, e] += w
    return RouteStats(counts, weight_sum)


def to_fixed(model: SeemoRe, experts: tuple[int, ...], weights: Iterable[float]) -> SeemoRe:
    """The edge model running ``experts[g]`` in group g, its output scaled by the constant ``weights[g]``."""
    if model.routing != "dynamic":
        raise ValueError("to_fixed converts a dynamic-routing model")
    weights = [float(w) for w in weights]
    edge = SeemoRe(model.preset, model.scale, tuple(experts))
    state = {}
    for key, value in model.state_dict().items():
        if ".moe_layer.gate." in key:
            continue
        m = _EXPERT_KEY.search(key)
        if m:
            group, expert, conv = int(m.group(1)), int(m.group(2)), m.group(3)
            if expert != edge.experts[group]:
                continue
            if conv == "conv_3":  # w * (W x + b) = (w W) x + w b
                value = value * weights[group]
        state[key] = value.clone()
    edge.load_state_dict(state, strict=True)
    return edge.eval()


# Bounds of the edge model's dynamic shapes under torch.export. Sides start at 32, not at the model's 16: at 16..31 px
# the context branch's 4x4/stride-4 recursion leaves a 1x1 map, a size torch.export specialises (it would add the guard
# H // 16 != 1), so one program cannot cover both. Tiles are 32 px or more anyway.
EXPORT_MIN_SIDE, EXPORT_MAX_SIDE, EXPORT_MAX_BATCH = 32, 1024, 16


def edge_dynamic_shapes() -> dict:
    dim = torch.export.Dim
    return {"x": {0: dim("batch", min=1, max=EXPORT_MAX_BATCH),
                  2: dim("height", min=EXPORT_MIN_SIDE, max=EXPORT_MAX_SIDE),
                  3: dim("width", min=EXPORT_MIN_SIDE, max=EXPORT_MAX_SIDE)}}
