"""The QAT result as a file, so exports and apps never need QAT rerun.

What is stored is the fake-quantized deploy-form model's state: float weights plus each activation's frozen scale and
zero point (safetensors), with a card naming preset, scale and the fixed experts. The graph itself is not stored: it is
rebuilt from those three and the state loaded into it, which gives back the same model (a test holds the converted
INT8 outputs equal) in about a tenth of the size of a serialised ``.pt2``.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from seemore_edge.checkpoints import build_model, card_path
from seemore_edge.presets import get_preset
from seemore_edge.errors import UserError
from seemore_edge.imageio import atomic_write

from quant.deploy_form import to_deploy_form
from quant.fixed_routing import EXPORT_MIN_SIDE
from quant.qat import convert, freeze_observers, prepare_qat

FORMAT = "seemore-edge qat-int8"
EXAMPLE_SHAPE = (2, 3, 48, 48)  # batch 2: an example batch of 1 would pin the batch dimension


@dataclass
class QatModel:
    """The QAT model and what it was made from; ``fp32()`` and ``int8()`` are the two things exports need."""
    preset: str
    scale: int
    experts: tuple[int, ...]
    prepared: torch.fx.GraphModule
    card: dict = field(default_factory=dict)

    def fp32(self) -> torch.nn.Module:
        """The deploy form carrying the QAT-trained float weights, without fake quantization."""
        deploy = to_deploy_form(build_model(self.preset, self.scale, "fixed", self.experts))
        state = self.prepared.state_dict()
        deploy.load_state_dict({k: state[k] for k in deploy.state_dict()}, strict=True)
        return deploy.eval()

    def int8(self, fold_quantize: bool = True) -> torch.fx.GraphModule:
        """The converted INT8 graph (a fresh copy each call: conversion consumes the prepared model)."""
        return convert(copy.deepcopy(self.prepared), fold_quantize=fold_quantize)

    def int8_model(self) -> "Int8Model":
        return Int8Model(self.int8(), get_preset(self.preset), self.scale)


class Int8Model(torch.nn.Module):
    """The converted INT8 graph with what tools ask of a model (preset, scale, minimum input), so ``evaluate`` and
    ``upscale`` run it like any checkpoint. Its inputs stay within the export bounds (sides 32 to 1024)."""

    routing = "fixed"

    def __init__(self, graph: torch.fx.GraphModule, preset, scale: int):
        super().__init__()
        self.graph, self.preset, self.scale = graph, preset, scale
        self.min_lr_size = max(EXPORT_MIN_SIDE, preset.min_lr_size)

    def train(self, mode: bool = True):
        self.training = mode  # the exported graph has eval semantics baked in and refuses train()/eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.graph(x)


def prepare_for(preset: str, scale: int, experts: tuple[int, ...]) -> torch.fx.GraphModule:
    deploy = to_deploy_form(build_model(preset, scale, "fixed", tuple(experts)))
    return prepare_qat(deploy, torch.rand(*EXAMPLE_SHAPE))


def save_qat(prepared: torch.fx.GraphModule, preset: str, scale: int, experts: tuple[int, ...], path: str | Path,
             card: dict) -> None:
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in prepared.state_dict().items()}
    full = {"format": FORMAT, "preset": preset, "scale": scale, "routing": "fixed", "experts": list(experts),
            "quantization": "INT8 W8A8 (weights per-channel symmetric, activations per-tensor affine), PT2E QAT "
                            "with ExecuTorch's XNNPACK quantizer; observers frozen", **card}
    atomic_write(path, lambda tmp: save_file(state, tmp))
    atomic_write(card_path(path), lambda tmp: Path(tmp).write_text(json.dumps(full, indent=1) + "\n"))


def is_qat_checkpoint(path: str | Path) -> bool:
    card = card_path(Path(path))
    return card.is_file() and json.loads(card.read_text()).get("format") == FORMAT


def load_qat(path: str | Path, scale: int | None = None) -> QatModel:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint")
    if not is_qat_checkpoint(path):
        raise UserError(f"{path}: not a QAT checkpoint (its card {card_path(path).name} must say format "
                        f"'{FORMAT}')")
    card = json.loads(card_path(path).read_text())
    if scale is not None and scale != card["scale"]:
        raise UserError(f"{path}: checkpoint is for x{card['scale']}, but x{scale} was asked for")
    prepared = prepare_for(card["preset"], card["scale"], tuple(card["experts"]))
    state = load_file(path)
    expected = prepared.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing or len(state) != len(expected):
        raise UserError(f"{path}: state does not fit SeemoRe-{card['preset']} x{card['scale']} with experts "
                        f"{card['experts']} (first missing tensor: {missing[0] if missing else 'none'})")
    prepared.load_state_dict(state, strict=True)
    freeze_observers(prepared)
    return QatModel(card["preset"], card["scale"], tuple(card["experts"]), prepared, card)
