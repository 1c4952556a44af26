"""The card written beside every artifact (``<file>.json``): what an app needs to run the file (tile, overlap, scale,
layouts, value ranges) and what it was measured to do (PSNR per set in its own runtime, latency, size, sha256)."""
from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path

from seemore_edge.imageio import atomic_write
from seemore_edge.tiling import as_tile

TOOLS = ("torch", "torchao", "executorch", "litert-torch", "ai-edge-litert", "coremltools")


def card_path(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + ".json")


def tool_versions() -> dict:
    found = {}
    for name in TOOLS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def size_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in _files(path))


def sha256(path: Path) -> str:
    """Of the file, or for a package folder, of its files' relative names and contents in sorted order."""
    h = hashlib.sha256()
    for p in _files(path):
        if path.is_dir():
            h.update(str(p.relative_to(path)).encode() + b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def write_card(artifact: Path, card: dict) -> dict:
    full = {**card, "file": artifact.name, "size_bytes": size_bytes(artifact), "sha256": sha256(artifact),
            "tools": tool_versions()}
    atomic_write(card_path(artifact), lambda tmp: Path(tmp).write_text(json.dumps(full, indent=1) + "\n"))
    return full


def read_card(artifact: Path) -> dict:
    from seemore_edge.errors import UserError

    if not artifact.exists():
        raise UserError(f"{artifact}: no such artifact")
    path = card_path(artifact)
    if not path.is_file():
        raise UserError(f"{artifact}: its card {path.name} is missing (exports write one beside every artifact)")
    card = json.loads(path.read_text())
    if card.get("sha256") != sha256(artifact):
        raise UserError(f"{artifact}: does not match its card {path.name} (sha256 differs): re-export it")
    card["tile"] = as_tile(card["tile"])  # [height, width]; cards before rectangular tiles hold one side
    return card
