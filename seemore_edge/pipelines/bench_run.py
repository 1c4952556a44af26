"""The bench's runs: every contender (eager PyTorch FP32 of the full model and of each deploy model, every exported file
with its card) timed on the same inputs in one process, runs interleaved so machine drift hits all alike; peak memory per
contender in a separate process; this CPU's throughput limit and the convolutions-alone floor through each runtime;
per-kernel ETDump profiles of the .pte files; a crop grid of what each INT8 artifact computes."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from export import load_runner
from export.card import read_card
from export.conv_floor import export_floors
from export.private_hooks import executorch_threads
from export.profile_pte import profile, summary
from export.throughput import LIMITS, export_limits
from export.verify import tile_latency
from quant.int8_checkpoint import is_qat_checkpoint, load_qat, qat_card
from seemore_edge.core.checkpoints import load_model, parent_of, read_model_card, resolve_weights
from seemore_edge.core.complexity import count_gmacs
from seemore_edge.core.datasets import data_root, load_set
from seemore_edge.core.errors import UserError
from seemore_edge.core.imresize import imresize
from seemore_edge.core.records import ArtifactCard, read as read_record
from seemore_edge.core.scoring import run_model
from seemore_edge.core.tiling import (DEFAULT_OVERLAP, DEFAULT_TILE, Tile, chw_to_uint8, frame_tile, tile_text,
                                      upscale_tiled)
from seemore_edge.pipelines.artifact_set import ArtifactSet, export_set
from seemore_edge.pipelines.browser_page import (BrowserPage, PageError, browser_missing, png_data_url, runtime_label,
                                                 software_adapter)
from seemore_edge.pipelines.plots import plot_crop_grid

TILE = DEFAULT_TILE  # the tile128 input


@dataclass
class BenchConfig:
    reference: str | None = None  # the eager FP32 baseline every ratio is taken against (None: the models' parent)
    models: list[str] = None  # shipped QAT models: eager edge contenders, the default set's sources, the floors' convs
    threads: list[int] = None
    runs: int = 20
    data_root: str | None = None


@dataclass
class DeployModel:
    """One QAT model the bench covers: ``weights`` as given, ``name`` as its artifacts' cards carry it (the shipped
    name or the file's stem), ``variant`` faithful or integer (its card's), the first one given the faithful baseline
    of the INT8-over-FP32 ratios."""
    weights: str
    name: str
    variant: str
    scale: int
    parent: str | None


def deploy_models(weights: list[str]) -> list[DeployModel]:
    out = []
    for w in weights:
        path = resolve_weights(w)
        card = qat_card(path)
        if card is None:
            raise UserError(f"--qat {w}: not a QAT checkpoint")
        out.append(DeployModel(w, parent_of(path).name, card.details.get("variant", "faithful") if card.details else
                               "faithful", card.scale, card.parent.name if card.parent else None))
    if len({m.name for m in out}) < len(out):
        raise UserError(f"--qat {','.join(weights)}: a model is named twice")
    return out


# --- contenders -----------------------------------------------------------------------------------------------------

@dataclass
class Contender:
    """A name, how to run one LR input (float32 NCHW) and what it is; ``tile`` is None for whole-frame eager models.
    ``role`` is what reports select by: "reference" (the baseline), "edge" (eager edge model) or "artifact"."""
    name: str
    role: str
    format: str
    precision: str
    run: Callable[[np.ndarray], np.ndarray]
    tile: Tile | None
    overlap: int
    scale: int
    size_kib: float
    psnr: dict | None
    path: Path | None = None
    model: str | None = None  # the deploy model's name (edge and artifact contenders)
    variant: str | None = None

    def frame(self, lr_uint8: np.ndarray) -> np.ndarray:
        if self.tile is None:
            x = np.ascontiguousarray(lr_uint8.transpose(2, 0, 1)[None], np.float32) / 255.0
            return chw_to_uint8(self.run(x)[0])  # the same 8-bit image the artifacts' frames end in
        return upscale_tiled(self.run, lr_uint8, self.scale, self.tile, self.overlap)


def _eager(module, threads):
    def run(x):
        torch.set_num_threads(threads)
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()
    return run


def artifact_runner(path: Path, tile: tuple[int, int], threads: int):
    runner = load_runner(path, tile, threads)
    if path.suffix == ".pte":  # ExecuTorch's pool is process-wide: make sure it has this contender's size
        def run(x):
            executorch_threads(threads)
            return runner(x)
        return run
    return runner


def artifact_contender(path: Path, threads: int, variants: dict[str, str] | None = None) -> Contender:
    card = read_card(path)
    return Contender(path.name, "artifact", card.format, card.precision,
                     artifact_runner(path, tuple(card.tile), threads), tuple(card.tile), card.overlap, card.scale,
                     card.size_bytes / 1024, scores(path, card), path, card.name, (variants or {}).get(card.name))


# Artifacts exported and scored by ``export`` (their cards committed): a file of the bench's default set with the same
# sha256 is the same bytes, so its PSNR is that card's (the bench times files, it does not score them).
RECORDED = Path(__file__).resolve().parents[2] / "docs" / "records" / "artifacts"


def scores(path: Path, card) -> dict | None:
    """{set: PSNR} of an artifact: a committed card's for the very same bytes (scored on the benchmark sets), else its
    own card's, else None."""
    recorded = RECORDED / f"{path.name}.json"
    if recorded.is_file():  # the card's sha256 is the file's (read_card checked it)
        known = read_record(recorded, ArtifactCard)
        if known.sha256 == card.sha256 and known.psnr:
            card = known
    return {s: v.psnr for s, v in card.psnr.items()} if card.psnr else None


def artifact_files(folder: Path) -> list[Path]:
    """The files the bench times: .pte and .tflite (Core ML has no runtime here)."""
    return sorted(p for p in folder.iterdir() if p.suffix in (".pte", ".tflite"))


def resolve_pair(cfg: BenchConfig) -> tuple[str, int, list[DeployModel]]:
    """The reference's name, the scale every model shares and the deploy models: the reference defaults to the first
    model's parent (T-x4 for T-x4-qat, T-x2 for T-x2-qat), and a model of another scale is refused."""
    models = deploy_models(cfg.models)
    reference = cfg.reference or models[0].parent
    if reference is None:
        raise UserError(f"--qat {models[0].weights}: its card names no parent; pass --reference")
    scale = load_model(resolve_weights(reference)).scale
    for m in models:
        if scale != m.scale:
            raise UserError(f"--reference {reference} is x{scale} but --qat {m.weights} is x{m.scale}")
    return reference, scale, models


def contenders(cfg: BenchConfig, models: list[DeployModel], artifacts: Path, threads: int) -> list[Contender]:
    ref_path = resolve_weights(cfg.reference)
    ref = load_model(ref_path)
    card = read_model_card(ref_path)
    psnr = {s: v.psnr for s, v in card.metrics.sets.items()} if card and card.metrics else None
    out = [Contender(f"eager FP32 full ({cfg.reference})", "reference", "eager", "fp32", _eager(ref, threads), None,
                     0, ref.scale, ref_path.stat().st_size / 1024, psnr, ref_path)]
    for m in models:
        qat_path = resolve_weights(m.weights)
        edge = load_qat(qat_path).fp32()
        out.append(Contender(f"eager FP32 edge ({m.weights} float weights)", "edge", "eager", "fp32",
                             _eager(edge, threads), None, 0, ref.scale, qat_path.stat().st_size / 1024, None, qat_path,
                             m.name, m.variant))
    variants = {m.name: m.variant for m in models}
    return out + [artifact_contender(path, threads, variants) for path in artifact_files(artifacts)]


# --- timing ---------------------------------------------------------------------------------------------------------

def time_interleaved(cs: list[Contender], inputs: dict, runs: int) -> dict:
    """{(contender, input): [ms, ...]}: every run goes once through every contender before the next run starts."""
    times = {(c.name, name): [] for c in cs for name in inputs if _takes(c, inputs[name][0])}
    for name, (kind, x) in inputs.items():
        takers = [c for c in cs if _takes(c, kind)]
        for c in takers:  # warm-up
            for _ in range(2):
                _call(c, kind, x)
        for _ in range(runs):
            for c in takers:
                t0 = time.perf_counter()
                _call(c, kind, x)
                times[(c.name, name)].append((time.perf_counter() - t0) * 1e3)
    return times


def _takes(c: Contender, kind: str) -> bool:
    """Every contender takes the frame; the 128 tile only eager models and artifacts made for it (a 180x320
    artifact's one call is its frame record)."""
    return kind == "frame" or c.tile is None or tuple(c.tile) == TILE


def _call(c: Contender, kind: str, x):
    return c.run(x) if kind == "tile" else c.frame(x)


def peak_memory(kind: str, path: str, threads: int) -> float:
    """Peak resident memory (MB) of a fresh process that loads one contender and upscales one 720p frame."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    res = subprocess.run([sys.executable, "-m", "seemore_edge.bench", "--child", kind, path, str(threads)],
                         capture_output=True, text=True, env=env, timeout=900)
    if res.returncode != 0:
        raise UserError(f"memory probe of {path} failed: {res.stderr.strip().splitlines()[-1:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])["peak_rss_mib"]


def memory_child(kind: str, path: str, threads: int) -> None:
    """The separate process of ``peak_memory``: load one contender, upscale one frame, print the high-water mark."""
    if kind == "eager":
        p = resolve_weights(path)
        qat = load_qat(p) if is_qat_checkpoint(p) else None
        module = qat.fp32() if qat else load_model(p)
        c = Contender(path, "eager", "eager", "fp32", _eager(module, threads), None, 0, qat.scale if qat else module.scale,
                      0, None)
    else:
        c = artifact_contender(Path(path), threads)
    c.frame(random_frame(c.scale))
    print(json.dumps({"peak_rss_mib": _peak_rss_mib()}))


def _peak_rss_mib() -> float:
    """This process's own high-water mark. Not ``getrusage``: Linux carries ru_maxrss across fork and exec, so a child
    of a large parent reports the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20 if sys.platform == "darwin" else 1024)


def random_frame(scale: int) -> np.ndarray:
    """The LR of one 1280x720 output frame, uint8 HxWx3 (the same pixels in every process of a run)."""
    return (np.random.default_rng(0).random(frame_tile(scale) + (3,)) * 255).astype(np.uint8)


def export_default_set(models: list[str], scale: int, folder: Path, threads: int,
                       tiles: list[Tile] | None = None) -> Path:
    """The artifacts a no-``--artifacts`` bench times, for each model: INT8 and FP32 at each of ``tiles`` (default the
    128 tile and the frame tile, 180x320 at x4, 360x640 at x2), so each INT8 file has its FP32 twin of the same tile.
    Scored on nothing here (``export`` measures PSNR; ``scores`` finds it for the same bytes), only timed."""
    folder.mkdir(parents=True, exist_ok=True)

    def announce(path: Path) -> None:
        print(f"exporting {path.name} ...", flush=True)
    for weights in models:
        for tile in tiles or (TILE, frame_tile(scale)):
            export_set(ArtifactSet(weights, ["pte", "tflite"], ["int8", "fp32"], tile, DEFAULT_OVERLAP, folder, None,
                                   [], threads), announce)
    return folder


def run_bench(args: BenchConfig, models: list[DeployModel], artifacts: Path, thread_counts: list[int],
              tmp: Path) -> tuple[list[dict], dict, dict]:
    """(records, limits, floors); ``limits`` by kind ("dense": the throughput limit, "depthwise": the depthwise
    reference, a comparison, not a bound), each ``"<format> <precision> <threads>t" -> GMAC/s``; ``floors`` by deploy
    model, each ``"<format> int8 <threads>t" -> {...}`` (the model's convolutions alone). ``tmp`` holds the limit and
    floor files, never ``artifacts``."""
    ref = load_model(resolve_weights(args.reference))
    frame_lr = frame_tile(ref.scale)
    gmacs = {"tile128": count_gmacs(ref, *TILE), "frame720p": count_gmacs(ref, *frame_lr)}
    frame = random_frame(ref.scale)
    tile = np.random.default_rng(1).random((1, 3, *TILE), dtype=np.float32)
    inputs = {"tile128": ("tile", tile), "frame720p": ("frame", frame)}
    files = artifact_files(artifacts)
    formats = sorted({p.suffix[1:] for p in files})
    limit_paths = export_limits(tmp, formats)
    int8_formats: dict[str, set] = {}
    for card in map(read_card, files):
        if card.precision == "int8":
            int8_formats.setdefault(card.name, set()).add(card.format)
    floor_paths = {}
    for m in models:
        if m.name in int8_formats:
            qat = load_qat(resolve_weights(m.weights))
            folder = tmp / f"floor-{len(floor_paths)}"
            folder.mkdir()
            floor_paths[m.name] = export_floors(qat.fp32(), frame_lr, folder, sorted(int8_formats[m.name]),
                                                qat.kept_float)
    records, limits, floors = [], {kind: {} for kind in LIMITS}, {name: {} for name in floor_paths}
    for threads in thread_counts:
        cs = contenders(args, models, artifacts, threads)
        times = time_interleaved(cs, inputs, args.runs)
        for (kind, fmt, precision), path in limit_paths.items():
            _, tile, limit_gmacs, _, _ = LIMITS[kind]
            ms = tile_latency(artifact_runner(path, tile, threads), tile, max(5, args.runs // 2), 2)
            limits[kind][f"{fmt} {precision} {threads}t"] = round(limit_gmacs / (ms["median_ms"] / 1e3), 1)
        for name, paths in floor_paths.items():  # the INT8 artifacts' floor: their convolutions alone
            for fmt, (path, skeleton) in paths.items():
                ms = tile_latency(artifact_runner(path, frame_lr, threads), frame_lr, max(5, args.runs // 2), 2)
                floors[name][f"{fmt} int8 {threads}t"] = {
                    "ms": round(ms["median_ms"], 1), "tile": list(frame_lr), "convs": len(skeleton.convs),
                    "float_convs": len(skeleton.float_convs), "gmacs": round(skeleton.macs / 1e9, 3),
                    "gmacs_by_kind": {k: round(v / 1e9, 3) for k, v in skeleton.macs_by_kind.items()}}
        for c in cs:
            kind = "eager" if c.role in ("reference", "edge") else "artifact"
            rss = peak_memory(kind, str(c.path), threads)
            for name in inputs:
                if (c.name, name) not in times:
                    continue
                ms = times[(c.name, name)]
                median = float(np.median(ms))
                rec = {"contender": c.name, "role": c.role, "format": c.format, "precision": c.precision, "threads": threads,
                       "input": name, "median_ms": round(median, 2), "p90_ms": round(float(np.percentile(ms, 90)), 2),
                       "min_ms": round(float(np.min(ms)), 2),
                       "tile": list(c.tile) if c.tile else None, "overlap": c.overlap if c.tile else None,
                       "runs": len(ms), "peak_rss_mib": round(rss, 1), "size_kib": round(c.size_kib, 1),
                       "gmacs": round(gmacs[name], 3), "gmac_per_s": round(gmacs[name] / (median / 1e3), 1),
                       "psnr": c.psnr}
                if c.model:
                    rec |= {"model": c.model, "variant": c.variant}
                lim = limits["dense"].get(f"{c.format} {c.precision} {threads}t")
                if lim:
                    rec["pct_of_limit"] = round(100 * rec["gmac_per_s"] / lim, 1)
                records.append(rec)
        base = {r["input"]: r["median_ms"] for r in records if r["threads"] == threads and r["role"] == "reference"}
        for r in records:
            if r["threads"] == threads:
                r["speedup_vs_eager_full"] = round(base[r["input"]] / r["median_ms"], 2)
    return records, limits, floors


def browser_records(artifacts: Path, thread_counts: list[int], runs: int, accelerators: list[str] = ("wasm",)) -> dict:
    """The demo page as a contender: every ``.tflite`` in headless Chromium (LiteRT.js on each of ``accelerators``,
    the page's own hook), on the same 128 tile and 720p frame as the native runs, before them in the same bench run:
    timed after them, the page's INT8 tile took 427 ms against 153-187 ms alone, while this process stayed at ~110%
    CPU with only the browser working (a runtime's thread pool, presumably), and the browser must have the CPU to
    itself as on a phone. The tile is timed in the page around the model call (data in and out of WASM included); the
    frame is the hook's ``ms`` (tiling, the model calls and stitching; PNG encoding excluded). WebGPU runs on
    Chromium's software adapter on a machine without a GPU: such records say ``"software": true`` and are a CPU's, not
    a GPU's. A file the page refuses on WebGPU is listed in ``refused`` with the page's line. ``{"records": [...],
    "refused": [...]}``, or ``{"records": [], "skipped": why}`` where no browser can be driven."""
    why = browser_missing()
    if why:
        return {"records": [], "skipped": why}
    out, refused = [], []
    for accelerator in accelerators:
        for threads in thread_counts if accelerator == "wasm" else thread_counts[:1]:  # WebGPU: no WASM threads
            with BrowserPage(artifacts, threads, accelerator) as page:
                info = page.call("runtime")
                for name in page.models():
                    card = read_card(artifacts / name)
                    times = {}
                    frame_url = png_data_url(random_frame(card.scale))
                    try:
                        if tuple(card.tile) == TILE:
                            times["tile128"] = page.call("timeTile", model=name, runs=runs)["ms"]
                        for _ in range(2):  # warm-up, as the native runs
                            used = page.upscale(frame_url, name)["accelerator"]
                    except PageError as e:
                        if accelerator == "wasm":  # the page's own runtime: every .tflite must run there
                            raise PageError(f"the demo page could not run {name} on WASM: {e}") from None
                        refused.append({"file": name, "accelerator": accelerator, "error": str(e)})
                        continue
                    times["frame720p"] = [page.upscale(frame_url, name)["ms"] for _ in range(runs)]
                    for input_name, ms in times.items():
                        median = float(np.median(ms))
                        rec = {"contender": f"browser {name}" + ("" if accelerator == "wasm" else f" ({used})"),
                               "file": name, "format": card.format, "precision": card.precision,
                               "runtime": f"{runtime_label(used, threads, page.adapter)}, headless Chromium",
                               "accelerator": used,
                               "threads": threads, "wasm_threads": threads if info["threads"] else 1,
                               "input": input_name, "tile": list(card.tile), "overlap": card.overlap,
                               "median_ms": round(median, 2), "p90_ms": round(float(np.percentile(ms, 90)), 2),
                               "min_ms": round(float(np.min(ms)), 2), "runs": len(ms)}
                        if accelerator == "webgpu":
                            rec |= {"software": software_adapter(page.adapter), "adapter": page.adapter}
                        out.append(rec)
    return {"records": out, "refused": refused}


def add_speedups(browser: dict, records: list[dict]) -> dict:
    """Each browser record's ratio to eager FP32 full on the same input and thread count."""
    for rec in browser["records"]:
        base = next((r for r in records if r["threads"] == rec["threads"] and r["role"] == "reference"
                     and r["input"] == rec["input"]), None)
        if base:
            rec["speedup_vs_eager_full"] = round(base["median_ms"] / rec["median_ms"], 2)
    return browser


def profiles(artifacts: Path, threads: int) -> list[dict]:
    """Per-kernel time of every .pte (one tile, ETDump). LiteRT's Python runtime has no per-operator profiler; its
    C++ benchmark_model has one (``--enable_op_profiling``, in the ``--android`` command lines)."""
    out = []
    for path in sorted(p for p in artifacts.iterdir() if p.suffix == ".pte"):
        prof = profile(path, tuple(read_card(path).tile), threads)
        out.append(prof | {"summary": summary(prof["kernels"])})
    return out


def crop_grid(args: BenchConfig, artifacts: Path, png: Path) -> str | None:
    """HR, bicubic, the full FP32 model and every INT8 artifact in its runtime on one crop of a BSD100 image."""
    root = data_root(args.data_root)
    if root is None or not (root / "BSD100").is_dir():
        print("no BSD100 under the data root: crop grid skipped")
        return None
    ref = load_model(resolve_weights(args.reference))
    pair = next(iter(load_set(root, "BSD100", ref.scale)))
    h, w = pair.hr.shape[:2]
    y, x, n = h // 2 - 64, w // 2 - 64, 128

    def crop(img):
        return img[y:y + n, x:x + n]
    panels = [("HR", crop(pair.hr)), ("bicubic", crop(imresize(pair.lr, ref.scale))),
              (f"{args.reference} FP32 (full)", crop(run_model(ref, pair.lr)))]
    # Core ML packages too: not timed (off macOS the MIL interpreter runs them), but their pixels belong beside the rest.
    for path in artifact_files(artifacts) + sorted(artifacts.glob("*.mlpackage")):
        c = artifact_contender(path, 2)
        if c.precision == "int8":
            where = "MIL interpreter" if path.suffix == ".mlpackage" and sys.platform != "darwin" else c.format
            panels.append((f"{where} INT8, tile {tile_text(c.tile)}", crop(c.frame(pair.lr))))
    plot_crop_grid(panels, png, f"BSD100 {pair.name}, x{ref.scale}, center crop {n}x{n}")
    return png.name


def android_commands(artifacts: Path, runs: int, et_runner: str, litert_benchmark: str) -> str:
    """adb command lines for ExecuTorch's executor_runner and LiteRT's benchmark_model on an attached phone."""
    lines = ["# Not run here (no phone attached to this machine). Push the runtimes' benchmark binaries first."]
    for p in sorted(artifacts.iterdir()):
        if p.suffix == ".pte":
            lines += [f"adb push {p} /data/local/tmp/{p.name}",
                      f"adb shell {et_runner} --model_path /data/local/tmp/{p.name} --num_executions {runs}"]
        elif p.suffix == ".tflite":
            lines += [f"adb push {p} /data/local/tmp/{p.name}",
                      f"adb shell {litert_benchmark} --graph=/data/local/tmp/{p.name} --num_threads=2 "
                      f"--use_xnnpack=true --num_runs={runs} --enable_op_profiling=true"]
    lines.append("# iOS: open the .mlpackage in Xcode > Performance tab (Core ML performance report) on a device.")
    return "\n".join(lines)
