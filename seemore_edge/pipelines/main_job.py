"""The main job's stages: reference -> fixed routing -> INT8 QAT -> export -> verify -> report.

1. routing statistics of the FP32 reference over the calibration images (histograms into the report);
2. one expert per residual group, chosen by calibration PSNR (the most frequent choice is the starting point and is
   reported beside it), the routing weight folded in as a constant: the edge model, scored before any fine-tuning;
3. the same fine-tuning twice on the deploy form, distilled from the reference: in FP32 (the control) and with INT8
   fake quantization (QAT, observers frozen for the last quarter); then conversion to the INT8 graph;
4. export of the QAT model to ExecuTorch (.pte), LiteRT (.tflite) and Core ML (.mlpackage), each artifact scored and
   timed in its own runtime (Core ML: structural check on Linux);
5. ``report.json`` and ``report.md``.

Every stage's result is kept in the run folder under a key made of the settings it depends on (:func:`stage_key`):
a rerun reuses what those settings produced and recomputes only the stages whose settings changed.
"""
from __future__ import annotations

import copy
import hashlib
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from export.verify import tile_latency
from quant.deploy_form import to_deploy_form
from quant.finetune import finetune
from quant.fixed_routing import RouteStats, collect_routes, edge_dynamic_shapes, to_fixed
from quant.int8_checkpoint import QatModel, check_float_modules, load_qat, save_qat
from quant.int8_graph import freeze_observers, prepare_qat
from quant.integer_form import to_integer_form
from seemore_edge.core.checkpoints import load_model, parent_of, read_model_card, save_model
from seemore_edge.core.datasets import make_pair
from seemore_edge.core.errors import UserError
from seemore_edge.core.imageio import atomic_write
from seemore_edge.core.metrics import psnr_y
from seemore_edge.core.records import ArtifactCard, strict_json
from seemore_edge.core.scoring import bicubic_upscaler, evaluate_sets, model_upscaler, run_model, torch_runner
from seemore_edge.core.tiling import DEFAULT_OVERLAP, tile_text
from seemore_edge.core.training_data import PatchBatches, load_train_images
from seemore_edge.pipelines.artifact_set import ArtifactSet, export_set
from seemore_edge.pipelines.plots import plot_routes
from seemore_edge.pipelines.settings import JobConfig
from seemore_edge.pipelines.training_loop import hardware

CALIBRATION_BATCHES = 4  # training batches the integer form's LayerNorm stand-ins are fitted on

# The report's rows, in order: key -> label. Rendering and drops read the keys, never the labels.
ROWS = {"bicubic": "bicubic", "reference": "reference FP32 (dynamic routing)",
        "edge": "edge FP32, before fine-tuning", "control": "edge FP32, fine-tuned (control)",
        "int8": "edge INT8 QAT (PyTorch)"}
INTEGER_ROWS = ROWS | {"control": "integer form FP32, distilled", "int8": "integer form INT8 QAT (PyTorch)"}


def stage_key(*parts) -> str:
    """A short digest of the settings a stage's result depends on."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:12]


def cached(path: Path, key: str, compute: Callable[[], dict]):
    """A stage's JSON result, computed once per key: a rerun with the same settings picks it up, a rerun with other
    settings recomputes it (the file holds the key it was made under)."""
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("key") == key:
            return saved["value"]
    value = compute()
    atomic_write(path, lambda tmp: Path(tmp).write_text(strict_json({"key": key, "value": value})))
    return value


def made_under(path: Path, key: str) -> bool:
    """Whether the file ``path`` exists and was made under ``key`` (kept in ``<path>.key`` beside it)."""
    tag = path.with_name(path.name + ".key")
    return path.exists() and tag.exists() and tag.read_text() == key


def mark(path: Path, key: str) -> None:
    atomic_write(path.with_name(path.name + ".key"), lambda tmp: Path(tmp).write_text(key))


def prepare_out(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise UserError(f"--out {out}: not writable ({e.strerror})") from None
    return out


def run_job(cfg: JobConfig, preset: str | None = None, scale: int | None = None) -> dict:
    """Every stage, then the report (returned, and written as report.json and report.md into ``cfg.out``)."""
    t_start = time.perf_counter()
    reference = load_model(cfg.reference, scale=scale, preset=preset)
    if reference.routing != "dynamic":
        raise UserError(f"{cfg.reference}: the reference must be a dynamic-routing (full) model")
    check_float_modules(reference.preset.name, reference.scale, cfg.float_modules)
    out = prepare_out(cfg.out)
    ref_parent = parent_of(cfg.reference)
    scale = reference.scale
    images = load_train_images(cfg.train_dir, cfg.patch * scale)
    print(f"reference {ref_parent.name} (SeemoRe-{reference.preset.name} x{scale}); {len(images)} training images; "
          f"reporting on {', '.join(cfg.sets)}")
    data_key = stage_key(ref_parent.sha256, cfg.train_dir, cfg.patch)

    stats = routing_stage(out, data_key, reference, images, scale)
    choice_key = stage_key(data_key, cfg.calibration)
    calib = [make_pair(str(i), im, scale) for i, im in enumerate(images[: cfg.calibration])]
    choice = cached(out / "experts.json", choice_key, lambda: choose_experts(reference, stats, calib))
    edge = to_fixed(reference, tuple(choice["experts"]), choice["weights"])
    edge_card = read_model_card(out / "edge_fp32.safetensors") if (out / "edge_fp32.safetensors").exists() else None
    if edge_card is None or edge_card.details.get("stage_key") != choice_key:
        save_model(edge, out / "edge_fp32.safetensors", {"parent": ref_parent,
                                                         "details": {"expert_choice": choice, "stage_key": choice_key}})

    control_key, tune_key = tuning_keys(cfg, choice_key)
    control, control_log, qat_model, qat_log = finetune_stage(cfg, out, control_key, tune_key, reference, edge,
                                                               images, choice, ref_parent)
    int8 = qat_model.int8()
    program = out / "qat_int8.pt2"
    if not made_under(program, tune_key):
        save_program(program, int8, torch.rand(2, 3, 48, 48))
        mark(program, tune_key)

    score_key = stage_key(cfg.root, cfg.sets)

    def score(key: str, upscaler, model_key: str):
        return cached(out / f"scores_{key}.json", stage_key(score_key, model_key),
                      lambda: evaluate_sets(upscaler, cfg.root, cfg.sets, scale)["sets"])
    rows = {"bicubic": score("bicubic", bicubic_upscaler(scale), "bicubic"),
            "reference": score("reference", model_upscaler(reference), ref_parent.sha256),
            "edge": score("edge", model_upscaler(edge), choice_key),
            "control": score("control", model_upscaler(control), control_key),
            "int8": score("int8", model_upscaler(int8), tune_key)}
    artifacts = export_stage(cfg, out, tune_key, qat_model, reference)
    report = make_report(cfg, ref_parent.name, reference, stats, choice, rows, control_log, qat_log, artifacts,
                         time.perf_counter() - t_start)
    atomic_write(out / "report.json", lambda tmp: Path(tmp).write_text(strict_json(report)))
    md = markdown(report)
    atomic_write(out / "report.md", lambda tmp: Path(tmp).write_text(md))
    return report


def routing_stage(out: Path, key: str, reference, images, scale) -> RouteStats:
    """Routing statistics over whole LR images; the sums are stored so that reloaded mean weights stay exact."""
    def compute() -> dict:
        lrs = (torch.from_numpy(make_pair("", im, scale).lr).permute(2, 0, 1)[None].float() / 255 for im in images)
        stats = collect_routes(reference, lrs, total=len(images))
        return stats.to_json() | {"weight_sum": stats.weight_sum.tolist()}
    d = cached(out / "routes.json", key, compute)
    stats = RouteStats(np.array(d["counts"]), np.array(d["weight_sum"]))
    plot_routes(stats.counts, reference.preset.expert_ranks, out / "routes.png",
                f"routing of SeemoRe-{reference.preset.name} x{scale} over {int(stats.counts[0].sum())} images")
    return stats


def float_iters(cfg: JobConfig) -> int:
    return cfg.iters if cfg.float_iters is None else cfg.float_iters


def tuning_keys(cfg: JobConfig, choice_key: str) -> tuple[str, str]:
    """The keys of the FP32 stage and of QAT. The integer form's distillation does not depend on the QAT length, so
    its key leaves ``--iters`` out: a longer QAT on a run folder starts from the distilled model it already holds
    instead of distilling again. The faithful control runs ``--iters`` like QAT, so there the two keys are one."""
    common = (cfg.batch, cfg.patch, cfg.lr, *(["float", *cfg.float_modules] if cfg.float_modules else []))
    if cfg.variant == "integer":
        control_key = stage_key(choice_key, *common, "integer", float_iters(cfg))
        return control_key, stage_key(control_key, cfg.iters)
    key = stage_key(choice_key, cfg.iters, *common)
    return key, key


def finetune_stage(cfg: JobConfig, out: Path, control_key: str, key: str, reference, edge, images, choice,
                   ref_parent):
    """The FP32 control and QAT, same data and schedule; their resumable states are named by ``control_key`` and
    ``key`` (one key for the faithful model, see :func:`tuning_keys`).

    Faithful: both start from the edge model, so the two differ only in quantization. Integer: the FP32 stage is the
    integer form's distillation from the reference (its structure computes another function), and QAT starts from
    what it learnt; the control row is then that FP32 integer form."""
    batches = PatchBatches(images, reference.scale, cfg.patch, cfg.batch, seed=(1,))
    if cfg.variant == "integer":
        fit_on = torch.cat([batches[step][0] for step in range(CALIBRATION_BATCHES)])
        control = to_integer_form(edge, fit_on).train()
        control_log = finetune(control, reference, batches, float_iters(cfg), cfg.lr,
                               out / f"control-{control_key}.ckpt", "distil the FP32 integer form")
        start = copy.deepcopy(control)
    else:
        control = to_deploy_form(edge).train()
        control_log = finetune(control, reference, batches, cfg.iters, cfg.lr, out / f"control-{control_key}.ckpt",
                               "fine-tune FP32 control")
        start = to_deploy_form(edge)
    control.eval()
    example = batches[0][0][:1].repeat(2, 1, 1, 1)  # an example batch of 1 would pin the batch dimension to 1
    prepared = prepare_qat(start, example, cfg.float_modules, integer=cfg.variant == "integer")
    frozen = []

    def freeze_late(step: int) -> None:
        if step >= int(0.75 * cfg.iters) and not frozen:
            freeze_observers(prepared)
            frozen.append(step)
    qat_log = finetune(prepared, reference, batches, cfg.iters, cfg.lr, out / f"qat-{key}.ckpt", "QAT INT8",
                       on_step=freeze_late)
    path = out / "qat.safetensors"
    current = load_qat(path) if path.exists() else None
    if current is None or current.card.details.get("stage_key") != key:
        steps = cfg.iters + (float_iters(cfg) if cfg.variant == "integer" else 0)
        wall = qat_log["wall_s"] + (control_log["wall_s"] if cfg.variant == "integer" else 0)
        save_qat(prepared, reference.preset.name, reference.scale, tuple(choice["experts"]), path,
                 {"parent": ref_parent, "recipe": recipe(cfg),
                  "training": {"trained_steps": steps, "hardware": hardware(torch.device("cpu"), 1),
                               "wall_time_s": round(wall)},
                  "details": {"expert_choice": choice, "stage_key": key}}, cfg.float_modules, cfg.variant)
    return control, control_log, load_qat(path), qat_log


def recipe(cfg: JobConfig) -> dict:
    return {"iterations": cfg.iters, "batch": cfg.batch, "lr_patch": cfg.patch, "lr": cfg.lr,
            "optimizer": "Adam, cosine decay to 0", "observers": "frozen from 75% of the iterations",
            "loss": "L1 to the reference's output + 0.5 L1 to HR",
            "train_dir": cfg.train_dir.name if cfg.train_dir else "scikit-image sample photos",
            **({"float_modules": list(cfg.float_modules)} if cfg.float_modules else {}),
            **({"variant": "integer", "float_iterations": float_iters(cfg),
                "float_stage": f"LayerNorms fitted as per-channel affines on {CALIBRATION_BATCHES} batches, then "
                               "FP32 distillation of the integer form, then QAT from it"}
               if cfg.variant == "integer" else {})}


def export_stage(cfg: JobConfig, out: Path, key: str, qat_model: QatModel, reference) -> list[dict]:
    """Every requested artifact (kept when its card names this run's QAT weights), with one tile's latency in eager
    PyTorch beside it for scale."""
    if not cfg.formats:
        return []
    folder = out / "export"
    folder.mkdir(exist_ok=True)
    name = f"{reference.preset.name}-x{reference.scale}-{'int' if cfg.variant == 'integer' else 'qat'}"
    eager = cached(out / "eager_latency.json", stage_key(key, cfg.tile), lambda: {
        "reference FP32 (eager PyTorch)": tile_latency(torch_runner(reference), cfg.tile, runs=10)["median_ms"],
        "edge INT8 (PyTorch reference kernels)": tile_latency(torch_runner(qat_model.int8()), cfg.tile,
                                                              runs=5)["median_ms"]})
    plan = ArtifactSet(out / "qat.safetensors", cfg.formats, cfg.precisions, cfg.tile, DEFAULT_OVERLAP, folder,
                       cfg.root, cfg.sets, cfg.threads, name=name, reuse=True)
    cards = export_set(plan, announce=lambda path: print(f"exporting {path.name} ...", flush=True))
    return [artifact_row(card, eager) for card in cards]


def artifact_row(card: ArtifactCard, eager_ms: dict) -> dict:
    return {"file": card.file, "format": card.format, "precision": card.precision, "executed_by": card.executed_by,
            "size_kib": round(card.size_bytes / 1024, 1), "tile": tile_text(card.tile),
            "partitions": card.audit.get("partitions"),
            "float_ops": card.float_ops.total if card.float_ops else None,
            "latency_tile_ms": card.latency.median_ms if card.latency else None, "eager_latency_tile_ms": eager_ms,
            "psnr": {s: v.psnr for s, v in card.psnr.items()} if card.psnr else None,
            "not_measured": card.not_measured,
            "weights_kib": round(card.audit["weights_bytes"] / 1024, 1) if "weights_bytes" in card.audit else None}


def calibration_psnr(model, calib, scale) -> float:
    return float(np.mean([psnr_y(run_model(model, p.lr), p.hr, scale) for p in calib]))


def choose_experts(reference, stats: RouteStats, calib) -> dict:
    """Start from each group's most frequent expert, then, group by group, keep whichever expert scores best on the
    calibration images with the others fixed (one pass of coordinate ascent)."""
    scale = reference.scale
    mean_w = stats.mean_weight
    overall = stats.weight_sum.sum(axis=1) / np.maximum(stats.counts.sum(axis=1), 1)

    def weight(g, e):
        return float(mean_w[g, e]) if stats.counts[g, e] else float(overall[g])

    def psnr(experts):
        edge = to_fixed(reference, experts, [weight(g, e) for g, e in enumerate(experts)])
        return calibration_psnr(edge, calib, scale)
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


def save_program(path: Path, module, example) -> None:
    """The INT8 graph as a self-contained ``.pt2``, for any batch and size within the export bounds."""
    program = torch.export.export(module, (example,), dynamic_shapes=edge_dynamic_shapes())
    atomic_write(path, lambda tmp: torch.export.save(program, tmp))


def make_report(cfg: JobConfig, ref_name: str, reference, stats, choice, rows, control_log, qat_log, artifacts,
                wall) -> dict:
    ref, control, int8 = rows["reference"], rows["control"], rows["int8"]
    drops = {s: {"int8_vs_reference": round(ref[s]["psnr"] - int8[s]["psnr"], 4),
                 "int8_vs_control": round(control[s]["psnr"] - int8[s]["psnr"], 4)} for s in cfg.sets}
    for a in artifacts:
        if a["psnr"]:
            a["drop_vs_reference"] = {s: round(ref[s]["psnr"] - v, 4) for s, v in a["psnr"].items()}
            a["diff_vs_pytorch_int8"] = {s: round(v - int8[s]["psnr"], 4) for s, v in a["psnr"].items()}
    return {"reference": ref_name, "preset": reference.preset.name, "scale": reference.scale,
            "expert_ranks": list(reference.preset.expert_ranks),
            "train_dir": cfg.train_dir.name if cfg.train_dir else "scikit-image sample photos",
            "iters": cfg.iters, "batch": cfg.batch, "patch": cfg.patch, "lr": cfg.lr,
            "schedule": "Adam, cosine decay to 0; QAT observers frozen from 75% of the iterations",
            "loss": "L1 to the reference's output + 0.5 L1 to HR", "float_modules": list(cfg.float_modules),
            "routing": {"counts": stats.counts.tolist(), "mean_weight": np.round(stats.mean_weight, 4).tolist()},
            "variant": cfg.variant, **({"float_iters": float_iters(cfg)} if cfg.variant == "integer" else {}),
            "experts": choice, "row_labels": INTEGER_ROWS if cfg.variant == "integer" else ROWS, "rows": rows, "drops": drops, "artifacts": artifacts,
            "final_loss": {"control": control_log["losses"][-1] if control_log["losses"] else None,
                           "qat": qat_log["losses"][-1] if qat_log["losses"] else None},
            "wall_s": round(wall, 1)}


def _ranks(report: dict, experts: list[int]) -> str:
    """Experts named by their rank (``rank 8``), as the routing plot names them, not by their index in the layer."""
    ranks = report.get("expert_ranks")
    return ", ".join(f"rank {ranks[e]}" for e in experts) if ranks else str(experts)


def markdown(r: dict) -> str:
    sets = list(r["drops"])
    integer = r.get("variant") == "integer"
    lines = [f"# SeemoRe-{r['preset']} x{r['scale']}: fixed routing and INT8 QAT"
             + (" of the integer form" if integer else ""), "",
             f"Reference `{r['reference']}`; fine-tuning on {r['train_dir']}: {r['iters']} iterations of "
             f"{r['batch']} x {r['patch']} px LR patches, lr {r['lr']}, {r['schedule']}; loss {r['loss']}." +
             (f" Kept float beyond the default set: {', '.join(r['float_modules'])}." if r.get("float_modules") else "")
             + (f" Integer form (quant/integer_form.py: no LayerNorm, ReLU6, everything INT8): {r['float_iters']} FP32 "
                "distillation iterations first, QAT from their result." if integer else ""),
             "",
             f"Expert per residual group, by rank as in routes.png: {_ranks(r, r['experts']['experts'])} (rule: "
             f"{r['experts']['rule']}; calibration PSNR {r['experts']['calibration_psnr']} dB vs "
             f"{r['experts']['most_frequent']['calibration_psnr']} dB for the most frequent choice "
             f"{_ranks(r, r['experts']['most_frequent']['experts'])}).", "",
             "| model | " + " | ".join(f"{s} PSNR / SSIM" for s in sets) + " |",
             "|---|" + "---|" * len(sets)]
    for key, label in r["row_labels"].items():
        row = r["rows"][key]
        label = label.replace("fine-tuned", f"fine-tuned {r['iters']} it") if key == "control" else label
        label = label.replace("distilled", f"distilled {r.get('float_iters')} it") if key == "control" else label
        lines.append(f"| {label} | " + " | ".join(f"{row[s]['psnr']:.2f} / {row[s]['ssim']:.4f}" for s in sets) + " |")
    lines += ["", "| drop (dB) | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets),
              "| INT8 vs reference | " + " | ".join(f"{r['drops'][s]['int8_vs_reference']:+.3f}" for s in sets) + " |",
              "| INT8 vs FP32 control | " + " | ".join(f"{r['drops'][s]['int8_vs_control']:+.3f}" for s in sets) + " |",
              ""]
    if r["artifacts"]:
        eager = r["artifacts"][0]["eager_latency_tile_ms"]
        lines += [f"Artifacts (tile {r['artifacts'][0]['tile']} LR px; scored on whole images tiled in their own runtime; "
                  "eager PyTorch per tile: " + ", ".join(f"{k} {v:.0f} ms" for k, v in eager.items()) + "):", "",
                  "| artifact | executed by | size (KiB) | partitions | float ops | tile (ms) | "
                  + " | ".join(f"{s} PSNR (drop)" for s in sets) + " |", "|---|---|---|---|---|---|" + "---|" * len(sets)]
        for a in r["artifacts"]:
            cells = (" | ".join(f"{a['psnr'][s]:.2f} ({a['drop_vs_reference'][s]:+.3f})" for s in sets) if a["psnr"]
                     else " | ".join("not run here" for _ in sets))
            lat = f"{a['latency_tile_ms']:.1f}" if a["latency_tile_ms"] is not None else "-"
            floats = a.get("float_ops")
            lines.append(f"| {a['file']} | {a['executed_by'] or '-'} | {a['size_kib']:.0f} | "
                         f"{a['partitions'] if a['partitions'] is not None else '-'} | "
                         f"{floats if floats is not None else '-'} | {lat} | {cells} |")
        lines.append("")
    lines += ["![routing](routes.png)", "", f"Wall time {r['wall_s']:.0f} s.", ""]
    return "\n".join(lines)
