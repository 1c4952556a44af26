"""``python -m seemore_edge.bench``: latency, memory and size of every artifact next to eager PyTorch, in one run.

Contenders: eager PyTorch FP32 of the full model (dynamic routing, the shipped reference) and of the edge model, and
every ``.pte`` and ``.tflite`` in ``--artifacts`` (without it, the shipped T-x4-qat is exported to a temporary folder
first: INT8 and FP32 at the 128 tile, and INT8 at the 180x320 frame tile). Inputs: one 128x128 LR tile (eager models
and 128-tile artifacts), and a 1280x720 output frame (320x180 LR at x4) processed as the app does it (tiled with the
card's tile and overlap: six 128 tiles, or one call of a 180x320 artifact; eager PyTorch takes the whole frame in one
call, its natural use). Runs are
interleaved across contenders so machine drift hits all alike; peak memory is measured per contender in a separate
process; the limit is this CPU's throughput through the same runtime (export/throughput.py), and the floor the time of
the model's convolutions alone in each INT8 runtime (export/conv_floor.py); the report sets the targets (INT8 .pte 4x,
.tflite 3x eager FP32 full on the frame) against both.

Phones: ``--android`` prints the adb command lines that run the same artifacts with ExecuTorch's and LiteRT's
benchmark binaries on an attached device (paths given with --et-runner/--litert-benchmark); they are not run here.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from . import cli
from .errors import UserError
from .imageio import atomic_write
from .tiling import DEFAULT_OVERLAP, DEFAULT_TILE, tile_text

FRAME_LR = (180, 320)  # 1280x720 output at x4
# The speed-ups the INT8 artifacts must reach on the 720p frame over eager FP32 of the full model (issue 7).
TARGETS = {"pte": 4.0, "tflite": 3.0}
TILE = DEFAULT_TILE  # the tile128 input


def parse(argv):
    ap = argparse.ArgumentParser(prog="python -m seemore_edge.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", type=Path, help="folder of exported .pte/.tflite with cards (default: export the "
                                                   "shipped T-x4-qat to a temporary folder)")
    ap.add_argument("--threads", default="2", help="comma-separated thread counts, e.g. 1,2")
    ap.add_argument("--runs", type=int, default=20, help="timed runs per contender and input (after warm-up)")
    ap.add_argument("--reference", default="T-x4", help="shipped FP32 reference (eager contender)")
    ap.add_argument("--qat", default="T-x4-qat", help="shipped QAT model (eager edge contender; export source; "
                                                         "the floor's convolutions)")
    ap.add_argument("--json", type=Path, help="records, one per (contender, input, threads)")
    ap.add_argument("--out", type=Path, default=Path("out/bench"), help="report.md and plots go here")
    ap.add_argument("--data-root", help="benchmark root for the crop grid (default: $SEEMORE_DATA)")
    ap.add_argument("--android", action="store_true", help="print the phone command lines instead of running here")
    ap.add_argument("--et-runner", default="/data/local/tmp/executor_runner")
    ap.add_argument("--litert-benchmark", default="/data/local/tmp/benchmark_model")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "PATH", "THREADS"), help=argparse.SUPPRESS)
    return ap.parse_args(argv)


# --- contenders -----------------------------------------------------------------------------------------------------

class Contender:
    """A name, how to run one LR input (float32 NCHW) and what it is; ``tile`` is None for whole-frame eager models."""

    def __init__(self, name, fmt, precision, run, tile, overlap, scale, size_kb, psnr, path=None):
        self.name, self.format, self.precision, self.run = name, fmt, precision, run
        self.tile, self.overlap, self.scale, self.size_kb, self.psnr, self.path = (tile, overlap, scale, size_kb,
                                                                                    psnr, path)

    def frame(self, lr_uint8: np.ndarray) -> np.ndarray:
        from .tiling import upscale_tiled

        if self.tile is None:
            x = np.ascontiguousarray(lr_uint8.transpose(2, 0, 1)[None], np.float32) / 255.0
            return self.run(x)
        return upscale_tiled(self.run, lr_uint8, self.scale, self.tile, self.overlap)


def _eager(module, threads):
    def run(x):
        torch.set_num_threads(threads)
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()
    return run


def _artifact_runner(path: Path, tile: tuple[int, int], threads: int):
    from export import load_runner

    runner = load_runner(path, tile, threads)
    if path.suffix == ".pte":  # ExecuTorch's pool is process-wide: make sure it has this contender's size
        from executorch.extension.pybindings.portable_lib import (_threadpool_get_thread_count,
                                                                  _unsafe_reset_threadpool)

        def run(x):
            if _threadpool_get_thread_count() != threads:
                _unsafe_reset_threadpool(threads)
            return runner(x)
        return run
    return runner


def contenders(args, artifacts: Path, threads: int) -> list[Contender]:
    from export.card import read_card
    from quant.qat_checkpoint import load_qat

    from .checkpoints import load_model

    ref_path = _weights(args.reference)
    ref = load_model(ref_path)
    ref_card = json.loads(ref_path.with_suffix(".json").read_text()) if ref_path.with_suffix(".json").exists() else {}
    out = [Contender(f"eager FP32 full ({args.reference})", "eager", "fp32", _eager(ref, threads), None, 0, ref.scale,
                     ref_path.stat().st_size / 1024, _psnr_of(ref_card.get("metrics", {})))]
    qat_path = _weights(args.qat)
    edge = load_qat(qat_path).fp32()
    out.append(Contender(f"eager FP32 edge ({args.qat} float weights)", "eager", "fp32", _eager(edge, threads), None,
                         0, ref.scale, qat_path.stat().st_size / 1024, None))
    for path in sorted(artifacts.iterdir()):
        if path.suffix not in (".pte", ".tflite"):
            continue
        card = read_card(path)
        out.append(Contender(path.name, card["format"], card["precision"],
                             _artifact_runner(path, card["tile"], threads), card["tile"], card["overlap"],
                             card["scale"], card["size_bytes"] / 1024, _psnr_of(card.get("psnr") or {}), path))
    return out


def _psnr_of(sets: dict) -> dict:
    return {k: v["psnr"] for k, v in sets.items() if isinstance(v, dict) and "psnr" in v}


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


def _weights(arg: str) -> Path:
    """A shipped name (T-x4) or a checkpoint path."""
    from .checkpoints import resolve_weights

    return Path(arg) if Path(arg).is_file() else resolve_weights(arg)


def peak_memory(kind: str, path: str, threads: int) -> float:
    """Peak resident memory (MB) of a fresh process that loads one contender and upscales one 720p frame."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    res = subprocess.run([sys.executable, "-m", "seemore_edge.bench", "--child", kind, path, str(threads)],
                         capture_output=True, text=True, env=env, timeout=900)
    if res.returncode != 0:
        raise UserError(f"memory probe of {path} failed: {res.stderr.strip().splitlines()[-1:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])["peak_rss_mb"]


def _child(kind: str, path: str, threads: int) -> None:
    """The separate process of ``peak_memory``."""
    from export.card import read_card

    from .checkpoints import load_model

    lr = (np.random.default_rng(0).random(FRAME_LR + (3,)) * 255).astype(np.uint8)
    if kind == "eager":
        from quant.qat_checkpoint import is_qat_checkpoint, load_qat

        p = _weights(path)
        module = load_qat(p).fp32() if is_qat_checkpoint(p) else load_model(p)
        c = Contender(path, "eager", "fp32", _eager(module, threads), None, 0, 4, 0, None)
    else:
        card = read_card(Path(path))
        c = Contender(path, card["format"], card["precision"], _artifact_runner(Path(path), card["tile"], threads),
                      card["tile"], card["overlap"], card["scale"], 0, None)
    c.frame(lr)
    print(json.dumps({"peak_rss_mb": _peak_rss_mb()}))


def _peak_rss_mb() -> float:
    """This process's own high-water mark. Not ``getrusage``: Linux carries ru_maxrss across fork and exec, so a child
    of a large parent reports the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20 if sys.platform == "darwin" else 1024)


# --- the run --------------------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    args = parse(argv)
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    try:
        thread_counts = [int(t) for t in args.threads.split(",") if t]
    except ValueError:
        raise UserError(f"--threads {args.threads}: expected comma-separated integers") from None
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {args.out}: not writable ({e.strerror})") from None
    cli.check_json_target(args.json)
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = args.artifacts or _export_shipped(args.qat, Path(tmp))
        if not artifacts.is_dir():
            raise UserError(f"--artifacts {artifacts}: no such folder")
        if args.android:
            print(android_commands(artifacts, args))
            return 0
        records, limits, floors = run_bench(args, artifacts, thread_counts, Path(tmp))
        profiles = _profiles(artifacts, thread_counts[0])
        crops = _crop_grid(args, artifacts)
    from export.throughput import cpu_features

    payload = {"cpu": cpu_features(), "records": records, "limits": limits, "floors": floors, "profiles": profiles,
               "crops": crops}
    cli.write_json(args.json, payload)
    _write_report(args, payload)
    return 0


def _export_shipped(name: str, folder: Path) -> Path:
    from export.verify import artifact_name, artifact_plan, export_and_verify

    from .export import load_source

    source, meta = load_source(_weights(name))
    meta = {"name": Path(name).stem, "source": name, **meta}
    plan = [(fmt, precision, TILE) for fmt, precision in artifact_plan(["pte", "tflite"], ["int8", "fp32"])]
    plan += [(fmt, "int8", FRAME_LR) for fmt in ("pte", "tflite")]
    for fmt, precision, tile in plan:
        target = folder / artifact_name(meta["name"], fmt, precision, tile)
        print(f"exporting {target.name} ...", flush=True)
        export_and_verify(source, meta, fmt, precision, tile, DEFAULT_OVERLAP, target, None, [], 2)
    return folder


def run_bench(args, artifacts: Path, thread_counts: list[int], tmp: Path) -> tuple[list[dict], dict, dict]:
    from export.card import read_card
    from export.conv_floor import export_floors
    from export.throughput import GMACS as LIMIT_GMACS, export_limits
    from export.verify import tile_latency
    from quant.qat_checkpoint import load_qat

    from .checkpoints import load_model
    from .complexity import count_gmacs

    ref = load_model(_weights(args.reference))
    gmacs = {"tile128": count_gmacs(ref, *TILE), "frame720p": count_gmacs(ref, *FRAME_LR)}
    frame = (np.random.default_rng(0).random(FRAME_LR + (3,)) * 255).astype(np.uint8)
    tile = np.random.default_rng(1).random((1, 3, *TILE), dtype=np.float32)
    inputs = {"tile128": ("tile", tile), "frame720p": ("frame", frame)}
    formats = sorted({p.suffix[1:] for p in artifacts.iterdir() if p.suffix in (".pte", ".tflite")})
    limit_paths = export_limits(tmp, formats)
    cards = [read_card(p) for p in artifacts.iterdir() if p.suffix in (".pte", ".tflite")]
    int8_formats = sorted({card["format"] for card in cards if card["precision"] == "int8"})
    floor_paths = export_floors(load_qat(_weights(args.qat)).fp32(), FRAME_LR, tmp, int8_formats)
    records, limits, floors = [], {}, {}
    for threads in thread_counts:
        cs = contenders(args, artifacts, threads)
        times = time_interleaved(cs, inputs, args.runs)
        for (fmt, precision), path in limit_paths.items():
            ms = tile_latency(_artifact_runner(path, (96, 96), threads), (96, 96), max(5, args.runs // 2), 2)
            limits[f"{fmt} {precision} {threads}t"] = round(LIMIT_GMACS / (ms["median_ms"] / 1e3), 1)
        for fmt, (path, skeleton) in floor_paths.items():  # the INT8 artifacts' floor: their convolutions alone
            ms = tile_latency(_artifact_runner(path, FRAME_LR, threads), FRAME_LR, max(5, args.runs // 2), 2)
            floors[f"{fmt} int8 {threads}t"] = {"ms": round(ms["median_ms"], 1), "tile": list(FRAME_LR), "convs": len(skeleton.convs),
                                                "gmacs": round(skeleton.macs / 1e9, 3),
                                                "gmacs_by_kind": {k: round(v / 1e9, 3)
                                                                  for k, v in skeleton.macs_by_kind.items()}}
        for c in cs:
            kind = "eager" if c.format == "eager" else "artifact"
            target = (args.reference if "full" in c.name else args.qat) if kind == "eager" else str(c.path)
            rss = peak_memory(kind, target, threads)
            for name in inputs:
                if (c.name, name) not in times:
                    continue
                ms = times[(c.name, name)]
                median = float(np.median(ms))
                rec = {"contender": c.name, "format": c.format, "precision": c.precision, "threads": threads,
                       "input": name, "median_ms": round(median, 2), "p90_ms": round(float(np.percentile(ms, 90)), 2),
                       "min_ms": round(float(np.min(ms)), 2),
                       "tile": list(c.tile) if c.tile else None, "overlap": c.overlap if c.tile else None,
                       "runs": len(ms), "peak_rss_mb": round(rss, 1), "size_kb": round(c.size_kb, 1),
                       "gmacs": round(gmacs[name], 3), "gmac_per_s": round(gmacs[name] / (median / 1e3), 1),
                       "psnr": c.psnr}
                lim = limits.get(f"{c.format} {c.precision} {threads}t")
                if lim:
                    rec["pct_of_limit"] = round(100 * rec["gmac_per_s"] / lim, 1)
                records.append(rec)
        base = {r["input"]: r["median_ms"] for r in records if r["threads"] == threads and "full" in r["contender"]}
        for r in records:
            if r["threads"] == threads:
                r["speedup_vs_eager_full"] = round(base[r["input"]] / r["median_ms"], 2)
    return records, limits, floors


def _profiles(artifacts: Path, threads: int) -> list[dict]:
    """Per-kernel time of every .pte (one tile, ETDump). LiteRT's Python runtime has no per-operator profiler; its
    C++ benchmark_model has one (``--enable_op_profiling``, in the ``--android`` command lines)."""
    from export.card import read_card
    from export.profile_pte import profile, summary

    out = []
    for path in sorted(p for p in artifacts.iterdir() if p.suffix == ".pte"):
        prof = profile(path, read_card(path)["tile"], threads)
        out.append(prof | {"summary": summary(prof["kernels"])})
    return out


def _crop_grid(args, artifacts: Path) -> str | None:
    """HR, bicubic, the full FP32 model and every INT8 artifact in its runtime on one crop of a BSD100 image."""
    from export.card import read_card

    from .checkpoints import load_model
    from .datasets import data_root, load_set
    from .evaluation import run_model
    from .imresize import imresize
    from .plots import plot_crop_grid

    root = data_root(args.data_root)
    if root is None or not (root / "BSD100").is_dir():
        print("no BSD100 under the data root: crop grid skipped")
        return None
    pair = next(iter(load_set(root, "BSD100", 4)))
    ref = load_model(_weights(args.reference))
    h, w = pair.hr.shape[:2]
    y, x, n = h // 2 - 64, w // 2 - 64, 128

    def crop(img):
        return img[y:y + n, x:x + n]
    panels = [("HR", crop(pair.hr)), ("bicubic", crop(imresize(pair.lr, 4))),
              (f"{args.reference} FP32 (full)", crop(run_model(ref, pair.lr)))]
    for path in sorted(artifacts.iterdir()):
        if path.suffix in (".pte", ".tflite") and "int8" in path.name:
            card = read_card(path)
            c = Contender(path.name, card["format"], card["precision"], _artifact_runner(path, card["tile"], 2),
                          card["tile"], card["overlap"], card["scale"], 0, None)
            panels.append((f"{card['format']} INT8, tile {tile_text(card['tile'])}", crop(c.frame(pair.lr))))
    plot_crop_grid(panels, args.out / "crops.png", f"BSD100 {pair.name}, x4, center crop {n}x{n}")
    return "crops.png"


def android_commands(artifacts: Path, args) -> str:
    """adb command lines for ExecuTorch's executor_runner and LiteRT's benchmark_model on an attached phone."""
    lines = ["# Not run here (no phone attached to this machine). Push the runtimes' benchmark binaries first."]
    for p in sorted(artifacts.iterdir()):
        if p.suffix == ".pte":
            lines += [f"adb push {p} /data/local/tmp/{p.name}",
                      f"adb shell {args.et_runner} --model_path /data/local/tmp/{p.name} --num_executions {args.runs}"]
        elif p.suffix == ".tflite":
            lines += [f"adb push {p} /data/local/tmp/{p.name}",
                      f"adb shell {args.litert_benchmark} --graph=/data/local/tmp/{p.name} --num_threads=2 "
                      f"--use_xnnpack=true --num_runs={args.runs} --enable_op_profiling=true"]
    lines.append("# iOS: open the .mlpackage in Xcode > Performance tab (Core ML performance report) on a device.")
    return "\n".join(lines)


def gap_lines(payload: dict) -> list[str]:
    """What keeps the INT8 artifacts below the limit, in three figures the run measured: how much INT8 buys over FP32
    through each runtime, how many pixels the app's tiling computes per frame, and how fast the convolutions run once
    the time of the MAC-free kernels (ETDump) is set aside."""
    from .tiling import make_grid

    recs, limits = payload["records"], payload["limits"]
    lines = ["## What keeps the INT8 artifacts from the limit", ""] + target_lines(payload)
    for key, int8 in limits.items():
        fmt, precision, threads = key.split()
        fp32 = limits.get(f"{fmt} fp32 {threads}")
        if precision == "int8" and fp32:
            lines.append(f"- {fmt}, {threads}: the INT8 limit is {int8 / fp32:.2f}x the FP32 one ({int8} vs {fp32} "
                         "GMAC/s)" + ("; INT8 buys no throughput here, only size" if int8 / fp32 < 1.2 else ""))
    for r in recs:
        if r["input"] == "frame720p" and r["precision"] == "int8" and r["tile"]:
            grid = make_grid(*FRAME_LR, tuple(r["tile"]), r["overlap"])
            computed = len(grid) * r["tile"][0] * r["tile"][1] / (FRAME_LR[0] * FRAME_LR[1])
            lines.append(f"- {r['contender']}: a 720p frame is {len(grid)} call(s) of {tile_text(r['tile'])}, "
                         f"{computed:.2f}x the frame's pixels; {r.get('pct_of_limit', '-')}% of the limit per frame")
    by_name = {r["contender"]: r for r in recs if r["input"] == "tile128" or r["tile"] == list(FRAME_LR)}
    for prof in payload.get("profiles", []):
        r = by_name.get(prof["file"])
        conv = prof["summary"].get("conv (IGEMM, GEMM, depthwise)")
        if r and r["precision"] == "int8" and conv and r.get("pct_of_limit"):
            lines.append(f"- {prof['file']}, one {tile_text(prof['tile'])} call: convolutions (nearly all the MACs) "
                         f"take {conv}% of the time, so they run at about {r['pct_of_limit'] / conv * 100:.0f}% of the "
                         f"limit; the other {100 - conv:.0f}% (GELU tables, the float residual stream's and LayerNorms' "
                         "elementwise ops, resize, INT8/float converts) does few MACs")
            lines += _by_kind(prof, payload.get("floors", {}).get(f"pte int8 {prof['threads']}t"),
                              limits.get(f"pte int8 {prof['threads']}t"))
    return lines + [""]


def _by_kind(prof: dict, floor: dict | None, limit: float | None) -> list[str]:
    """How fast each convolution family runs inside the model: ETDump's ms per kernel family over the skeleton's MACs
    of that family (the same tile only)."""
    if not floor or not limit or prof["tile"] != floor["tile"]:
        return []
    from export.profile_pte import conv_family

    ms: dict[str, float] = {}
    for k in prof["kernels"]:
        kind = conv_family(k["kernel"])
        if kind:
            ms[kind] = ms.get(kind, 0.0) + k["ms"]
    parts = [f"{kind} {gmacs} GMAC in {ms[kind]:.1f} ms = {gmacs / ms[kind] * 1e3:.1f} GMAC/s "
             f"({100 * gmacs / ms[kind] * 1e3 / limit:.0f}% of the limit)"
             for kind, gmacs in sorted(floor["gmacs_by_kind"].items(), key=lambda kv: -kv[1]) if ms.get(kind)]
    return [f"  - by convolution family (ETDump time, MACs counted on the model): {'; '.join(parts)}"] if parts else []


def target_lines(payload: dict) -> list[str]:
    """Each runtime's target against its best INT8 frame time and against its floor (the convolutions alone): when
    the floor is over the target, no rewrite of the rest of the graph reaches it."""
    lines = []
    frames = [r for r in payload["records"] if r["input"] == "frame720p"]
    for fmt, factor in TARGETS.items():
        for threads in sorted({r["threads"] for r in frames}):
            eager = next((r for r in frames if r["threads"] == threads and r["format"] == "eager"
                          and "full" in r["contender"]), None)
            mine = [r for r in frames if r["threads"] == threads and r["format"] == fmt and r["precision"] == "int8"]
            if eager is None or not mine:
                continue
            base, best = eager["median_ms"], min(mine, key=lambda r: r["median_ms"])
            goal = base / factor
            # The eager baseline is the noisiest figure (a stalled run slows PyTorch's many small ops more than one
            # XNNPACK graph), so a target counts as met only when the fastest runs' ratio meets it too.
            on_median, on_min = base / best["median_ms"], eager["min_ms"] / best["min_ms"]
            verdict = ("met" if min(on_median, on_min) >= factor else
                       "met on the medians only, not on the fastest runs" if on_median >= factor else "not met")
            lines.append(f"- Target, INT8 .{fmt}, {threads} threads: {factor:g}x eager FP32 full on the frame, i.e. at "
                         f"most {goal:.1f} ms (eager median {base:.1f} ms, p90 {eager['p90_ms']:.1f}); best here "
                         f"{best['contender']} {best['median_ms']:.1f} ms = {on_median:.2f}x; fastest runs "
                         f"{best['min_ms']:.1f} vs {eager['min_ms']:.1f} ms = {on_min:.2f}x: {verdict}")
            floor = payload.get("floors", {}).get(f"{fmt} int8 {threads}t")
            if floor:
                verdict = (f"above the target's {goal:.1f} ms, so with these convolution shapes no change to the rest "
                           "of the graph reaches the target on this CPU" if floor["ms"] > goal else
                           f"the target leaves {goal - floor['ms']:.0f} ms for every other op, which take "
                           f"{best['median_ms'] - floor['ms']:.0f} ms in {best['contender']} now")
                lines.append(f"- Floor, INT8 .{fmt}, {threads} threads: the model's {floor['convs']} convolutions "
                             f"alone ({floor['gmacs']} GMAC), one {tile_text(floor['tile'])} call with every other op "
                             f"taken out (export/conv_floor.py), take {floor['ms']:.1f} ms = "
                             f"{base / floor['ms']:.2f}x eager full: {verdict}")
    return lines


def _write_report(args, payload: dict) -> None:
    from .plots import plot_psnr_latency

    recs = payload["records"]
    lines = ["# Benchmark", "", f"{len({r['contender'] for r in recs})} contenders, inputs: one 128x128 LR tile (eager "
             "models and 128-tile artifacts) and a 1280x720 output frame (320x180 LR, tiled with each artifact's tile "
             "as the app does: six 128 tiles, or one call of a 180x320 artifact; one call for eager PyTorch); "
             f"median and p90 of {recs[0]['runs'] if recs else 0} interleaved runs after warm-up.", "",
             "| contender | tile | threads | input | median ms | p90 ms | x eager full | GMAC/s | % of limit | peak RSS MB |"
             " size KB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in recs:
        tile = tile_text(r["tile"]) if r["tile"] else "whole"
        lines.append(f"| {r['contender']} | {tile} | {r['threads']} | {r['input']} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} | "
                     f"{r['speedup_vs_eager_full']:.2f} | {r['gmac_per_s']:.0f} | {r.get('pct_of_limit', '-')} | "
                     f"{r['peak_rss_mb']:.0f} | {r['size_kb']:.0f} |")
    cpu = payload["cpu"]
    lines += ["", "Throughput limit (two dense 3x3 convs, 256 ch, 96x96, through each runtime), GMAC/s: " +
              ", ".join(f"{k} {v}" for k, v in payload["limits"].items()) + ".", "",
              f"CPU: {cpu['cpu']}; SIMD {', '.join(cpu['simd']) or 'unknown'}; INT8 dot-product instructions: "
              f"{', '.join(cpu['int8_dot_product']) or 'none (XNNPACK INT8 runs on 16-bit multiply-adds here)'}.", ""]
    for prof in payload.get("profiles", []):
        lines += [f"Where the time of one {tile_text(prof['tile'])} tile goes in {prof['file']} ({prof['threads']} "
                  f"threads, ETDump, median of {prof['runs']} runs; {prof['ops']} XNNPACK kernels, "
                  f"{prof['total_ms']:.1f} ms): " + ", ".join(f"{k} {v}%" for k, v in prof["summary"].items()), "",
                  "| kernel | count | ms | % |", "|---|---|---|---|"]
        lines += [f"| {k['kernel']} | {k['ops']} | {k['ms']:.2f} | {k['pct']} |" for k in prof["kernels"] if k["pct"] >= 0.5]
        lines.append("")
    lines += gap_lines(payload)
    plot_psnr_latency(recs, args.out / "psnr_latency.png")
    lines += ["![PSNR vs latency](psnr_latency.png)", ""]
    if payload.get("crops"):
        lines += [f"![crops]({payload['crops']})", ""]
    atomic_write(args.out / "report.md", lambda tmp: Path(tmp).write_text("\n".join(lines)))
    print("\n".join(lines))


if __name__ == "__main__":
    cli.run(main)
