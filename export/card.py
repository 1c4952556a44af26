"""The card written beside every artifact (``<file>.json``, an :class:`~seemore_edge.core.records.ArtifactCard`): what
an app needs to run the file (tile, overlap, scale, layouts, value ranges) and what it was measured to do (PSNR per
set in its own runtime, latency, size, sha256)."""
from __future__ import annotations

from importlib import metadata
from pathlib import Path

from seemore_edge.core import records
from seemore_edge.core.errors import UserError
from seemore_edge.core.records import ArtifactCard, file_sha256, files_of

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


def size_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in files_of(path))


def write_card(artifact: Path, fields: dict) -> ArtifactCard:
    """``fields`` completed with the file's name, size, sha256 and the tool versions, validated, written atomically."""
    card = records.from_dict(ArtifactCard, {**fields, "file": artifact.name, "size_bytes": size_bytes(artifact),
                                            "sha256": file_sha256(artifact), "tools": tool_versions()},
                             card_path(artifact).name)
    records.write(card_path(artifact), card)
    return card


def read_card(artifact: Path) -> ArtifactCard:
    """The artifact's card, refused when it is missing, invalid, or describes other bytes than the file's."""
    if not artifact.exists():
        raise UserError(f"{artifact}: no such artifact")
    path = card_path(artifact)
    if not path.is_file():
        raise UserError(f"{artifact}: its card {path.name} is missing (exports write one beside every artifact)")
    card = records.read(path, ArtifactCard)
    if card.sha256 != file_sha256(artifact):
        raise UserError(f"{artifact}: does not match its card {path.name} (sha256 differs): re-export it")
    if card.file != artifact.name:
        raise UserError(f"{artifact}: its card {path.name} describes {card.file}")
    return card
