"""The measured tables of the README and ``docs/RESULTS.md``, rendered from committed records, so a figure in either
is always one a command wrote: the shipped models' cards (seemore_edge/weights), ``docs/records`` (evaluate JSON, the
main job's report, the artifacts' cards; docs/records/README.md gives the command behind each file) and
``docs/bench/bench.json``.

Each table lives between ``<!-- table:NAME -->`` and ``<!-- /table -->``; :func:`render` rewrites what is between the
markers and leaves the prose alone. ``DOCUMENTS`` are the files that hold them."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

from seemore_edge.core import records
from seemore_edge.core.checkpoints import WEIGHTS_DIR
from seemore_edge.core.errors import UserError
from seemore_edge.core.presets import get_preset
from seemore_edge.core.records import ArtifactCard, ModelCard
from seemore_edge.core.tiling import tile_text
from seemore_edge.pipelines.tile_sweep import sweep_lines

SETS = ("Set5", "Set14", "BSD100")
DOCUMENTS = ("README.md", "docs/RESULTS.md")  # relative to the repository
MARKER = re.compile(r"(<!-- table:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)


class Records:
    """The committed records under ``repo``, read and validated on first use."""

    def __init__(self, repo: Path):
        self.repo = repo
        self.folder = repo / "docs" / "records"

    def json(self, relative: str) -> dict:
        path = self.folder / relative
        if not path.is_file():
            raise UserError(f"{path}: record missing (docs/records/README.md says which command writes it)")
        return json.loads(path.read_text())

    def card(self, name: str) -> ModelCard:
        return records.read(WEIGHTS_DIR / f"{name}.json", ModelCard)

    def artifact(self, file: str) -> ArtifactCard:
        path = self.folder / "artifacts" / f"{file}.json"
        if not path.is_file():
            raise UserError(f"{path}: artifact card missing (docs/records/README.md says which command writes it)")
        return records.read(path, ArtifactCard)

    def sets(self, relative: str) -> dict:
        """The per-set scores of an ``evaluate --json`` record."""
        return self.json(relative)["sets"]


def _ssim(value: float) -> str:
    return f"{value:.4f}".removeprefix("0")


def _ps(score: dict | records.SetScore, digits: int = 2) -> str:
    psnr, ssim = (score.psnr, score.ssim) if isinstance(score, records.SetScore) else (score["psnr"], score["ssim"])
    return f"{psnr:.{digits}f} / {_ssim(ssim)}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def bicubic(r: Records) -> str:
    paper = r.json("paper_table1.json")["methods"]["bicubic"]
    rows = []
    for scale in (2, 3, 4):
        ours = r.sets(f"bicubic_x{scale}.json")
        cells = []
        for s in SETS:
            o, p = ours[s], paper[f"x{scale}"][s]
            cells.append(f"{o['psnr']:.3f} / {p['psnr']:.2f} · {_ssim(o['ssim'])} / {_ssim(p['ssim'])}")
        rows.append([f"x{scale}"] + cells)
    return table(["scale", "Set5 (ours / paper)", "Set14 (ours / paper*)", "BSD100 (ours / paper)"], rows)


def _trained(card: ModelCard) -> str:
    steps, wall = card.training.get("trained_steps"), card.training.get("wall_time_s")
    return f"{steps:,} iterations ({wall / 3600:.1f} h, {card.training.get('hardware', '?')})" if steps and wall else ""


def reference(r: Records, scale: int) -> str:
    paper = r.json("paper_table1.json")["methods"]["SeemoRe-T"][f"x{scale}"]
    rows = [["bicubic"] + [_ps(v) for v in (r.sets(f"bicubic_x{scale}.json")[s] for s in SETS)]]
    names = [f"T-x{scale}"] + [f"T-x{scale}-{kind}" for kind in ("qat", "int")
                               if (WEIGHTS_DIR / f"T-x{scale}-{kind}.json").exists()]
    for name in names:
        card = r.card(name)
        integer = card.details.get("variant") == "integer"
        label = f"`{name}`, " + (("INT8 (PyTorch)" + (", integer form" if integer else ""))
                                 if card.kind == "qat-int8" else _trained(card))
        rows.append([label] + [_ps(card.metrics.sets[s]) for s in SETS])
    rows.append(["SeemoRe-T, paper"] + [_ps(paper[s]) for s in SETS])
    return table(["model", *SETS], rows)


# The records of the edge tables beyond the main job and the artifacts' cards: (record, label, scored against the
# reference?). Only T-x4-qat has the Core ML float32 checks and the float-weights scores.
EDGE_EXTRAS = {4: (("mlpackage_int8_float32.json", "`T-x4-qat-int8.mlpackage`, MIL interpreter in float32", True),
                   ("mlpackage_fp16_float32.json", "`T-x4-qat-fp16.mlpackage`, MIL interpreter in float32", True),
                   ("float_T-x4-qat.json", "QAT float weights, PyTorch, whole images", False),
                   ("float_T-x4-qat_tile128.json", "QAT float weights, PyTorch, tiled 128/16", False),
                   ("float_T-x4-qat_tile180x320.json", "QAT float weights, PyTorch, tiled 180x320/16", False))}


# An edge table: the main job's rows, then the shipped QAT model, every artifact card of that model, then the extras.
# ``kind``: "qat" (the faithful deploy form) or "int" (the integer form); a set the main job did not score shows "-".
def edge(r: Records, scale: int, kind: str = "qat") -> str:
    name, parent = f"T-x{scale}-{kind}", f"T-x{scale}"
    job = r.json(f"main_job_{name}.json")
    qat = r.card(name)
    ref = r.card(parent).metrics.sets
    labels = {"reference": "reference FP32, dynamic routing",
              "edge": f"edge FP32, fixed experts (ranks {_ranks(job)}), before fine-tuning",
              "control": f"edge FP32, fine-tuned {job['iters']} it (control)",
              "int8": f"edge INT8 QAT {job['iters']} it, PyTorch (main job)"}
    if kind == "int":
        labels |= {"edge": labels["edge"].replace("fine-tuning", "the integer form"),
                   "control": f"integer form FP32 (no LayerNorm, ReLU6), distilled {job['float_iters']} it (control)",
                   "int8": f"integer form INT8 QAT {job['iters']} it, PyTorch (main job)"}
    rows = [[label] + [f"{job['rows'][key][s]['psnr']:.3f}" if s in job["rows"][key] else "-" for s in SETS] + [""]
            for key, label in labels.items()]
    rows.append([f"`{name}` INT8, PyTorch (`evaluate --weights {name}`)"] +
                [f"{qat.metrics.sets[s].psnr:.3f}" for s in SETS] + [_drops(ref, qat.metrics.sets)])
    folder = r.folder / "artifacts"  # a subfolder holds the cards of another square tile (same file names)
    for file in sorted(p.relative_to(folder).as_posix()[:-5] for p in folder.rglob("*.json")):
        card = r.artifact(file)
        if card.scale != scale or not card.file.startswith(f"{name}-"):
            continue
        if card.psnr is None:
            rows.append([f"`{card.file}`: not executed here ({card.not_measured.split(';')[0]})"] + ["-"] * 3 + [""])
            continue
        rows.append([f"`{card.file}` in {card.executed_by}, tile {tile_text(card.tile)}/{card.overlap}"] +
                    [f"{card.psnr[s].psnr:.3f}" if s in card.psnr else "-" for s in SETS] + [_drops(ref, card.psnr)])
    for relative, label, against_reference in (EDGE_EXTRAS.get(scale, ()) if kind == "qat" else ()):
        sets = r.sets(relative)
        rows.append([label] + [f"{sets[s]['psnr']:.3f}" for s in SETS] + [_drops(ref, sets) if against_reference else ""])
    return table(["model", *SETS, f"drop vs `{parent}`"], rows)


def _ranks(job: dict) -> str:
    """The main job's experts by rank, as its routing plot names them."""
    ranks = get_preset(job["preset"]).expert_ranks
    return ", ".join(str(ranks[e]) for e in job["experts"]["experts"])


def _drops(ref: dict, scores: dict) -> str:
    return " / ".join(f"{ref[s].psnr - (scores[s].psnr if hasattr(scores[s], 'psnr') else scores[s]['psnr']):.3f}"
                      if s in scores else "-" for s in SETS)


def main_job_samples(r: Records) -> str:
    """The no-argument main job: its wall time, the INT8 drop in PyTorch and in each runtime, one tile's latency."""
    job = r.json("main_job_samples.json")
    (only,) = job["drops"]
    eager = job["artifacts"][0]["eager_latency_tile_ms"] if job["artifacts"] else {}
    rows = [["INT8 QAT, PyTorch", "-", "-", "-", f"{job['drops'][only]['int8_vs_reference']:.3f}"]]
    for a in job["artifacts"]:
        rows.append([f"`{a['file']}`", a["executed_by"] or "not executed here", f"{a['size_kib']:.0f}",
                     f"{a['latency_tile_ms']:.1f}" if a["latency_tile_ms"] else "-",
                     f"{a['drop_vs_reference'][only]:.3f}" if a.get("drop_vs_reference") else "-"])
    return (f"{job['iters']} iterations on {job['train_dir']}, scored on `{only}`; wall time {job['wall_s']:.0f} s; "
            f"one {job['artifacts'][0]['tile'] if job['artifacts'] else '-'} tile in eager PyTorch: " +
            ", ".join(f"{k} {v:.0f} ms" for k, v in eager.items()) + ".\n\n" +
            table(["model", "executed by", "size (KiB)", "one tile (ms)", "PSNR drop vs reference (dB)"], rows))


def bench(r: Records) -> str:
    payload = json.loads((r.repo / "docs" / "bench" / "bench.json").read_text())
    recs = payload["records"]
    threads = max(rec["threads"] for rec in recs)
    by = {}
    for rec in recs:
        if rec["threads"] == threads:
            by.setdefault(rec["contender"], {})[rec["input"]] = rec
    rows = []
    for name, inputs in by.items():
        frame, tile = inputs["frame720p"], inputs.get("tile128")
        rows.append([f"`{name}`" if frame["role"] == "artifact" else name,
                     tile_text(frame["tile"]) if frame["tile"] else "whole",
                     f"{tile['median_ms']:.1f}" if tile else "-", f"{frame['median_ms']:.1f}",
                     f"{frame['speedup_vs_eager_full']:.2f}", str(frame.get("pct_of_limit", "-")),
                     f"{frame['peak_rss_mib']:.0f}", f"{frame['size_kib']:.0f}"])
    cpu = payload["cpu"]
    dot = ", ".join(cpu["int8_dot_product"]) or "none"
    return (f"{cpu['cpu']}, {threads} threads, INT8 dot-product instructions: {dot}; median of "
            f"{recs[0]['runs']} interleaved runs.\n\n" +
            table(["contender", "tile", "128 tile (ms)", "720p frame (ms)", "x eager FP32 full (frame)",
                   "% of runtime's limit (frame)", "peak RSS (MiB)", "size (KiB)"], rows))


# Both deploy models in one bench run, on a host with INT8 dot product (the one issue 30's target is judged on) and
# on one without: table name -> record.
DEPLOY_BENCHES = {"bench-deploy": Path("docs") / "bench" / "deploy-models-vnni" / "bench.json",
                  "bench-deploy-no-dot": Path("docs") / "bench" / "deploy-models" / "bench.json"}


def deploy_bench(r: Records, path: Path) -> str:
    """The two deploy models side by side, as the report of their bench run gives them (bench_report.deploy_table)."""
    from seemore_edge.pipelines.bench_report import deploy_table  # matplotlib and the profiler's names: on use only

    payload = json.loads((r.repo / path).read_text())
    return (f"{_host(payload['cpu'])}; median of {payload['records'][0]['runs']} interleaved runs; "
            f"`{path.as_posix()}`.\n\n" + "\n".join(deploy_table(payload)).rstrip() + "\n")


# Every deploy variant tried for issue 30, one row each: (scale, main job's record, what it is, the shipped model the
# run became or None). The integer runs at x4 share one graph (ops and shapes), so the bench's timing of T-x4-int's
# file is theirs too; the row says so.
VARIANTS = ((4, "main_job_T-x4-qat.json", "faithful: LayerNorms, GELU, float residual stream", "T-x4-qat"),
            (4, "main_job_T-x4-int-short.json", "integer form, shorter run", None),
            (4, "main_job_T-x4-int.json", "integer form", "T-x4-int"),
            (2, "main_job_T-x2-qat.json", "faithful, ends float", "T-x2-qat"),
            (2, "main_job_T-x2-int.json", "integer form", "T-x2-int"))


def variants(r: Records) -> str:
    """The PSNR-vs-latency curve of the deploy variants: training, float ops of the INT8 files, the INT8 drop against
    the reference (PyTorch; the shipped model's card where the run became one), and the 720p frame's median in each
    deploy-model bench (INT8 over the faithful model's FP32 file of the runtime), the host with INT8 dot product
    first."""
    benches = [_frame_records(json.loads((r.repo / path).read_text())) for path in DEPLOY_BENCHES.values()]
    frame = benches[0]["frame"]
    rows = []
    for scale, record, what, shipped in VARIANTS:
        job, ref = r.json(record), r.card(f"T-x{scale}").metrics.sets
        integer = job.get("variant") == "integer"
        trained = f"{job['float_iters']} FP32 + {job['iters']} QAT" if integer else f"{job['iters']} QAT"
        scores = r.card(shipped).metrics.sets if shipped else job["rows"]["int8"]
        timed = shipped or ("T-x4-int" if scale == 4 and integer else None)  # a shorter run of T-x4-int's graph
        ops, ms = [], []
        for fmt in ("pte", "tflite"):
            ops.append(_float_ops(r, job, shipped, fmt, frame))
            cells = []
            for bench in benches:
                rec = bench["files"].get(f"{timed}-int8-{bench['frame']}.{fmt}")
                base = bench["files"].get(f"T-x{scale}-qat-fp32-{bench['frame']}.{fmt}")
                cells.append(f"{rec['median_ms']:.0f} ({base['median_ms'] / rec['median_ms']:.2f}x)" if rec and base
                             else "-")
            ms.append("-" if set(cells) == {"-"} else
                      " / ".join(cells) + (" (`T-x4-int`'s graph)" if not shipped and timed else ""))
        rows.append([f"x{scale}", f"`{shipped}`" if shipped else "-", what, trained, " / ".join(ops),
                     _drops(ref, scores), *ms])
    hosts = "; ".join(f"`{path.as_posix()}` ({_host(b['cpu'])}, {b['threads']} threads)"
                      for path, b in zip(DEPLOY_BENCHES.values(), benches))
    return (f"Drop: the reference minus INT8 in PyTorch (the shipped card; a run not shipped: its own Set5 / Set14). "
            f"Frame: INT8 file of the {frame} tile, median ms and its ratio to the faithful model's FP32 file of that "
            f"runtime, in each deploy-model bench, first / second: {hosts}; x2 was not benched."
            f"\n\n" + table(["scale", "model", "variant", "iterations", "float ops, INT8 .pte / .tflite",
                               "drop Set5 / Set14 / BSD100", "frame .pte ms", "frame .tflite ms"], rows))


def _frame_records(payload: dict) -> dict:
    """A deploy-model bench's 720p-frame records of its frame-tile files at its highest thread count, by file."""
    threads = max(rec["threads"] for rec in payload["records"])
    return {"cpu": payload["cpu"], "threads": threads, "frame": tile_text(payload["frame_lr"]),
            "files": {rec["contender"]: rec for rec in payload["records"] if rec["input"] == "frame720p"
                      and rec["threads"] == threads and rec.get("tile") == list(payload["frame_lr"])}}


def _float_ops(r: Records, job: dict, shipped: str | None, fmt: str, frame: str) -> str:
    """The audit of the run's own INT8 frame file, else of the shipped model's committed INT8 card (frame tile, then
    the photo tiles); the op count does not depend on the tile."""
    for a in job["artifacts"]:
        if a["file"].endswith(f"-int8-{frame}.{fmt}") and a.get("float_ops") is not None:
            return str(a["float_ops"])
    for file in ((f"{shipped}-int8-{frame}.{fmt}", f"{shipped}-int8.{fmt}", f"tile256/{shipped}-int8.{fmt}")
                 if shipped else ()):
        if (r.folder / "artifacts" / f"{file}.json").is_file() and (audit := r.artifact(file).float_ops):
            return str(audit.total)
    return "-"


def _host(cpu: dict) -> str:
    return f"{cpu['cpu']}, INT8 dot-product instructions: {', '.join(cpu['int8_dot_product']) or 'none'}"


# The tile sweeps, both on INT8 dot-product hosts: each format's photo tile (export.PHOTO_TILES) is what each chose (tests/test_bench.py).
SWEEPS = ("tile_sweep.json", "tile_sweep_repeat.json")


def tile_sweeps(r: Records) -> str:
    parts = []
    for name in SWEEPS:
        payload = json.loads((r.repo / "docs" / "bench" / name).read_text())
        cpu = payload["cpu"]
        parts.append(f"`docs/bench/{name}`: {cpu['cpu']}, INT8 dot-product instructions: "
                     f"{', '.join(cpu['int8_dot_product']) or 'none'}. " + "\n".join(sweep_lines(payload["tile_sweep"])))
    return "\n".join(parts)


def _webgpu(card: str) -> tuple[str, str]:
    """A file scored on WebGPU by two commands, Set5/Set14 then BSD100 apart (half an hour alone on 2 cores), so the
    record is the two joined; its names follow the card's (``tile256/X.tflite`` -> ``browser_webgpu_X-tile256``)."""
    folder, _, name = card.removesuffix(".tflite").rpartition("/")
    stem = f"browser_webgpu_{name}" + (f"-{folder}" if folder else "")
    return f"{stem}.json+{stem}-BSD100.json", card


# The files scored through the demo page: (record, card under docs/records/artifacts); a record may be several files
# (joined by "+": the same file scored on more sets by a second command). WebGPU records ran on Chromium's software
# adapter; a set not yet scored there shows as "-".
BROWSER_FILES = (("browser_T-x4-qat-int8.json", "T-x4-qat-int8.tflite"),
                 ("browser_T-x4-qat-int8-tile256.json", "tile256/T-x4-qat-int8.tflite"),
                 ("browser_T-x4-qat-int8-180x320.json", "T-x4-qat-int8-180x320.tflite"),
                 *(_webgpu(f"{tile}T-x4-{model}-{precision}{frame}.tflite")
                   for model in ("qat", "int") for precision in ("int8", "fp32")
                   for tile, frame in (("tile256/", ""), ("", "-180x320"))))


def joined_record(r: Records, names: list[str]) -> dict:
    """One page record from the records of one file scored on different sets: the sets together, the agreement
    counted over all of them."""
    parts = [r.json(name) for name in names]
    first = parts[0]
    for name, part in zip(names[1:], parts[1:]):
        if (part["sha256"], part["accelerator"]) != (first["sha256"], first["accelerator"]):
            raise UserError(f"docs/records/{name}: another file or runtime than docs/records/{names[0]}")
        if set(part["sets"]) & set(first["sets"]):
            raise UserError(f"docs/records/{name}: scores a set docs/records/{names[0]} scores too")
    agreement = {"images": sum(p["agreement"]["images"] for p in parts),
                 "differing_values": sum(p["agreement"]["differing_values"] for p in parts),
                 "values": sum(p["agreement"]["values"] for p in parts),
                 "max_level_difference": max(p["agreement"]["max_level_difference"] for p in parts)}
    return first | {"sets": {k: v for p in parts for k, v in p["sets"].items()}, "agreement": agreement}


def browser(r: Records) -> str:
    """The demo page against Python's LiteRT on the same files: PSNR through the page's hook, how many output values
    differ, and the page's WASM latency from the bench run (whose files are the 128-tile and frame-tile ones). WebGPU
    rows give no latency: Chromium's software adapter runs them on the CPU, which says nothing of a phone's GPU."""
    from seemore_edge.pipelines.browser_page import software_adapter

    bench_payload = json.loads((r.repo / "docs" / "bench" / "bench.json").read_text())
    timed = [t for t in bench_payload.get("browser", {}).get("records", []) if t.get("accelerator", "wasm") == "wasm"]
    threads = max((t["threads"] for t in timed), default=None)
    rows = []
    for record, file in BROWSER_FILES:
        rec = joined_record(r, record.split("+"))
        card = r.artifact(file)
        if rec["sha256"] != card.sha256:
            raise UserError(f"docs/records/{record}: scored another file than the card docs/records/artifacts/{file}")
        on_gpu = rec["accelerator"].startswith("webgpu")
        a = rec["agreement"]
        ms = {} if on_gpu else {t["input"]: t["median_ms"] for t in timed
                                if t["file"] == card.file and t["tile"] == card.tile and t["threads"] == threads}
        rows.append([f"`{card.file}`, tile {tile_text(card.tile)}",
                     ("WebGPU (software adapter)" if software_adapter(rec.get("adapter")) else "WebGPU") if on_gpu
                     else f"WASM, {rec['page_threads']} thread(s)"] +
                    [f"{rec['sets'][s]['psnr']:.4f} / {card.psnr[s].psnr:.4f}" if s in rec["sets"] else "-"
                     for s in SETS] +
                    [f"{100 * a['differing_values'] / a['values']:.3f}% (max {a['max_level_difference']}, "
                     f"{a['images']} images)",
                     f"{ms['tile128']:.0f}" if "tile128" in ms else "-",
                     f"{ms['frame720p']:.0f}" if "frame720p" in ms else "-"])
    cpu = bench_payload["cpu"]
    return (f"PSNR dB x4, the page (headless Chromium, LiteRT.js) / Python LiteRT, whole images tiled as the cards say; "
            f"WebGPU ran on Chromium's software adapter (SwiftShader: the page's WebGPU shaders executed by the CPU); "
            f"latency (WASM only): the bench run of the speed table ({cpu['cpu']}, {threads} WASM threads).\n\n" +
            table(["file", "page runtime"] + [f"{s} page / native" for s in SETS] +
                  ["output values differing", "128 tile (ms)", "720p frame (ms)"], rows))


# The README's one results table: each shipped model as a user deploys it. (artifact card, what it is for); the
# reference rows come from the shipped cards, latency and sizes from the bench run of docs/bench/bench.json.
HEADLINE = {4: (("T-x4-qat-int8-180x320.pte", "video frames, Android (ExecuTorch)"),
                ("T-x4-qat-int8-180x320.tflite", "video frames, Android (LiteRT), browser"),
                ("tile256/T-x4-qat-int8.tflite", "photos, Android (LiteRT), browser"),
                ("T-x4-qat-int8.pte", "photos, Android (ExecuTorch)"),
                ("T-x4-qat-int8.mlpackage", "photos, iOS (Core ML)")),
            2: (("tile256/T-x2-qat-int8.tflite", "photos, Android (LiteRT), browser"),
                ("T-x2-qat-int8.pte", "photos, Android (ExecuTorch)"))}


def headline(r: Records) -> str:
    """PSNR on the three sets, the drop against the FP32 reference, size, and a 720p frame's latency in the file's
    runtime (and in the demo page where the bench ran it there), with the bench's host."""
    payload = json.loads((r.repo / "docs" / "bench" / "bench.json").read_text())
    threads = max(rec["threads"] for rec in payload["records"])
    # Keyed by file and tile: the bench's T-x4-qat-int8.tflite is the 128-tile file, the headline's the 256 one.
    frames = {(rec["contender"], tuple(rec["tile"] or ())): rec for rec in payload["records"]
              if rec["input"] == "frame720p" and rec["threads"] == threads}
    pages = {(rec["file"], tuple(rec["tile"])): rec for rec in payload.get("browser", {}).get("records", [])
             if rec["input"] == "frame720p" and rec["threads"] == threads and rec.get("accelerator", "wasm") == "wasm"}

    def ms(rec):
        return f"{rec['median_ms']:.0f} ({rec['speedup_vs_eager_full']:.2f}x)" if rec else "-"
    rows = []
    for scale, files in HEADLINE.items():
        ref = r.card(f"T-x{scale}")
        eager = frames.get((f"eager FP32 full (T-x{scale})", ()))
        rows.append([f"`T-x{scale}` FP32 reference", "scoring: what every drop is measured against (PyTorch)",
                     *[f"{ref.metrics.sets[s].psnr:.2f}" for s in SETS], "-",
                     f"{eager['size_kib']:.0f}" if eager else "-", ms(eager), "-"])
        for file, use in files:
            card = r.artifact(file)
            runtime = "; scored by our MIL interpreter (no Core ML off macOS)" if card.executed_by == "mil-interpreter" \
                else ""
            rows.append([f"`{card.file}`, tile {tile_text(card.tile)}", use + runtime,
                         *[f"{card.psnr[s].psnr:.2f}" for s in SETS], _drops(ref.metrics.sets, card.psnr),
                         f"{card.size_bytes / 1024:.0f}",
                         ms(frames.get((card.file, tuple(card.tile)))), ms(pages.get((card.file, tuple(card.tile))))])
    cpu = payload["cpu"]
    dot = ", ".join(cpu["int8_dot_product"]) or "none"
    return (f"PSNR dB on Y, x4 then x2; drop = the FP32 reference minus the file as its runtime ran it, whole images "
            f"tiled as its card says. 720p frame: median ms (x eager PyTorch FP32 of the reference) on {cpu['cpu']}, "
            f"{threads} threads, INT8 dot-product instructions: {dot}; '-' where that file was not timed.\n\n" +
            table(["file", "for", *SETS, "drop (dB)", "size (KiB)", "720p frame, native (ms)",
                   "720p frame, demo page (ms)"], rows))


TABLES: dict[str, Callable[[Records], str]] = {
    "headline": headline,
    "bicubic": bicubic, "reference-x4": lambda r: reference(r, 4), "reference-x2": lambda r: reference(r, 2),
    "edge": lambda r: edge(r, 4), "edge-x2": lambda r: edge(r, 2), "edge-int": lambda r: edge(r, 4, "int"),
    "edge-int-x2": lambda r: edge(r, 2, "int"), "variants": variants,
    "main-job-samples": main_job_samples, "bench": bench,
    **{name: (lambda r, path=path: deploy_bench(r, path)) for name, path in DEPLOY_BENCHES.items()},
    "tile-sweep": tile_sweeps, "browser": browser}


def render(readme: str, repo: Path) -> str:
    """A document (``readme``) with every marked table rendered afresh from the records; an unknown table name is an error."""
    r = Records(repo)

    def fill(m: re.Match) -> str:
        name = m.group("name")
        if name not in TABLES:
            raise UserError(f"a document names table {name!r}; known: {', '.join(TABLES)}")
        return m.group(1) + TABLES[name](r) + m.group(4)
    return MARKER.sub(fill, readme)


def marked(readme: str) -> list[str]:
    return [m.group("name") for m in MARKER.finditer(readme)]
