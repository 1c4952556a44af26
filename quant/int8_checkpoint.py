"""The QAT result as a file, so exports and apps never need QAT rerun.

What is stored is the fake-quantized deploy-form model's state: float weights plus each activation's frozen scale and
zero point (safetensors), with a card naming preset, scale and the fixed experts. The graph itself is not stored: it is
rebuilt from those three and the state loaded into it, which gives back the same model (a test holds the converted
INT8 outputs equal) in about a tenth of the size of a serialised ``.pt2``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from seemore_edge.core import records
from seemore_edge.core.checkpoints import build_model, card_path
from seemore_edge.core.errors import UserError
from seemore_edge.core.imageio import atomic_write
from seemore_edge.core.presets import get_preset
from seemore_edge.core.records import ModelCard

from quant.deploy_form import to_deploy_form
from quant.integer_form import VARIANTS, to_integer_form
from quant.fixed_routing import EXPORT_MIN_SIDE
from quant.int8_graph import convert, freeze_observers, prepare_qat, unknown_modules
from quant.quantizer import END_CONVS, FLOAT_MODULES

QUANTIZATION = ("INT8 W8A8 (weights per-channel symmetric, activations per-tensor affine), PT2E QAT with ExecuTorch's "
                "XNNPACK quantizer; observers frozen")
EXAMPLE_SHAPE = (2, 3, 48, 48)  # batch 2: an example batch of 1 would pin the batch dimension


@dataclass
class QatModel:
    """The QAT model and what it was made from; ``fp32()`` and ``int8()`` are the two things exports need."""
    preset: str
    scale: int
    experts: tuple[int, ...]
    prepared: torch.fx.GraphModule
    card: ModelCard | None = None
    float_modules: tuple[str, ...] = ()  # kept float beyond quant.quantizer.FLOAT_MODULES
    variant: str = "faithful"  # or "integer": quant/integer_form.py

    @property
    def kept_float(self) -> tuple[str, ...]:
        """Every deploy-form module its INT8 artifacts run in float: the fixed set and this model's own (none in the
        integer form)."""
        return () if self.variant == "integer" else FLOAT_MODULES + self.float_modules

    def fp32(self) -> torch.nn.Module:
        """The deploy form carrying the QAT-trained float weights, without fake quantization."""
        deploy = deploy_model(self.preset, self.scale, self.experts, self.variant)
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


def deploy_model(preset: str, scale: int, experts: tuple[int, ...], variant: str = "faithful") -> torch.nn.Module:
    """The structure a QAT state of this variant is loaded into (its weights are the state's)."""
    if variant not in VARIANTS:
        raise UserError(f"unknown variant {variant!r}; available: {', '.join(VARIANTS)}")
    edge = build_model(preset, scale, "fixed", tuple(experts))
    return to_integer_form(edge) if variant == "integer" else to_deploy_form(edge)


def prepare_for(preset: str, scale: int, experts: tuple[int, ...],
                float_modules: tuple[str, ...] = (), variant: str = "faithful") -> torch.fx.GraphModule:
    deploy = deploy_model(preset, scale, experts, variant)
    return prepare_qat(deploy, torch.rand(*EXAMPLE_SHAPE), tuple(float_modules), integer=variant == "integer")


def check_float_modules(preset: str, scale: int, modules) -> tuple[str, ...]:
    """The modules, if each names a module of the deploy form (checked before a run spends minutes on earlier stages)."""
    deploy = to_deploy_form(build_model(preset, scale, "fixed", (0,) * get_preset(preset).groups))
    unknown = unknown_modules(deploy, modules)
    if unknown:
        raise UserError(f"--float-modules {','.join(unknown)}: not a module of the SeemoRe-{preset} deploy form "
                        f"(e.g. {','.join(END_CONVS)})")
    return tuple(modules)


def save_qat(prepared: torch.fx.GraphModule, preset: str, scale: int, experts: tuple[int, ...], path: str | Path,
             card: dict, float_modules: tuple[str, ...] = (), variant: str = "faithful") -> ModelCard:
    """The fake-quantized state and its card (kind ``qat-int8``); ``card`` holds the ModelCard fields the state cannot
    tell (parent, recipe, training, details, ...). ``float_modules`` and an integer ``variant`` go into ``details``
    because the graph the state fits is rebuilt from them."""
    path = Path(path)
    # clone: an op on its input's grid (the integer form's resize) shares that fake quantizer, listed under both names
    state = {k: v.detach().cpu().contiguous().clone() for k, v in prepared.state_dict().items()}
    floats = {"float_modules": list(float_modules)} if float_modules else {}
    floats |= {"variant": variant} if variant != "faithful" else {}
    fields = {**card, "details": {"quantization": QUANTIZATION, **floats, **card.get("details", {})}}
    full = records.from_dict(ModelCard, {"kind": "qat-int8", "preset": preset, "scale": scale,
                                         "routing": {"type": "fixed", "experts": list(experts)}, **fields},
                             card_path(path).name)
    atomic_write(path, lambda tmp: save_file(state, tmp))
    records.write(card_path(path), full)
    return full


def qat_card(path: str | Path) -> ModelCard | None:
    """The card of a QAT checkpoint, or None when ``path`` is some other file (an FP32 checkpoint, a ``.pth``)."""
    card = card_path(Path(path))
    if not card.is_file():
        return None
    found = records.read(card, ModelCard)
    return found if found.kind == "qat-int8" else None


def is_qat_checkpoint(path: str | Path) -> bool:
    return qat_card(path) is not None


def load_qat(path: str | Path, scale: int | None = None) -> QatModel:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint")
    card = qat_card(path)
    if card is None:
        raise UserError(f"{path}: not a QAT checkpoint (its card {card_path(path).name} must say kind 'qat-int8')")
    if scale is not None and scale != card.scale:
        raise UserError(f"{path}: checkpoint is for x{card.scale}, but x{scale} was asked for")
    experts = tuple(card.routing.experts)
    floats = tuple(card.details.get("float_modules", ()))
    variant = card.details.get("variant", "faithful")
    prepared = prepare_for(card.preset, card.scale, experts, floats, variant)
    state = load_file(path)
    expected = prepared.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing or len(state) != len(expected):
        raise UserError(f"{path}: state does not fit SeemoRe-{card.preset} x{card.scale} with experts "
                        f"{list(experts)} and float modules {list(floats)} "
                        f"(first missing tensor: {missing[0] if missing else 'none'})")
    prepared.load_state_dict(state, strict=True)
    freeze_observers(prepared)
    return QatModel(card.preset, card.scale, experts, prepared, card, floats, variant)
