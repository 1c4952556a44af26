"""What ``--weights NAME|PATH`` gives every tool: a shipped name or a checkpoint file of either kind (FP32 SeemoRe or
QAT), loaded as the model to run or as an export source."""
from __future__ import annotations

from pathlib import Path

import torch

from export import FloatSource
from quant.int8_checkpoint import QatModel, is_qat_checkpoint, load_qat
from seemore_edge.core.checkpoints import load_model, parent_of, resolve_weights
from seemore_edge.core.errors import UserError


def load_weights(weights: str | Path, scale: int | None = None, preset: str | None = None,
                 float_weights: bool = False) -> torch.nn.Module:
    """The model to run: an FP32 checkpoint as a SeemoRe, a QAT checkpoint (T-x4-qat) as its converted INT8 graph, or
    with ``float_weights`` as its deploy form carrying the trained float weights (what its FP32 artifacts hold)."""
    path = resolve_weights(weights)
    if is_qat_checkpoint(path):
        qat = load_qat(path, scale=scale)
        if preset is not None and preset.upper() != qat.preset.upper():
            raise UserError(f"{path}: checkpoint is SeemoRe-{qat.preset}, but preset {preset} was asked for")
        return qat.fp32() if float_weights else qat.int8_model()
    if float_weights:
        raise UserError(f"{path}: --float takes a QAT checkpoint (e.g. --weights T-x4-qat); this one is float already")
    return load_model(path, scale=scale, preset=preset)


def export_source(weights: str | Path, name: str | None = None) -> tuple[QatModel | FloatSource, dict]:
    """(source, meta) for ``export.verify``: a QAT checkpoint gives both precisions, an FP32 fixed-routing one float;
    ``meta`` holds the artifact card fields that come from the weights (name, parent, preset, scale, routing)."""
    path = resolve_weights(weights)
    parent = parent_of(path, name)
    if is_qat_checkpoint(path):
        qat = load_qat(path)
        source, preset, scale, experts = qat, qat.preset, qat.scale, qat.experts
    else:
        model = load_model(path)
        source, preset, scale, experts = FloatSource(model), model.preset.name, model.scale, model.experts
    return source, {"name": parent.name, "parent": parent, "preset": preset, "scale": scale,
                    "routing": {"type": "fixed", "experts": list(experts)}}
