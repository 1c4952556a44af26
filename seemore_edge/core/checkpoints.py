"""Building, saving and loading SeemoRe models: ours (safetensors + JSON card) and the authors' ``.pth`` files.

A checkpoint carries no trust: preset and scale are read off the tensor shapes, and the first name or shape that does
not fit is reported, so a wrong file fails with a sentence instead of a stack trace.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .errors import UserError
from .imageio import atomic_write
from .model import SeemoRe
from .presets import PRESETS, check_scale, get_preset
from .records import ModelCard, Parent, Routing, file_sha256
from . import records

ROUTINGS = ("dynamic", "fixed")
WEIGHTS_DIR = Path(__file__).parents[1] / "weights"  # seemore_edge/weights, beside the floors


def build_model(preset: str = "T", scale: int = 4, routing: str = "dynamic",
                experts: tuple[int, ...] | None = None) -> SeemoRe:
    """A freshly initialised SeemoRe.

    ``routing="dynamic"``: per-image top-1 routing, as in the paper. ``routing="fixed"``: the edge variant, each residual
    group running the expert given in ``experts`` (default: the highest-rank expert everywhere, the costliest choice).
    """
    if routing not in ROUTINGS:
        raise UserError(f"unknown routing {routing!r}; available: {', '.join(ROUTINGS)}")
    p = get_preset(preset)
    if routing == "fixed" and experts is None:
        experts = (len(p.expert_ranks) - 1,) * p.groups
    if routing == "dynamic" and experts is not None:
        raise UserError("experts are only given for routing='fixed'")
    return SeemoRe(p, check_scale(scale), experts)


def card_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def infer_routing(state: dict[str, torch.Tensor], groups: int) -> tuple[int, ...] | None:
    """None for a dynamic-routing state dict (it has routers); else the fixed expert index of each residual group."""
    if any(".moe_layer.gate." in k for k in state):
        return None
    experts = []
    for g in range(groups):
        found = {int(m.group(1)) for k in state if (m := re.match(rf"body\.{g}\..*\.moe_layer\.experts\.(\d+)\.", k))}
        if len(found) != 1:
            raise UserError(f"residual group {g} has no router and {len(found)} experts; a fixed-routing "
                            "checkpoint has exactly one")
        experts.append(found.pop())
    return tuple(experts)


def infer_config(state: dict[str, torch.Tensor]) -> tuple[str, int]:
    """(preset, scale) from the shapes of a state dict in the authors' layout."""
    try:
        channels = state["conv_1.weight"].shape[0]
        up = state["upsampler.0.weight"].shape[0]
    except KeyError as e:
        raise UserError(f"not a SeemoRe checkpoint: tensor {e.args[0]} is missing") from None
    groups = len({int(m.group(1)) for k in state if (m := re.match(r"body\.(\d+)\.", k))})
    scale = int(round(math.sqrt(up / 3)))
    if 3 * scale * scale != up or scale not in (2, 3, 4):
        raise UserError(f"upsampler.0.weight has {up} output channels, which is no scale of 2, 3 or 4 (3*s*s)")
    for name, p in PRESETS.items():
        if (p.groups, p.channels) == (groups, channels):
            return name, scale
    raise UserError(f"no preset has {groups} residual groups of {channels} channels")


def read_model_card(path: Path) -> ModelCard | None:
    """The card beside a weights file (validated, schema 0 upgraded), or None where there is none (the authors'
    ``.pth`` files, a bare safetensors)."""
    card = card_path(Path(path))
    return records.read(card, ModelCard) if card.is_file() else None


def _read_state(path: Path) -> tuple[dict[str, torch.Tensor], ModelCard | None]:
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint")
    if path.suffix == ".safetensors":
        try:
            state = load_file(path)
        except Exception as e:  # safetensors raises its own error types for bad headers
            raise UserError(f"{path}: not a readable safetensors file ({e})") from None
        return state, read_model_card(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__})") from None
    if isinstance(obj, dict) and isinstance(obj.get("params"), dict):
        obj = obj["params"]
    elif isinstance(obj, dict) and isinstance(obj.get("params_ema"), dict):
        obj = obj["params_ema"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path}: expected a state dict or {{'params': state_dict}}")
    return obj, None


def load_state(model: SeemoRe, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy ``state`` into ``model`` after checking every name and shape; the first mismatch is the error."""
    expected = model.state_dict()
    for key, value in expected.items():
        if key not in state:
            raise UserError(f"{source}: tensor {key} is missing")
        if tuple(state[key].shape) != tuple(value.shape):
            raise UserError(f"{source}: {key} has shape {tuple(state[key].shape)}, "
                            f"{model.preset.name} x{model.scale} needs {tuple(value.shape)}")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise UserError(f"{source}: unexpected tensor {extra[0]}")
    model.load_state_dict(state, strict=True)


def load_model(path: str | Path, scale: int | None = None, preset: str | None = None) -> SeemoRe:
    """A model in eval mode from our safetensors checkpoint or the authors' ``.pth``.

    ``scale``/``preset``, when given, are what the caller needs; a checkpoint made for another is an error.
    """
    path = Path(path)
    state, card = _read_state(path)
    found_preset, found_scale = infer_config(state)
    if scale is not None and scale != found_scale:
        raise UserError(f"{path}: checkpoint is for x{found_scale}, but x{scale} was asked for")
    if preset is not None and get_preset(preset).name != found_preset:
        raise UserError(f"{path}: checkpoint is SeemoRe-{found_preset}, but preset {preset} was asked for")
    experts = infer_routing(state, get_preset(found_preset).groups)
    model = SeemoRe(get_preset(found_preset), found_scale, experts)
    load_state(model, state, str(path))
    model.card = card
    return model.eval()


def load_program(path: str | Path) -> torch.nn.Module:
    """An exported graph (``.pt2``), such as the converted INT8 model of QAT, as a callable module (eval semantics)."""
    import torch.ao.quantization.fx._decomposed  # noqa: F401  registers the quantize/dequantize ops such graphs call

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such program")
    try:
        return torch.export.load(path).module()
    except Exception as e:
        raise UserError(f"{path}: not a loadable exported program ({type(e).__name__})") from None


def save_model(model: SeemoRe, path: str | Path, card: dict | None = None) -> ModelCard:
    """Weights as safetensors and their card beside them (``<name>.json``), each written atomically.

    ``card`` holds the :class:`~seemore_edge.core.records.ModelCard` fields the model cannot tell (name, parent,
    recipe, training, metrics, details, note); preset, scale, routing and parameter count come from the model."""
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    full = records.from_dict(ModelCard, {
        "kind": "fp32", "preset": model.preset.name, "scale": model.scale,
        "routing": Routing(model.routing, list(model.experts) if model.experts is not None else None),
        "params": sum(p.numel() for p in model.parameters()), **(card or {})}, card_path(path).name)
    atomic_write(path, lambda tmp: save_file(state, tmp))
    records.write(card_path(path), full)
    return full


def parent_of(path: str | Path, name: str | None = None) -> Parent:
    """A weights file as a parent in a card: its shipped name (or ``name``, or its stem) and its sha256."""
    path = Path(path)
    shipped = {p.resolve(): n for n, p in shipped_weights().items()}
    return Parent(name or shipped.get(path.resolve(), path.stem), file_sha256(path))


def shipped_weights() -> dict[str, Path]:
    """Names of the weights that come with the package (``T-x4`` ...) and their files."""
    return {p.stem: p for p in sorted(WEIGHTS_DIR.glob("*.safetensors"))}


def resolve_weights(name_or_path: str | Path) -> Path:
    """``--weights`` of every tool: a shipped name (``T-x4``) or a checkpoint file of either kind."""
    found = shipped_weights()
    if str(name_or_path) in found:
        return found[str(name_or_path)]
    path = Path(name_or_path)
    if path.suffix in (".safetensors", ".pth", ".pt"):
        if not path.is_file():
            raise UserError(f"{path}: no such checkpoint")
        return path
    listed = ", ".join(found) or "none yet"
    raise UserError(f"no shipped weights named {str(name_or_path)!r} (available: {listed}; or give a .safetensors or "
                    ".pth file)")
