"""Exporting one model to a set of artifacts, each verified in its runtime: what ``export``, the bench's default
set and the main job share."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from export import photo_tile
from export.card import read_card
from export.verify import artifact_name, artifact_plan, export_and_verify
from seemore_edge.core.errors import UserError
from seemore_edge.core.records import ArtifactCard
from seemore_edge.core.tiling import Tile, tile_text
from seemore_edge.pipelines.models import export_source


@dataclass
class ArtifactSet:
    weights: str | Path  # shipped name or checkpoint file
    formats: list[str]
    precisions: list[str]
    tile: Tile | None  # None: each format's photo tile (export.photo_tile)
    overlap: int
    out: Path
    root: Path | None  # benchmark root for runtime PSNR; None: the sample photos
    sets: list[str]
    threads: int | None = None
    name: str | None = None  # the artifacts' base name (default: the weights' shipped name or stem)
    reuse: bool = False  # keep an artifact whose card still matches its file instead of exporting it again


def export_set(plan: ArtifactSet, announce: Callable[[Path], None] = lambda path: None) -> list[ArtifactCard]:
    source, meta = export_source(plan.weights, plan.name)
    cards = []
    for fmt, precision in artifact_plan(plan.formats, plan.precisions):
        tile = plan.tile or photo_tile(fmt)
        target = plan.out / artifact_name(meta["name"], fmt, precision, tile)
        if plan.reuse and target.exists():
            try:
                card = read_card(target)
                if card.parent == meta["parent"] and tuple(card.tile) == tuple(tile):
                    cards.append(card)
                    continue
            except UserError:
                pass
        announce(target)
        cards.append(export_and_verify(source, meta, fmt, precision, tile, plan.overlap, target, plan.root,
                                       plan.sets, plan.threads))
    return cards


def summary_line(card: ArtifactCard) -> str:
    size = f"{card.size_bytes / 1024:.0f} KiB"
    if card.psnr is None:
        return f"  {card.file}: {size}, not run here ({card.not_measured})"
    psnr = ", ".join(f"{s} {r.psnr:.2f}" for s, r in card.psnr.items())
    speed = f"{card.latency.median_ms:.1f} ms" if card.latency else "no latency (an interpreter's time is not one)"
    floats = f", {card.float_ops.total} float op(s)" if card.float_ops else ""
    return (f"  {card.file}: {size}, {card.audit.get('partitions', '-')} partition(s){floats}, tile "
            f"{tile_text(card.tile)} {speed}, executed by {card.executed_by}, PSNR {psnr}")
