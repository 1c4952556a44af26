"""``python -m seemore_edge.qat``: the main job, reference -> fixed routing -> INT8 QAT -> report.

1. routing statistics of the FP32 reference over the calibration images (histograms into the report);
2. one expert per residual group, chosen by calibration PSNR (the most frequent choice is the starting point and is
   reported beside it), the routing weight folded in as a constant: the edge model, scored before any fine-tuning;
3. the same fine-tuning twice on the deploy form, distilled from the reference: in FP32 (the control) and with INT8
   fake quantization (QAT, observers frozen for the last quarter); then conversion to the INT8 graph;
4. export of the QAT model to ExecuTorch (.pte), LiteRT (.tflite) and Core ML (.mlpackage), each artifact scored and
   timed in its own runtime (Core ML: structural check on Linux);
5. ``report.json`` and ``report.md``: per set, bicubic, the reference, edge FP32 before and after fine-tuning, edge
   INT8 in PyTorch and in every runtime, and the drops; per artifact its size and the latency of one tile.
Every stage's result is kept in ``--out``; a rerun resumes where the last one stopped.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from quant.deploy_form import to_deploy_form
from quant.finetune import finetune
from quant.fixed_routing import RouteStats, collect_routes, edge_dynamic_shapes, to_fixed
from quant.qat import freeze_observers, prepare_qat
from quant.qat_checkpoint import load_qat, save_qat

from . import cli
from .checkpoints import load_model, save_model, shipped_weights
from .datasets import DEFAULT_SETS, SAMPLES, data_root, make_pair
from .errors import UserError
from .evaluation import bicubic_upscaler, evaluate_sets, model_upscaler, run_model, torch_runner
from .imageio import atomic_write
from .metrics import psnr_y
from .presets import check_scale
from .plots import plot_routes
from .tiling import DEFAULT_OVERLAP, DEFAULT_TILE, as_tile, tile_text
from .training_data import PatchBatches, load_train_images


def parse(argv):
    ap = argparse.ArgumentParser(prog="python -m seemore_edge.qat", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", type=Path, help="FP32 dynamic-routing checkpoint (default: the shipped T-x4)")
    ap.add_argument("--preset", help="check that the reference is this preset")
    ap.add_argument("--scale", type=int, help="check that the reference upscales by this factor")
    ap.add_argument("--train-dir", type=Path, help="HR images for calibration and fine-tuning "
                                                   "(default: scikit-image's photos)")
    ap.add_argument("--data-root", help="benchmark root (default: $SEEMORE_DATA; none: the sample photos)")
    ap.add_argument("--sets", help=f"sets to report (default {','.join(DEFAULT_SETS)} with a data root)")
    ap.add_argument("--iters", type=int, default=60, help="fine-tuning iterations, for the control and for QAT")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--patch", type=int, default=48, help="LR patch size")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--calibration", type=int, default=16, help="images used to choose experts")
    ap.add_argument("--out", type=Path, default=Path("out/qat"))
    ap.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    ap.add_argument("--formats", default="pte,tflite,mlpackage", help="artifacts to export at the end ('' for none)")
    ap.add_argument("--export-precision", default="int8", help="int8 and/or fp32 (fp16 for .mlpackage)")
    # Text, as the saved config compares it (a run folder from before rectangular tiles says "128").
    ap.add_argument("--tile", default=str(DEFAULT_TILE[0]),
                    help="LR tile of the exported artifacts: a side (128) or height x width (180x320)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    t_start = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    ref_path = args.reference or shipped_weights().get("T-x4")
    if ref_path is None:
        raise UserError("no reference: pass --reference PATH (no T-x4 weights are shipped yet)")
    if args.scale is not None:
        check_scale(args.scale)
    tile = as_tile(args.tile)  # a malformed --tile fails here, before the run folder is written
    reference = load_model(ref_path, scale=args.scale, preset=args.preset)
    if reference.routing != "dynamic":
        raise UserError(f"{ref_path}: the reference must be a dynamic-routing (full) model")
    scale = reference.scale
    out = _prepare_out(args.out, {k: str(v) for k, v in vars(args).items() if k not in ("out", "threads")})
    args.tile = tile
    root = data_root(args.data_root)
    sets = [s for s in args.sets.split(",") if s] if args.sets else (list(DEFAULT_SETS) if root else [SAMPLES])
    images = load_train_images(args.train_dir, args.patch * scale)
    print(f"reference {ref_path} (SeemoRe-{reference.preset.name} x{scale}); {len(images)} training images; "
          f"reporting on {', '.join(sets)}")

    # 1. Routing statistics over whole calibration images.
    calib = [make_pair(str(i), im, scale) for i, im in enumerate(images[: args.calibration])]
    stats = _cached_routes(out / "routes.json", reference, images, scale)
    plot_routes(stats.counts, reference.preset.expert_ranks, out / "routes.png",
                f"routing of SeemoRe-{reference.preset.name} x{scale} over {int(stats.counts[0].sum())} images")

    # 2. Fixed experts chosen by calibration PSNR.
    choice = _cached_json(out / "experts.json", lambda: _choose_experts(reference, stats, calib))
    experts, weights = tuple(choice["experts"]), choice["weights"]
    edge = to_fixed(reference, experts, weights)
    save_model(edge, out / "edge_fp32.safetensors", {"made_from": str(ref_path), "expert_choice": choice})

    # 3. The same fine-tuning in FP32 (control) and INT8 (QAT).
    batches = PatchBatches(images, scale, args.patch, args.batch, seed=(1,))
    control = to_deploy_form(edge).train()
    control_log = finetune(control, reference, batches, args.iters, args.lr, out / "control.ckpt",
                           "fine-tune FP32 control")
    control.eval()
    example = batches[0][0][:1].repeat(2, 1, 1, 1)  # an example batch of 1 would pin the batch dimension to 1
    deploy = to_deploy_form(edge)
    prepared = prepare_qat(deploy, example)
    frozen = []

    def freeze_late(step: int) -> None:
        if step >= int(0.75 * args.iters) and not frozen:
            freeze_observers(prepared)
            frozen.append(step)
    qat_log = finetune(prepared, reference, batches, args.iters, args.lr, out / "qat.ckpt", "QAT INT8",
                       on_step=freeze_late)
    if not (out / "qat.safetensors").exists():
        save_qat(prepared, reference.preset.name, scale, experts, out / "qat.safetensors",
                 {"made_from": str(ref_path), "expert_choice": choice, "recipe": _recipe(args),
                  "train_dir": str(args.train_dir or "scikit-image sample photos")})
    qat_model = load_qat(out / "qat.safetensors")
    int8 = qat_model.int8()
    if not (out / "qat_int8.pt2").exists():
        _save_program(out / "qat_int8.pt2", int8, example)

    # 4. Scores and report.
    def score(upscaler, name):
        return _cached_json(out / f"scores_{name}.json",
                            lambda: evaluate_sets(upscaler, root, sets, scale)["sets"])
    rows = {"bicubic": score(bicubic_upscaler(scale), "bicubic"),
            "reference FP32 (dynamic routing)": score(model_upscaler(reference), "reference"),
            "edge FP32, before fine-tuning": score(model_upscaler(edge), "edge"),
            f"edge FP32, fine-tuned {args.iters} it (control)": score(model_upscaler(control), "control"),
            f"edge INT8 QAT, {args.iters} it (PyTorch)": score(model_upscaler(int8), "int8")}
    artifacts = _export(args, qat_model, out, root, sets, reference, ref_path)
    report = _report(args, ref_path, reference, stats, choice, rows, control_log, qat_log, artifacts,
                     time.perf_counter() - t_start)
    atomic_write(out / "report.json", lambda tmp: Path(tmp).write_text(json.dumps(report, indent=1) + "\n"))
    md = _markdown(report)
    atomic_write(out / "report.md", lambda tmp: Path(tmp).write_text(md))
    print(md)
    return 0


def _export(args, qat_model, out: Path, root, sets, reference, ref_path) -> list[dict]:
    """Every requested artifact, exported once (a rerun keeps a file whose card still matches it), with the
    latency of one tile in eager PyTorch beside it for scale."""
    from export.card import read_card
    from export.verify import artifact_name, artifact_plan, export_and_verify, tile_latency

    formats = [f for f in args.formats.split(",") if f]
    if not formats:
        return []
    folder = out / "export"
    folder.mkdir(exist_ok=True)
    meta = {"name": f"{reference.preset.name}-x{reference.scale}-qat", "source": str(out / "qat.safetensors"),
            "reference": str(ref_path), "preset": qat_model.preset, "scale": qat_model.scale,
            "routing": {"type": "fixed", "experts": list(qat_model.experts)}}
    eager = _cached_json(out / "eager_latency.json", lambda: {
        "reference FP32 (eager PyTorch)": tile_latency(torch_runner(reference), args.tile, runs=10),
        "edge INT8 (PyTorch reference kernels)": tile_latency(torch_runner(qat_model.int8()), args.tile, runs=5)})
    cards = []
    for fmt, precision in artifact_plan(formats, [p for p in args.export_precision.split(",") if p]):
        path = folder / artifact_name(meta["name"], fmt, precision, args.tile)
        try:
            cards.append(read_card(path))
            continue
        except UserError:
            pass
        print(f"exporting {path.name} ...", flush=True)
        cards.append(export_and_verify(qat_model, meta, fmt, precision, args.tile, DEFAULT_OVERLAP, path, root,
                                       sets, args.threads))
    for card in cards:
        card["eager_latency"] = eager
    return cards


def _recipe(args) -> str:
    return (f"{args.iters} iterations, batch {args.batch} x {args.patch} px LR patches, Adam lr {args.lr} with cosine "
            f"decay to 0, observers frozen from 75%; loss L1 to the reference's output + 0.5 L1 to HR")


def _prepare_out(out: Path, config: dict) -> Path:
    """The output folder, checked writable; a folder holding a run with other settings is refused, since its cached
    stages would not belong to this run."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise UserError(f"--out {out}: not writable ({e.strerror})") from None
    saved = out / "config.json"
    if saved.exists() and json.loads(saved.read_text()) != config:
        raise UserError(f"--out {out} holds a run with other settings; choose another --out to start a new one")
    atomic_write(saved, lambda tmp: Path(tmp).write_text(json.dumps(config, indent=1) + "\n"))
    return out


def _cached_json(path: Path, compute):
    """A stage's result, computed once: a rerun after an interruption picks it up instead of recomputing."""
    if path.exists():
        return json.loads(path.read_text())
    value = compute()
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(value, indent=1) + "\n"))
    return value


def _cached_routes(path: Path, reference, images, scale) -> RouteStats:
    """Routing statistics over whole LR images; the sums are stored so that reloaded mean weights stay exact."""
    if path.exists():
        d = json.loads(path.read_text())
        return RouteStats(np.array(d["counts"]), np.array(d["weight_sum"]))
    lrs = (torch.from_numpy(make_pair("", im, scale).lr).permute(2, 0, 1)[None].float() / 255 for im in images)
    stats = collect_routes(reference, lrs, total=len(images))
    d = stats.to_json() | {"weight_sum": stats.weight_sum.tolist()}
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(d, indent=1) + "\n"))
    return stats


def _calibration_psnr(model, calib, scale) -> float:
    return float(np.mean([psnr_y(run_model(model, p.lr), p.hr, scale) for p in calib]))


def _choose_experts(reference, stats: RouteStats, calib) -> dict:
    """Start from each group's most frequent expert, then, group by group, keep whichever expert scores best on the
    calibration images with the others fixed (one pass of coordinate ascent)."""
    scale = reference.scale
    mean_w = stats.mean_weight
    overall = stats.weight_sum.sum(axis=1) / np.maximum(stats.counts.sum(axis=1), 1)

    def weight(g, e):
        return float(mean_w[g, e]) if stats.counts[g, e] else float(overall[g])

    def psnr(experts):
        edge = to_fixed(reference, experts, [weight(g, e) for g, e in enumerate(experts)])
        return _calibration_psnr(edge, calib, scale)
    frequent = stats.most_frequent()
    tried = {frequent: psnr(frequent)}
    best = frequent
    for g in range(len(best)):
        for e in range(len(reference.preset.expert_ranks)):
            cand = best[:g] + (e,) + best[g + 1:]
            if cand not in tried:
                tried[cand] = psnr(cand)
            if tried[cand] > tried[best]:
                best = cand
    return {"rule": "coordinate ascent on calibration PSNR from the most frequent choice",
            "experts": list(best), "weights": [weight(g, e) for g, e in enumerate(best)],
            "calibration_psnr": round(tried[best], 4),
            "most_frequent": {"experts": list(frequent), "calibration_psnr": round(tried[frequent], 4)},
            "calibration_images": len(calib), "candidates_tried": len(tried)}


def _save_program(path: Path, module, example) -> None:
    """The INT8 graph as a self-contained ``.pt2``, for any batch and size within the export bounds."""
    program = torch.export.export(module, (example,), dynamic_shapes=edge_dynamic_shapes())
    atomic_write(path, lambda tmp: torch.export.save(program, tmp))


def _report(args, ref_path, reference, stats, choice, rows, control_log, qat_log, artifacts, wall) -> dict:
    sets = list(next(iter(rows.values())).keys())
    ref = rows["reference FP32 (dynamic routing)"]
    control = next(v for k, v in rows.items() if "control" in k)
    int8 = next(v for k, v in rows.items() if "INT8" in k)
    drops = {s: {"int8_vs_reference": round(ref[s]["psnr"] - int8[s]["psnr"], 4),
                 "int8_vs_control": round(control[s]["psnr"] - int8[s]["psnr"], 4)} for s in sets}
    return {"reference": str(ref_path), "preset": reference.preset.name, "scale": reference.scale,
            "train_dir": str(args.train_dir) if args.train_dir else "scikit-image sample photos",
            "iters": args.iters, "batch": args.batch, "patch": args.patch, "lr": args.lr,
            "schedule": "Adam, cosine decay to 0; QAT observers frozen from 75% of the iterations",
            "loss": "L1 to the reference's output + 0.5 L1 to HR",
            "routing": {"counts": stats.counts.tolist(), "mean_weight": np.round(stats.mean_weight, 4).tolist()},
            "experts": choice, "rows": rows, "drops": drops, "artifacts": _artifact_rows(artifacts, ref, int8),
            "final_loss": {"control": control_log["losses"][-1] if control_log["losses"] else None,
                           "qat": qat_log["losses"][-1] if qat_log["losses"] else None},
            "wall_s": round(wall, 1)}


def _artifact_rows(cards: list[dict], ref: dict, int8: dict) -> list[dict]:
    rows = []
    for c in cards:
        row = {"file": c["file"], "format": c["format"], "precision": c["precision"],
               "size_kb": round(c["size_bytes"] / 1024, 1), "tile": tile_text(c["tile"]),
               "partitions": c["audit"].get("partitions"), "latency_tile_ms": (c.get("latency") or {}).get("median_ms"),
               "eager_latency_tile_ms": {k: v["median_ms"] for k, v in c.get("eager_latency", {}).items()}}
        if c.get("psnr"):
            row["psnr"] = {s: v["psnr"] for s, v in c["psnr"].items()}
            row["drop_vs_reference"] = {s: round(ref[s]["psnr"] - v["psnr"], 4) for s, v in c["psnr"].items()}
            row["diff_vs_pytorch_int8"] = {s: round(v["psnr"] - int8[s]["psnr"], 4) for s, v in c["psnr"].items()}
        else:
            row["not_measured"] = c.get("not_measured")
            if c["format"] == "mlpackage":
                row["weights_kb"] = round(c["audit"]["weights_bytes"] / 1024, 1)
        rows.append(row)
    return rows


def _markdown(r: dict) -> str:
    sets = list(r["drops"])
    lines = [f"# SeemoRe-{r['preset']} x{r['scale']}: fixed routing and INT8 QAT", "",
             f"Reference `{r['reference']}`; fine-tuning on {r['train_dir']}: {r['iters']} iterations of "
             f"{r['batch']} x {r['patch']} px LR patches, lr {r['lr']}, {r['schedule']}; loss {r['loss']}.", "",
             f"Experts per residual group: {r['experts']['experts']} (rule: {r['experts']['rule']}; calibration PSNR "
             f"{r['experts']['calibration_psnr']} dB vs {r['experts']['most_frequent']['calibration_psnr']} dB for the "
             f"most frequent choice {r['experts']['most_frequent']['experts']}).", "",
             "| model | " + " | ".join(f"{s} PSNR / SSIM" for s in sets) + " |",
             "|---|" + "---|" * len(sets)]
    for name, row in r["rows"].items():
        lines.append(f"| {name} | " + " | ".join(f"{row[s]['psnr']:.2f} / {row[s]['ssim']:.4f}" for s in sets) + " |")
    lines += ["", "| drop (dB) | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets),
              "| INT8 vs reference | " + " | ".join(f"{r['drops'][s]['int8_vs_reference']:+.3f}" for s in sets) + " |",
              "| INT8 vs FP32 control | " + " | ".join(f"{r['drops'][s]['int8_vs_control']:+.3f}" for s in sets) + " |",
              ""]
    if r["artifacts"]:
        eager = r["artifacts"][0]["eager_latency_tile_ms"]
        lines += [f"Artifacts (tile {r['artifacts'][0]['tile']} LR px; scored on whole images tiled in their own runtime; "
                  "eager PyTorch per tile: " + ", ".join(f"{k} {v:.0f} ms" for k, v in eager.items()) + "):", "",
                  "| artifact | size (KB) | partitions | tile (ms) | " + " | ".join(f"{s} PSNR (drop)" for s in sets)
                  + " |", "|---|---|---|---|" + "---|" * len(sets)]
        for a in r["artifacts"]:
            if "psnr" in a:
                cells = " | ".join(f"{a['psnr'][s]:.2f} ({a['drop_vs_reference'][s]:+.3f})" for s in sets)
                lat = f"{a['latency_tile_ms']:.1f}"
            else:
                cells = " | ".join("not run here" for _ in sets)
                lat = "-"
            lines.append(f"| {a['file']} | {a['size_kb']:.0f} | {a['partitions'] if a['partitions'] is not None else '-'}"
                         f" | {lat} | {cells} |")
        lines.append("")
    lines += ["![routing](routes.png)", "", f"Wall time {r['wall_s']:.0f} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    cli.run(main)
