"""Which LR tile upscales a photo fastest per output pixel in each runtime. Bigger tiles waste less work on overlap
(a 128 tile with 16 of overlap computes 1.6x a 640x480 photo's pixels, a 256 tile 1.28x) but leave the caches sooner;
only measuring says where the balance lies on a given CPU. Every tile is exported from the same weights, and the same
photo-sized input goes through each file as the apps tile it, runs interleaved. Where a browser can be driven, the
``.tflite`` files also go through the demo page (LiteRT.js WASM in headless Chromium), the runtime the demo's phones
use. ``chosen_tiles`` turns a sweep into each runtime's photo tile (``export.PHOTO_TILES``; the demo takes the
``.tflite`` one), and a test holds the backends to the committed sweeps."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from export import backend
from export.card import read_card
from seemore_edge.core.tiling import DEFAULT_OVERLAP, make_grid, tile_text, upscale_tiled
from seemore_edge.pipelines.artifact_set import ArtifactSet, export_set
from seemore_edge.pipelines.bench_run import artifact_runner
from seemore_edge.pipelines.browser_page import BrowserPage, browser_missing, png_data_url

PHOTO_LR = (480, 640)  # a 2560x1920 (4.9 MP) output at x4: a phone photo worth enhancing
BASE_TILE = (128, 128)
# A tile replaces the 128 one only when it is this much faster on the medians and on the fastest runs alike: five runs
# of a few seconds each move by a few percent between repeats on these shared hosts.
NOISE = 1.05
BROWSER = "litert.js"  # the runtime key of the page's records


def runtime_of(record: dict) -> str:
    """The runtime a sweep record timed (records from before the browser leg name only the format)."""
    return record.get("runtime") or backend(record["format"]).RUNTIME


def sweep(weights: str, tiles: list[int], formats: list[str], folder: Path, threads: int,
          runs: int) -> tuple[list[dict], str | None]:
    """(records, why the browser leg was skipped or None). Records per (runtime, tile): median and fastest wall ms for
    the photo, ms per output megapixel, and how many pixels the tiling computes per photo pixel."""
    files = []
    for side in tiles:  # one folder per tile: square tiles share a file name
        sub = folder / f"tile{side}"
        sub.mkdir(parents=True, exist_ok=True)
        for card in export_set(ArtifactSet(weights, formats, ["int8"], (side, side), DEFAULT_OVERLAP, sub, None, [],
                                           threads, reuse=True), lambda p: print(f"exporting {p} ...", flush=True)):
            files.append(sub / card.file)
    photo = (np.random.default_rng(0).random(PHOTO_LR + (3,)) * 255).astype(np.uint8)
    skipped = browser_missing()
    # The page first, with no runtime of this process loaded yet: the browser must have the CPU to itself
    # (bench_run.browser_records says what a loaded runtime's threads cost it).
    page_times = {} if skipped else _page_times([p for p in files if p.suffix == ".tflite"], photo, threads, runs)
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
    records = [_record(path, card, backend(card.format).RUNTIME, times[path], threads) for path, card, _ in contenders]
    for path, (ms, wasm_threads) in page_times.items():
        records.append(_record(path, read_card(path), BROWSER, ms, threads) | {"wasm_threads": wasm_threads})
    return records, skipped


def _page_times(files: list[Path], photo: np.ndarray, threads: int, runs: int) -> dict[Path, tuple[list[float], int]]:
    """Per file (ms of each run, WASM threads the page got): the photo through the demo page's hook, one page per file
    (the tiles share file names), runs interleaved; the hook's ms covers tiling, the model calls and stitching, not
    the PNG in or out."""
    url = png_data_url(photo)
    pages = {}
    try:
        for path in files:
            pages[path] = BrowserPage(path.parent, threads)
        for path, page in pages.items():  # warm-up
            page.upscale(url, path.name)
        times = {path: [] for path in files}
        for _ in range(runs):
            for path, page in pages.items():
                times[path].append(page.upscale(url, path.name)["ms"])
        return {path: (ms, threads if pages[path].call("runtime")["threads"] else 1) for path, ms in times.items()}
    finally:
        for page in pages.values():
            page.close()


def _record(path: Path, card, runtime: str, ms: list[float], threads: int) -> dict:
    grid = make_grid(*PHOTO_LR, tuple(card.tile), card.overlap)
    mp = PHOTO_LR[0] * PHOTO_LR[1] * card.scale ** 2 / 1e6
    return {"file": path.name, "format": card.format, "runtime": runtime, "scale": card.scale, "tile": list(card.tile),
            "overlap": card.overlap, "threads": threads, "photo_lr": list(PHOTO_LR), "calls": len(grid),
            "computed_per_pixel": round(len(grid) * card.tile[0] * card.tile[1] / (PHOTO_LR[0] * PHOTO_LR[1]), 3),
            "median_ms": round(float(np.median(ms)), 1), "min_ms": round(float(np.min(ms)), 1),
            "ms_per_output_mp": round(float(np.median(ms)) / mp, 1), "runs": len(ms)}


def scale_of(record: dict) -> int:
    """The SR scale a sweep record ran at; records from before the field carry it only in their output megapixels."""
    if "scale" in record:
        return record["scale"]
    output_mp = record["median_ms"] / record["ms_per_output_mp"]
    return round((output_mp * 1e6 / (record["photo_lr"][0] * record["photo_lr"][1])) ** 0.5)


def chosen_tiles(records: list[dict]) -> dict[str, tuple[int, int]]:
    """Per runtime swept with the 128 tile, the tile that beats that one by more than ``NOISE`` on both the medians
    and the fastest runs (the fastest of those), else the 128 tile; a runtime without it has nothing to choose against."""
    chosen = {}
    for runtime, mine in _by_runtime(records).items():
        base = _base(mine)
        if base is None:
            continue
        wins = [r for r in mine if base["median_ms"] > NOISE * r["median_ms"] and base["min_ms"] > NOISE * r["min_ms"]]
        best = min(wins, key=lambda r: r["median_ms"]) if wins else base
        chosen[runtime] = tuple(best["tile"])
    return chosen


def _base(records: list[dict]) -> dict | None:
    return next((r for r in records if tuple(r["tile"]) == BASE_TILE), None)


def _by_runtime(records: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(runtime_of(r), []).append(r)
    return groups


def sweep_lines(records: list[dict]) -> list[str]:
    """The sweep as a table, and per runtime the winner and its margin over the 128 tile."""
    lines = [f"Photo tiles: a {PHOTO_LR[1]}x{PHOTO_LR[0]} LR photo (x{scale_of(records[0])}), INT8, {records[0]['threads']} threads, "
             f"median of {records[0]['runs']} interleaved runs.", "",
             "| file | runtime | tile | calls | computed / photo pixels | median ms | fastest ms | ms per output MP |",
             "|---|---|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['file']} | {runtime_of(r)} | {tile_text(r['tile'])} | {r['calls']} | "
                     f"{r['computed_per_pixel']:.2f} | {r['median_ms']:.0f} | {r['min_ms']:.0f} | "
                     f"{r['ms_per_output_mp']:.1f} |")
    lines.append("")
    groups = _by_runtime(records)
    for runtime, mine in groups.items():
        best = min(mine, key=lambda r: r["median_ms"])
        base = _base(mine)
        if base:
            lines.append(f"- {runtime}: fastest tile {tile_text(best['tile'])}, "
                         f"{base['median_ms'] / best['median_ms']:.2f}x the 128 tile on the medians, "
                         f"{base['min_ms'] / best['min_ms']:.2f}x on the fastest runs")
    chosen = chosen_tiles(records)
    if chosen:
        lines.append(f"- photo tile by this sweep (beats 128 by more than {NOISE - 1:.0%} on medians and fastest runs, "
                     "else 128): " + ", ".join(f"{k} {tile_text(t)}" for k, t in chosen.items()))
    return lines + [""]
