"""Which LR tile upscales a photo fastest per output pixel in each runtime. Bigger tiles waste less work on overlap
(a 128 tile with 16 of overlap computes 1.7x a photo's pixels) but leave the caches sooner; only measuring says
where the balance lies on a given CPU. Every tile is exported from the same weights, and the same photo-sized input
goes through each file as the apps tile it, runs interleaved."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from export.card import read_card
from seemore_edge.core.tiling import DEFAULT_OVERLAP, make_grid, tile_text, upscale_tiled
from seemore_edge.pipelines.artifact_set import ArtifactSet, export_set
from seemore_edge.pipelines.bench_run import artifact_runner

PHOTO_LR = (480, 640)  # a 2560x1920 (4.9 MP) output at x4: a phone photo worth enhancing


def sweep(weights: str, tiles: list[int], formats: list[str], folder: Path, threads: int, runs: int) -> list[dict]:
    """Records per (format, tile): median and fastest wall ms for the photo, ms per output megapixel, and how many
    pixels the tiling computes per photo pixel."""
    files = []
    for side in tiles:  # one folder per tile: square tiles share a file name
        sub = folder / f"tile{side}"
        sub.mkdir(parents=True, exist_ok=True)
        for card in export_set(ArtifactSet(weights, formats, ["int8"], (side, side), DEFAULT_OVERLAP, sub, None, [],
                                           threads, reuse=True), lambda p: print(f"exporting {p} ...", flush=True)):
            files.append(sub / card.file)
    photo = (np.random.default_rng(0).random(PHOTO_LR + (3,)) * 255).astype(np.uint8)
    contenders = []
    for path in files:
        card = read_card(path)
        contenders.append((path, card, artifact_runner(path, tuple(card.tile), threads)))
    times = {path: [] for path, _, _ in contenders}
    for _, card, run in contenders:  # warm-up
        upscale_tiled(run, photo, card.scale, tuple(card.tile), card.overlap)
    for _ in range(runs):
        for path, card, run in contenders:
            t0 = time.perf_counter()
            upscale_tiled(run, photo, card.scale, tuple(card.tile), card.overlap)
            times[path].append((time.perf_counter() - t0) * 1e3)
    out = []
    for path, card, _ in contenders:
        ms = times[path]
        grid = make_grid(*PHOTO_LR, tuple(card.tile), card.overlap)
        mp = PHOTO_LR[0] * PHOTO_LR[1] * card.scale ** 2 / 1e6
        out.append({"file": path.name, "format": card.format, "tile": list(card.tile), "overlap": card.overlap,
                    "threads": threads, "photo_lr": list(PHOTO_LR), "calls": len(grid),
                    "computed_per_pixel": round(len(grid) * card.tile[0] * card.tile[1] / (PHOTO_LR[0] * PHOTO_LR[1]), 3),
                    "median_ms": round(float(np.median(ms)), 1), "min_ms": round(float(np.min(ms)), 1),
                    "ms_per_output_mp": round(float(np.median(ms)) / mp, 1), "runs": len(ms)})
    return out


def sweep_lines(records: list[dict]) -> list[str]:
    """The sweep as a table, and per runtime the winner and its margin over the 128 tile."""
    lines = [f"Photo tiles: a {PHOTO_LR[1]}x{PHOTO_LR[0]} LR photo (x4), INT8, {records[0]['threads']} threads, "
             f"median of {records[0]['runs']} interleaved runs.", "",
             "| file | tile | calls | computed / photo pixels | median ms | fastest ms | ms per output MP |",
             "|---|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['file']} | {tile_text(r['tile'])} | {r['calls']} | {r['computed_per_pixel']:.2f} | "
                     f"{r['median_ms']:.0f} | {r['min_ms']:.0f} | {r['ms_per_output_mp']:.1f} |")
    lines.append("")
    for fmt in sorted({r["format"] for r in records}):
        mine = [r for r in records if r["format"] == fmt]
        best = min(mine, key=lambda r: r["median_ms"])
        base = next((r for r in mine if r["tile"] == [128, 128]), None)
        if base:
            lines.append(f"- .{fmt}: fastest tile {tile_text(best['tile'])}, {base['median_ms'] / best['median_ms']:.2f}x "
                         f"the 128 tile on the medians, {base['min_ms'] / best['min_ms']:.2f}x on the fastest runs")
    return lines + [""]
