"""The one record format for models and artifacts: the JSON card beside every weights file and every exported file.

Cards are what apps, reports and the README read, so they are typed (the dataclasses below), carry a ``schema``
version, and are validated when written and when read. A card names where it came from by shipped name and sha256
(:class:`Parent`), never by a path of the machine that wrote it. Cards written before the schema existed (schema 0:
no ``schema`` key) load through :func:`upgrade`, the one place that knows the old layout; anything else is refused
with one line. The Kotlin and Swift card readers (android_demo/tiling, ios_demo) follow the artifact fields, and
tests/golden/artifact_card.json holds all three readers to them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from .errors import UserError
from .imageio import atomic_write

SCHEMA = 1


@dataclass
class SetScore:
    psnr: float
    ssim: float | None
    images: int


@dataclass
class Parent:
    """What a model or artifact was made from: a shipped name (or a run's own name for its files) and the sha256 of
    that weights file, which tells two versions of one name apart."""
    name: str
    sha256: str


@dataclass
class Routing:
    type: Literal["dynamic", "fixed"]
    experts: list[int] | None = None  # fixed routing: the expert index of each residual group


@dataclass
class Metrics:
    """PSNR/SSIM on the benchmark sets as ``evaluate`` measures them; ``command`` reproduces them."""
    protocol: str
    command: str
    sets: dict[str, SetScore]
    evaluated_on: str = ""


@dataclass
class ModelCard:
    """``<weights>.json`` beside a ``.safetensors``: an FP32 SeemoRe or a QAT (INT8) checkpoint."""
    kind: Literal["fp32", "qat-int8"]
    preset: str
    scale: int
    routing: Routing
    params: int | None = None
    name: str | None = None  # the shipped name (``T-x4``); None for a run's own checkpoint
    parent: Parent | None = None  # None: trained from scratch
    recipe: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)  # steps, hardware, wall time, validation scores
    metrics: Metrics | None = None
    details: dict[str, Any] = field(default_factory=dict)  # e.g. the expert choice, the quantization scheme
    note: str = ""
    schema: int = SCHEMA


@dataclass
class TensorSpec:
    layout: str
    shape: list[int]
    dtype: str
    range: list[float]
    color: str | None = None
    quantization: dict[str, float] | None = None  # an INT8 output: {"scale", "zero_point"}
    note: str | None = None


@dataclass
class FloatOps:
    """The graph audit (``export.float_ops``): the ops between the artifact's input and output that do not run in
    integer arithmetic, read from the file itself, by kind; ``rule`` says what counts in that format."""
    total: int
    by_kind: dict[str, int]
    rule: str


@dataclass
class Latency:
    median_ms: float
    p90_ms: float
    runs: int
    threads: int
    platform: str


@dataclass
class ArtifactCard:
    """``<file>.json`` beside an exported ``.pte``/``.tflite``/``.mlpackage``: how to run it and what it measured."""
    file: str
    format: Literal["pte", "tflite", "mlpackage"]
    precision: Literal["fp32", "fp16", "int8"]
    name: str
    parent: Parent
    preset: str
    scale: int
    routing: Routing
    tile: list[int]  # LR [height, width]
    overlap: int
    input: TensorSpec
    output: TensorSpec
    tiling: str
    audit: dict[str, Any]
    size_bytes: int
    sha256: str
    tools: dict[str, str | None]
    executed_by: str | None  # what produced psnr here: "executorch", "litert", "coreml" or "mil-interpreter"
    psnr: dict[str, SetScore] | None = None
    psnr_protocol: str | None = None
    latency: Latency | None = None
    latency_note: str | None = None  # why latency is null (an interpreter's time is not a runtime's latency)
    not_measured: str | None = None  # why psnr is null
    export_s: float | None = None
    float_ops: FloatOps | None = None  # None only on cards written before the audit existed
    schema: int = SCHEMA


# --- validation -----------------------------------------------------------------------------------------------------

def _check(value, hint, where: str):
    """``value`` converted to ``hint`` (dataclasses built from dicts), or a UserError naming the first field that is
    not what the schema says."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _check(value, option, where)
            except UserError as e:
                errors.append(str(e))
        raise UserError(errors[0] if errors else f"{where}: must not be null")
    if origin is Literal:
        if value not in args:
            raise UserError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected an object, got {type(value).__name__}")
        return _build(hint, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise UserError(f"{where}: expected a list, got {type(value).__name__}")
        return [_check(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected an object, got {type(value).__name__}")
        return {k: _check(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is type(None):
        if value is not None:
            raise UserError(f"{where}: expected null")
        return None
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise UserError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def _build(cls, data: dict, where: str):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(f"{where}: unknown field {unknown[0]!r}")
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise UserError(f"{where}: field {f.name!r} is missing")
            continue
        values[f.name] = _check(data[f.name], hints[f.name], f"{where}.{f.name}")
    return cls(**values)


def validate(card: ModelCard | ArtifactCard, where: str = "card"):
    """The card itself, after checking every field against the schema and the rules types cannot say."""
    _build(type(card), dataclasses.asdict(card), where)
    if card.schema != SCHEMA:
        raise UserError(f"{where}: schema {card.schema}, this version reads schema {SCHEMA}")
    routing = card.routing
    if (routing.type == "fixed") != (routing.experts is not None):
        raise UserError(f"{where}.routing: fixed routing lists its experts, dynamic routing none")
    if isinstance(card, ArtifactCard):
        if len(card.tile) != 2 or min(card.tile) < 1:
            raise UserError(f"{where}.tile: expected [height, width], got {card.tile}")
        if card.psnr is None and card.not_measured is None:
            raise UserError(f"{where}: an artifact without PSNR says why (not_measured)")
        if card.latency is None and card.psnr is not None and card.latency_note is None:
            raise UserError(f"{where}: an artifact scored without a latency says why (latency_note)")
    for parent in [card.parent] if card.parent else []:
        if len(parent.sha256) != 64:
            raise UserError(f"{where}.parent.sha256: not a sha256 digest")
    return card


def plain(value):
    """Dataclasses inside ``value`` as the dicts they serialise to."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def from_dict(cls, data: dict, where: str = "card"):
    """A validated ``cls`` from plain data (dataclasses inside are accepted too)."""
    return validate(_build(cls, plain(data), where), where)


def strict_json(obj) -> str:
    """JSON that every parser reads: a float that is not finite (a mean over nothing, a missing latency) is written
    as null, never as Python's ``NaN``/``Infinity``, which strict parsers (JavaScript's, Go's, jq) reject."""
    def finite(value):
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [finite(v) for v in value]
        return value
    return json.dumps(finite(obj), indent=1, allow_nan=False) + "\n"


def to_json(card: ModelCard | ArtifactCard) -> str:
    return strict_json(dataclasses.asdict(validate(card)))


def write(path: Path, card: ModelCard | ArtifactCard) -> None:
    """Validated, then written atomically: a card on disk is always a whole, valid one."""
    text = to_json(card)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def read(path: Path, cls: type[ModelCard] | type[ArtifactCard]):
    """The card at ``path`` as ``cls``, upgraded from schema 0 if it is that old; one line if it is not a card."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: not a readable card ({type(e).__name__})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a card (expected a JSON object)")
    data = upgrade(data, cls, Path(path))
    return validate(_build(cls, data, path.name), path.name)


# --- schema 0 -------------------------------------------------------------------------------------------------------

def files_of(path: Path) -> list[Path]:
    """The file itself, or a package folder's files in sorted order (a ``.mlpackage`` is a folder)."""
    path = Path(path)
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def file_sha256(path: Path) -> str:
    """Of a file, or for a package folder, of its files' relative names and contents in sorted order."""
    path = Path(path)
    files = files_of(path)
    h = hashlib.sha256()
    for p in files:
        if path.is_dir():
            h.update(str(p.relative_to(path)).encode() + b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def upgrade(data: dict, cls, path: Path) -> dict:
    """A schema-0 card (written before ``schema`` existed) in the current layout; current cards pass through.

    Schema 0 named parents by path (``made_from``, ``source``, ``reference``): such a parent is kept only when the path
    still leads to the weights file beside the card or in the package, whose sha256 is then taken; otherwise the card
    is refused, since nothing would say which weights it came from."""
    if "schema" in data:
        if data["schema"] != SCHEMA:
            raise UserError(f"{path}: card schema {data['schema']!r}; this version reads {SCHEMA} (and upgrades 0)")
        return data
    old = dict(data)
    if cls is ModelCard:
        return _upgrade_model(old, path)
    return _upgrade_artifact(old, path)


def _parent_from_path(value: str | None, path: Path) -> Parent | None:
    if not value:
        return None
    candidates = [Path(value), path.parent / Path(value).name, path.parent / (Path(value).stem + ".safetensors")]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise UserError(f"{path}: schema-0 card names its parent by a path ({value}) that does not lead to a file "
                        "here; re-export or re-save it to get a card naming the parent by name and sha256")
    return Parent(Path(value).stem if Path(value).suffix else Path(value).name, file_sha256(found))


def _upgrade_model(old: dict, path: Path) -> dict:
    kind = "qat-int8" if old.pop("format", None) == "seemore-edge qat-int8" else "fp32"
    routing = old.pop("routing", "dynamic")
    experts = old.pop("experts", None)
    routing = routing if isinstance(routing, dict) else {"type": routing, "experts": experts}
    metrics = old.pop("metrics", None)
    if metrics is not None:
        protocol = metrics.pop("protocol", "")
        command = protocol.split("; ")[-1] if "python -m" in protocol else ""
        metrics = {"protocol": protocol.replace("; " + command, "") if command else protocol, "command": command,
                   "sets": metrics, "evaluated_on": old.pop("evaluated_on", "")}
    parent = _parent_from_path(old.pop("made_from", None), path)
    recipe = old.pop("recipe", {})
    new = {"kind": kind, "preset": old.pop("preset"), "scale": old.pop("scale"), "routing": routing,
           "params": old.pop("params", None), "name": old.pop("name", None),
           "parent": dataclasses.asdict(parent) if parent else None,
           "recipe": recipe if isinstance(recipe, dict) else {"text": recipe},
           "training": {k: old.pop(k) for k in ("trained_steps", "hardware", "wall_time_s", "validation") if k in old},
           "metrics": metrics, "note": old.pop("note", ""), "schema": SCHEMA}
    old.pop("source", None)
    new["details"] = old  # what is left: expert choice, quantization scheme, training folder
    return new


def _upgrade_artifact(old: dict, path: Path) -> dict:
    tile = old["tile"]
    old["tile"] = [tile, tile] if isinstance(tile, int) else tile
    weights = old.pop("source", None)
    old.pop("reference", None)
    parent = _parent_from_path(weights, path)
    if parent is None:
        raise UserError(f"{path}: schema-0 card names no source weights; re-export it")
    old["parent"] = dataclasses.asdict(parent)
    runtime = {"pte": "executorch", "tflite": "litert", "mlpackage": "coreml"}[old["format"]]
    old["executed_by"] = runtime if old.get("psnr") is not None else None
    old.setdefault("not_measured", None if old.get("psnr") is not None else "no runtime here")
    old["schema"] = SCHEMA
    return old
