"""Each artifact measured in its own runtime: PSNR on whole benchmark images tiled the way the apps tile, and the
latency of one tile; then its card is written. Used by ``export``, ``evaluate --artifact`` and the main job."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from seemore_edge.core.scoring import evaluate_sets, tiled_upscaler
from seemore_edge.core.tiling import tile_text

from export import backend, export_artifact, float_ops, load_runner, resolve_threads
from export.card import read_card, write_card


def tile_latency(run, tile: tuple[int, int], runs: int = 20, warmup: int = 3) -> dict:
    x = np.random.default_rng(0).random((1, 3, *tile), dtype=np.float32)
    for _ in range(warmup):
        run(x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run(x)
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": round(float(np.median(times)), 3), "p90_ms": round(float(np.percentile(times, 90)), 3),
            "runs": runs}


def artifact_upscaler(path: Path, threads: int | None = None, **options):
    """(card, upscaler): whole uint8 images through the artifact in its runtime, tiled as its card says; the one
    route by which ``evaluate --artifact`` scores and ``upscale --artifact`` writes pixels. ``options`` go to the
    runner (a ``.mlpackage``'s interpreter ``mode``)."""
    card = read_card(path)
    run = load_runner(path, tuple(card.tile), threads, **options)
    return card, tiled_upscaler(run, card.scale, tuple(card.tile), card.overlap)


def score_artifact(path: Path, root, sets: list[str], threads: int | None = None) -> dict:
    """``evaluate_sets`` of an artifact in its runtime, with tile, overlap and scale from its card."""
    card, upscale = artifact_upscaler(path, threads)
    return evaluate_sets(upscale, root, sets, card.scale)


def export_and_verify(source, meta: dict, fmt: str, precision: str, tile: tuple[int, int], overlap: int, path: Path,
                      root, sets: list[str], threads: int | None = None) -> dict:
    """Export, measure in the runtime, write the card; returns the card. ``meta``: name, parent, preset, scale,
    routing (ArtifactCard fields)."""
    t0 = time.perf_counter()
    audit = export_artifact(source, fmt, precision, tile, path)
    export_s = time.perf_counter() - t0
    scale = meta["scale"]
    (th, tw) = tile
    card = {"format": fmt, "precision": precision, **meta, "tile": [th, tw], "overlap": overlap,
            "input": {"layout": "NCHW", "shape": [1, 3, th, tw], "dtype": "float32", "range": [0.0, 1.0],
                      "color": "RGB"},
            "output": {"layout": "NCHW", "shape": [1, 3, th * scale, tw * scale], "dtype": "float32",
                       "range": [0.0, 1.0], "note": "clamp to [0, 1], then floor(255 v + 0.5)"},
            "tiling": "seemore_edge/core/tiling.py (mirror padding to the tile, ramp blending over the overlap)",
            "audit": audit, "float_ops": float_ops(path), "export_s": round(export_s, 1)}
    if audit.get("input", {}).get("dtype") == "int8":  # a .tflite exported without its float-io pass
        card["input"] |= {"dtype": "int8", "quantization": {"scale": audit["input"]["scale"],
                                                           "zero_point": audit["input"]["zero_point"]},
                          "note": "quantize clamp(round(v / scale) + zero_point, -128, 127) of v in [0, 1]"}
    if audit.get("output", {}).get("dtype") == "int8":
        card["output"] |= {"dtype": "int8", "quantization": {"scale": audit["output"]["scale"],
                                                             "zero_point": audit["output"]["zero_point"]},
                           "note": "dequantize (q - zero_point) * scale, clamp to [0, 1], floor(255 v + 0.5)"}
    run = load_runner(path, tile, threads)
    card["executed_by"] = getattr(run, "executed_by", backend(fmt).RUNTIME)
    card["latency_note"] = getattr(run, "latency_note", None)
    if card["latency_note"] is None:
        card["latency"] = tile_latency(run, tile) | {"threads": resolve_threads(threads), "platform": sys.platform}
    result = evaluate_sets(tiled_upscaler(run, scale, tile, overlap), root, sets, scale)
    card["psnr"] = result["sets"]
    card["psnr_protocol"] = ("Y channel, MATLAB bicubic LR, scale-pixel border; whole images tiled in this runtime"
                             + (f" ({run.numerics})" if hasattr(run, "numerics") else ""))
    return write_card(path, card)


def artifact_name(name: str, fmt: str, precision: str, tile: tuple[int, int]) -> str:
    """``T-x4-qat-int8.pte`` for a square tile (the photo tiler's), ``T-x4-qat-int8-180x320.pte`` for a frame-shaped
    one, so both live side by side in one folder."""
    shape = "" if tile[0] == tile[1] else f"-{tile_text(tile)}"
    return f"{name}-{precision}{shape}{backend(fmt).SUFFIX}"


def artifact_plan(formats: list[str], precisions: list[str]) -> list[tuple[str, str]]:
    """The (format, precision) pairs to export: Core ML's float is FP16 (``fp32`` asks for it), and a precision a
    format does not offer is skipped."""
    plan = []
    for fmt in formats:
        for precision in precisions:
            precision = "fp16" if fmt == "mlpackage" and precision == "fp32" else precision
            if precision in backend(fmt).PRECISIONS and (fmt, precision) not in plan:
                plan.append((fmt, precision))
    return plan
