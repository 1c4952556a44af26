"""``python -m seemore_edge.bench``: latency, memory and size of every artifact next to eager PyTorch, in one run.

Contenders: eager PyTorch FP32 of the full model (dynamic routing, the shipped reference) and of each deploy model in
``--qat`` (default both x4 ones: T-x4-qat, the faithful model, and T-x4-int, the integer one), and every ``.pte`` and
``.tflite`` in ``--artifacts`` (without it, each ``--qat`` model is exported to a temporary folder first: INT8 and FP32
at the 128 tile and at the frame tile, so every INT8 file has an FP32 twin of its tile). Inputs: one 128x128
LR tile (eager models and 128-tile artifacts), and a 1280x720 output frame (320x180 LR at x4, 640x360 at x2)
processed as the app does it (tiled with the card's tile and overlap: several 128 tiles, or one call of a frame-tile
artifact; eager PyTorch takes the whole frame in one call, its natural use). Runs are
interleaved across contenders so machine drift hits all alike; peak memory is measured per contender in a separate
process; the limit is this CPU's throughput through the same runtime (export/throughput.py), and the floor the time of
the model's convolutions alone in each INT8 runtime (export/conv_floor.py); the report sets the targets (INT8 .pte and
.tflite 6x eager FP32 full on the frame; the integer model's INT8 frame file 2.5x the faithful model's FP32 file of the
same runtime and tile) against both. ``--report`` writes the report of a recorded run again.

Phones: ``--android`` prints the adb command lines that run the same artifacts with ExecuTorch's and LiteRT's
benchmark binaries on an attached device (paths given with --et-runner/--litert-benchmark); they are not run here.
Browsers: every ``.tflite`` also runs in the demo page in headless Chromium (LiteRT.js WASM; with ``--accelerator
wasm,webgpu`` also WebGPU on Chromium's software adapter, labelled so: not a GPU's speed) on the same inputs, before
the native runs, when Node, Chromium and the page's npm packages are here (the report says why not otherwise).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from . import cli
from .core.errors import UserError
from .core.imageio import atomic_write
from .core.tiling import DEFAULT_OVERLAP, as_tile, check_tile, frame_tile


def parse(argv):
    ap = cli.parser("bench", __doc__, raw=True)
    ap.add_argument("--artifacts", type=Path, help="folder of exported .pte/.tflite with cards (default: export the "
                                                   "shipped T-x4-qat to a temporary folder)")
    ap.add_argument("--tile", help="LR tiles of the exported default set, comma-separated (128, 180x320); default 128 "
                                   "and the frame tile (180x320 at x4, 360x640 at x2); with --artifacts, unused")
    ap.add_argument("--threads", default="2", help="comma-separated thread counts, e.g. 1,2")
    ap.add_argument("--runs", type=int, default=20, help="timed runs per contender and input (after warm-up)")
    ap.add_argument("--reference", help="shipped FP32 reference, the eager baseline (default: the --qat model's parent, "
                                        "T-x4 for T-x4-qat)")
    ap.add_argument("--qat", default="T-x4-qat,T-x4-int",
                    help="deploy models, comma-separated, the faithful one first (the baseline of the INT8-over-FP32 "
                         "ratios): eager edge contenders, export sources, the floors' convolutions (x2: "
                         "T-x2-qat); --tile-sweep takes the first")
    ap.add_argument("--json", type=Path, help="records, one per (contender, input, threads)")
    ap.add_argument("--out", type=Path, default=Path("out/bench"), help="report.md and plots go here")
    ap.add_argument("--data-root", help="benchmark root for the crop grid (default: $SEEMORE_DATA)")
    cli.add_page_accelerator(ap, "the demo page's runtimes in its browser runs", many=True)
    ap.add_argument("--android", action="store_true", help="print the phone command lines instead of running here")
    ap.add_argument("--et-runner", default="/data/local/tmp/executor_runner")
    ap.add_argument("--litert-benchmark", default="/data/local/tmp/benchmark_model")
    ap.add_argument("--tile-sweep", help="instead of the bench: comma-separated square LR tiles (128,192,256) exported "
                                         "from --qat and timed on a photo-sized input, per runtime")
    ap.add_argument("--report", type=Path, metavar="JSON",
                    help="run nothing: write the report of a recorded run (its --json file) into --out again, with "
                         "this version's targets and wording")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "PATH", "THREADS"), help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    # The pipelines load torch and the runtimes: imported after parsing, so --help answers at once.
    from .pipelines.bench_report import write_report
    from .pipelines.bench_run import (BenchConfig, add_speedups, android_commands, browser_records, crop_grid,
                                      export_default_set, memory_child, profiles, resolve_pair, run_bench)
    from export.card import read_card
    from export.throughput import cpu_features

    if args.child:
        memory_child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    try:
        thread_counts = [int(t) for t in cli.split_list(args.threads)]
    except ValueError:
        raise UserError(f"--threads {args.threads}: expected comma-separated integers") from None
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {args.out}: not writable ({e.strerror})") from None
    if args.artifacts is not None and not args.artifacts.is_dir():
        raise UserError(f"--artifacts {args.artifacts}: no such folder")
    cli.check_json_target(args.json)
    accelerators = cli.page_accelerators(args.accelerator)
    if args.report:
        return _rewrite_report(args.report, args.out)
    if args.tile_sweep:
        return _tile_sweep(args, thread_counts[0])
    cfg = BenchConfig(args.reference, cli.split_list(args.qat), thread_counts, args.runs, args.data_root)
    if not cfg.models:
        raise UserError("--qat: name at least one QAT model")
    tiles = [as_tile(t) for t in cli.split_list(args.tile)]
    for tile in tiles:
        check_tile(tile, DEFAULT_OVERLAP)
    cfg.reference, scale, models = resolve_pair(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        # The shipped set and the limit/floor files go to separate folders: only the former are contenders.
        artifacts = args.artifacts or export_default_set(cfg.models, scale, Path(tmp) / "artifacts", thread_counts[0],
                                                               tiles or None)
        if args.android:
            print(android_commands(artifacts, args.runs, args.et_runner, args.litert_benchmark))
            return 0
        helpers = Path(tmp) / "limit-and-floor"
        helpers.mkdir()
        browser = browser_records(artifacts, thread_counts, args.runs, accelerators)  # first: the CPU to itself (see there)
        records, limits, floors = run_bench(cfg, models, artifacts, thread_counts, helpers)
        payload = {"cpu": cpu_features(), "scale": scale, "frame_lr": list(frame_tile(scale)),
                   "models": [{"name": m.name, "variant": m.variant} for m in models], "records": records,
                   "limits": limits["dense"], "depthwise_reference": limits["depthwise"], "floors": floors,
                   "browser": add_speedups(browser, records),
                   "profiles": profiles(artifacts, thread_counts[0]),
                   "tflite_ops": {p.name: read_card(p).audit["ops"] for p in sorted(artifacts.glob("*.tflite"))},
                   "crops": crop_grid(cfg, artifacts, args.out / "crops.png")}
    cli.write_json(args.json, payload)
    print(write_report(args.out, payload))
    return 0


def _rewrite_report(recorded: Path, out: Path) -> int:
    """The report is made from the run's records alone, so a recorded run is reported again without rerunning it
    (a run takes ten minutes or more): when targets or the report's wording change, the committed report follows."""
    from .pipelines.bench_report import write_report

    try:
        payload = json.loads(recorded.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"--report {recorded}: not a bench record ({e})") from None
    if not isinstance(payload, dict) or "records" not in payload:
        raise UserError(f"--report {recorded}: not a bench record (no 'records'; a --tile-sweep record has no report)")
    print(write_report(out, payload))
    return 0


def _tile_sweep(args, threads: int) -> int:
    from .pipelines.tile_sweep import sweep, sweep_lines
    from export.throughput import cpu_features

    try:
        tiles = [int(t) for t in cli.split_list(args.tile_sweep)]
    except ValueError:
        raise UserError(f"--tile-sweep {args.tile_sweep}: expected comma-separated tile sides, e.g. 128,192,256") from None
    for side in tiles:
        check_tile((side, side), DEFAULT_OVERLAP)
    folder = args.out / "tile-sweep"  # its own folder: these files are not the bench's contenders
    records, browser_skipped = sweep(cli.split_list(args.qat)[0], tiles, ["pte", "tflite"], folder, threads, args.runs)
    text = "\n".join(sweep_lines(records) + ([f"The demo page was not timed: {browser_skipped}."] if browser_skipped
                                             else []))
    cli.write_json(args.json, {"cpu": cpu_features(), "tile_sweep": records, "browser_skipped": browser_skipped})
    atomic_write(args.out / "tile_sweep.md", lambda tmp: Path(tmp).write_text(text))
    print(text)
    return 0


if __name__ == "__main__":
    cli.run(main)
